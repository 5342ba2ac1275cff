"""The ``jepa`` command line: listings, config show, and one-sentence errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jepa_core import run as run_module
from jepa_core.cli import EXIT_USAGE, main
from jepa_core.registry import AUTOLOAD_ENV, PLUGINS_ENV


@pytest.fixture(autouse=True)
def _autoload_on(monkeypatch):
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(PLUGINS_ENV, raising=False)


def _error(capsys, argv: list[str]) -> str:
    """Run ``argv`` expecting a user error; return the one-line message."""
    code = main(argv)
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------- listings
def test_plugins_lists_image_with_its_distribution(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "image  [jepaforge 0.1.0]  module jepa_image.plugin" in out
    assert "core  [jepaforge 0.1.0]  module jepa_core.builtins" in out
    image_block = out.split("image  [")[1]
    for name in ("vit", "vit_predictor", "multiblock", "image_folder", "synthetic_shapes", "vith14", "demo"):
        assert name in image_block, name
    assert "    losses      cosine, l1, l2, smooth_l1" in out  # not "losss"
    for plugin in ("video", "audio"):
        assert f"{plugin}  [jepaforge 0.1.0]  module jepa_{plugin}.plugin" in out


def test_plugins_lists_folder_datasets_and_exporters(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    image = out.split("image  [")[1].split("\nvideo  [")[0]
    video = out.split("video  [")[1]
    assert "    eval folder image_folder (jepa eval --train/--val)" in image
    assert "    exporters   timm (jepa export)" in image
    assert "    eval folder video_frames (jepa eval --train/--val)" in video
    assert "exporters" not in video  # the video plugin registers no export format


def test_plugins_with_no_autoload(capsys):
    assert main(["--no-autoload", "-p", "tests.toy_seq_plugin", "plugins"]) == 0
    out = capsys.readouterr().out
    assert "image" not in out
    assert "toyseq  [(not from a distribution)]  module tests.toy_seq_plugin" in out


def test_plugins_reports_broken_plugin_with_warn(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken_cli_plugin.py").write_text("raise ImportError('missing dependency xyz')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning, match="broken_cli_plugin"):
        assert main(["--on-plugin-error", "warn", "-p", "broken_cli_plugin", "plugins"]) == 0
    out = capsys.readouterr().out
    assert "broken_cli_plugin  FAILED TO LOAD" in out and "missing dependency xyz" in out
    assert "image  [jepaforge" in out
    assert "broken_cli_plugin" in _error(capsys, ["-p", "broken_cli_plugin", "plugins"])


def test_presets_of_image(capsys):
    assert main(["presets", "--plugin", "image"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = {line.split()[0] for line in lines}
    assert {"image/vith14", "image/demo", "image/vith16_448", "image/vitg16_in22k"} <= names


def test_config_show_vith14(capsys):
    assert (
        main(
            ["config", "show", "--plugin", "image", "--preset", "vith14", "--set", "optim.lr=5e-4", "--format", "json"]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["encoder"]["name"] == "vit" and data["encoder"]["size"] == "huge"
    assert data["encoder"]["patch_size"] == 14 and data["train"]["batch_size"] == 2048
    assert data["optim"]["lr"] == 5e-4 and data["optim"]["start_lr"] == 2e-4


def test_config_show_data_and_out_flags(capsys, tmp_path):
    assert (
        main(
            [
                "config",
                "show",
                "--format",
                "json",
                "--plugin",
                "image",
                "--preset",
                "vith14",
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["data"]["root"] == str(tmp_path) and data["train"]["out_dir"] == str(tmp_path / "run")


# --------------------------------------------------------------------------- errors
def test_unknown_preset(capsys):
    err = _error(capsys, ["config", "show", "--plugin", "image", "--preset", "vitz99"])
    assert "'vitz99'" in err and "vith14" in err and "demo" in err


def test_unknown_plugin(capsys):
    err = _error(capsys, ["train", "--plugin", "sonar", "--preset", "demo"])
    assert "'sonar'" in err and "image" in err


def test_unknown_plugin_module(capsys):
    err = _error(capsys, ["-p", "not_a_jepa_module_xyz", "plugins"])
    assert "not_a_jepa_module_xyz" in err and "failed to import" in err


def test_bad_set_key(capsys):
    err = _error(capsys, ["config", "show", "--plugin", "image", "--preset", "demo", "--set", "optim.lrr=1"])
    assert "'optim.lrr'" in err and "optim.lr" in err


def test_bad_set_type(capsys):
    err = _error(capsys, ["config", "show", "--plugin", "image", "--preset", "demo", "--set", "train.epochs=many"])
    assert "'train.epochs'" in err and "'many'" in err


def test_bad_set_value_range(capsys):
    err = _error(capsys, ["train", "--plugin", "image", "--preset", "demo", "--set", "optim.lr=-1"])
    assert "'optim.lr'" in err and "-1" in err


def test_missing_plugin_or_preset(capsys):
    err = _error(capsys, ["config", "show", "--plugin", "image"])
    assert "--plugin and --preset are required" in err and "image" in err
    assert "--plugin and --preset" in _error(capsys, ["train"])


def test_config_file_that_does_not_exist(capsys, tmp_path):
    missing = tmp_path / "nope" / "config.json"
    err = _error(capsys, ["train", "--config", str(missing)])
    assert str(missing) in err and "does not exist" in err


def test_missing_data_path_fails_before_any_model_is_built(capsys, tmp_path, monkeypatch):
    def no_models(*args, **kwargs):
        raise AssertionError("build_parts ran before the data path was checked")

    monkeypatch.setattr(run_module, "build_parts", no_models)
    err = _error(capsys, ["train", "--plugin", "image", "--preset", "vith14", "--out", str(tmp_path / "run")])
    assert "data path" in err and "--data" in err
    missing = tmp_path / "no_images"
    err = _error(
        capsys,
        ["train", "--plugin", "image", "--preset", "vith14", "--data", str(missing), "--out", str(tmp_path / "run")],
    )
    assert str(missing) in err and "does not exist" in err


def test_argparse_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--on-plugin-error", "ignore", "plugins"])
    assert info.value.code == 2 and "invalid choice: 'ignore'" in capsys.readouterr().err


def test_console_entry_point_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "jepa_core", "train", "--plugin", "image", "--preset", "nope"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k not in (AUTOLOAD_ENV, PLUGINS_ENV)},
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: unknown preset 'nope'"), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_data_path_survives_a_dataset_switch_and_later_sets_win(capsys, tmp_path):
    import json

    args = [
        "config",
        "show",
        "--format",
        "json",
        "--plugin",
        "image",
        "--preset",
        "demo",
        "--data",
        str(tmp_path),
        "--set",
        "data.name=image_folder",
        "--set",
        "data.resolution=48",
    ]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)["data"]
    assert (data["name"], data["root"], data["resolution"]) == ("image_folder", str(tmp_path), 48)
    assert main(args + ["--set", f"data.root={tmp_path / 'other'}"]) == 0  # an explicit --set still wins
    assert json.loads(capsys.readouterr().out)["data"]["root"] == str(tmp_path / "other")


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["train", "--plugin", "image", "--preset", "demo", "--out", ""], "--out"),
        (["train", "--plugin", "image", "--preset", "small", "--data", " "], "--data"),
        (["train", "--plugin", "image", "--preset", "demo", "--init-from", ""], "--init-from"),
        (["train", "--config", ""], "--config"),
        (["eval", "linear-probe", "--checkpoint", ""], "--checkpoint"),
        (["eval", "knn", "--checkpoint", "run", "--json", ""], "--json"),
        (["eval", "knn", "--checkpoint", "run", "--train", "", "--val", "val"], "--train"),
        (["eval", "representation", "--checkpoint", "run", "--data", ""], "--data"),
        (["export", "timm", "--checkpoint", "run", "--out", ""], "--out"),
        (["config", "diff", "", "image/small"], "first"),
    ],
)
def test_an_empty_path_flag_is_a_usage_error_and_writes_nothing(argv, flag, capsys, tmp_path, monkeypatch):
    """``--json "$OUT"`` with OUT unset must not skip the output, nor write a run into the current folder."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_USAGE
    assert f"argument {flag}: must be a path, got an empty string" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("preset", "setting"),
    [("demo", "train.out_dir="), ("demo", "train.init_from= "), ("small", "data.root="), ("small", "data.val_root=")],
)
def test_an_empty_path_setting_is_one_sentence_and_writes_nothing(preset, setting, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = _error(capsys, ["train", "--plugin", "image", "--preset", preset, "--set", setting])
    key = setting.split("=")[0]
    assert err == f"error: invalid value for '{key}': {key.split('.')[1]} must be a path, got an empty string.", err
    assert not list(tmp_path.iterdir())
