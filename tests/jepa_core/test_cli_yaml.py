"""The command line speaks YAML: config show/import, train from YAML and official I-JEPA files,
config.yaml in the run directory (config.json of older runs still read), logger selection, and
jepa doctor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import attrs
import pytest

from jepa_core.cli import main
from jepa_core.config import from_dict, load_config, to_dict
from jepa_core.config_files import plain
from jepa_core.loggers.csv_logger import read_metrics
from jepa_core.registry import build_registry
from jepa_core.yaml_io import load_yaml

TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin"]
TINY = [
    "--set",
    "data.num_samples=64",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.max_steps=4",
    "--set",
    "train.log_every=2",
    "--set",
    "train.eval_every=0",
]
IJEPA = Path(__file__).parents[1] / "plugins" / "jepa_image" / "ijepa_configs" / "in1k_vith14_ep300.yaml"


def _error(capsys, rc: int) -> str:
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_config_show_prints_yaml_or_json(capsys, fmt):
    reg = build_registry()
    assert main(["config", "show", "--plugin", "image", "--preset", "vith14", "--format", fmt]) == 0
    out = capsys.readouterr().out
    data = load_yaml(out) if fmt == "yaml" else json.loads(out)
    assert data == plain(to_dict(reg.preset("image", "vith14").build()))
    assert out.startswith("plugin: image\n") == (fmt == "yaml")


def test_config_show_defaults_to_yaml_and_refuses_other_formats(capsys):
    assert main(["config", "show", "--plugin", "image", "--preset", "demo"]) == 0
    assert capsys.readouterr().out.startswith("plugin: image\npreset: demo\n")
    with pytest.raises(SystemExit) as exc:
        main(["config", "show", "--plugin", "image", "--preset", "demo", "--format", "toml"])
    assert exc.value.code == 2 and "invalid choice: 'toml'" in capsys.readouterr().err


def test_a_settings_file_applies_on_the_preset_under_set(capsys, tmp_path):
    """``--config FILE`` with ``--plugin/--preset``: the preset, then the file's settings (a
    component of the same name keeps the preset's options, another name switches it), then --set."""
    settings = tmp_path / "changes.yaml"
    settings.write_text(
        "optim:\n  lr: 5.0e-4\n  warmup_epochs: 3\nencoder:\n  name: vit\n  depth: 2\n"
        "regularizer:\n  name: vicreg\n  weight: 0.5\n"
    )
    argv = ["config", "show", "--plugin", "image", "--preset", "demo", "--config", str(settings)]
    assert main([*argv, "--set", "optim.warmup_epochs=2", "--format", "json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = plain(to_dict(build_registry().preset("image", "demo").build()))
    assert want["encoder"]["depth"] != 2 and want["optim"]["lr"] != 5e-4
    want["optim"].update(lr=5e-4, warmup_epochs=2)
    want["encoder"]["depth"] = 2
    assert want["regularizer"]["name"] == "vicreg"  # the same name: the preset's other options stay
    want["regularizer"]["weight"] = 0.5
    assert got == want

    settings.write_text("regularizer:\n  name: sigreg\n")  # another component: its own defaults
    assert main([*argv, "--format", "json"]) == 0
    reg = json.loads(capsys.readouterr().out)["regularizer"]
    assert reg["name"] == "sigreg" and reg["num_slices"] == 1024


@pytest.mark.parametrize(
    "text, message",
    [
        ("preset: small\n", "names preset 'small', but --preset gives 'demo'; drop one of them."),
        ("optimz:\n  lr: 1\n", "unknown config section 'optimz' in config file"),
        ("optim: 3\n", "section 'optim' must be a mapping of settings, got int."),
        ("", "must hold a mapping of config sections, got an empty file."),
        ("optim:\n  lr: -1\n", "invalid value for 'optim.lr': lr must be > 0, got -1."),
        ("optim:\n  lr: fast\n", "'optim.lr' must be a finite number, got 'fast'."),
        ("optim:\n  name: x\n", "unknown config key 'optim.name' in config file"),
    ],
)
def test_a_bad_settings_file_is_one_sentence_before_any_work(capsys, tmp_path, text, message):
    settings = tmp_path / "changes.yaml"
    settings.write_text(text)
    out = tmp_path / "run"
    argv = ["train", "--plugin", "image", "--preset", "demo", "--config", str(settings), "--out", str(out)]
    assert message in _error(capsys, main(argv))
    assert not out.exists()


@pytest.mark.parametrize(
    "edits, message",
    [
        ({"num_slices: 1024": "num_slices: -5"}, "invalid value for 'objective.num_slices': num_slices must be > 0"),
        (
            {"global_views: 2": "global_views: 1", "local_views: 4": "local_views: 0"},
            "invalid value in 'masker': a multi-view objective needs at least 2 views",
        ),
    ],
)
def test_a_bad_value_in_a_whole_config_file_names_its_key(capsys, tmp_path, edits, message):
    """A value that fails alone is named by its key; a combination that fails names its section."""
    assert main(["config", "show", "--plugin", "image", "--preset", "lejepa_small_views"]) == 0
    text = capsys.readouterr().out
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "run.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    assert message in _error(capsys, main(["train", "--config", str(path), "--out", str(out)]))
    assert not out.exists()


def test_a_settings_file_alone_says_how_to_use_it(capsys, tmp_path):
    settings = tmp_path / "changes.yaml"
    settings.write_text("optim:\n  lr: 5.0e-4\n")
    err = _error(capsys, main(["train", "--config", str(settings), "--out", str(tmp_path / "run")]))
    assert "names no plugin or preset" in err and "with --plugin/--preset" in err


def test_config_diff_names_each_differing_key_of_runs_files_and_presets(capsys, tmp_path):
    show = ["config", "show", "--plugin", "image", "--preset", "demo"]
    assert main([*show, "--set", "optim.lr=5e-4", "--set", "train.seed=3"]) == 0
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(capsys.readouterr().out)
    assert main(["config", "diff", "image/demo", str(run)]) == 0
    assert capsys.readouterr().out == "optim.lr: 0.001 -> 0.0005\ntrain.seed: 0 -> 3\n"
    assert main(["config", "diff", str(run / "config.yaml"), "image/demo"]) == 0
    assert capsys.readouterr().out == "optim.lr: 0.0005 -> 0.001\ntrain.seed: 3 -> 0\n"
    assert main(["config", "diff", "image/demo", "image/demo"]) == 0
    assert capsys.readouterr().out == "no differences\n"
    assert main(["config", "diff", "image/demo", "image/lejepa_demo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 'objective.name: "predictive" -> "lejepa"' in lines and "objective.sigreg_weight: (absent) -> 0.02" in lines
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nope", "'nope' is neither a run directory, a config file nor a preset; give one of them"),
        ("/no/such/run", "'/no/such/run' is neither a run directory, a config file nor a preset; give one of them"),
        ("runs/gone", "'runs/gone' is neither a run directory, a config file nor a preset; give one of them"),
        ("image/nope", "unknown preset 'nope' for plugin 'image'; valid presets:"),
        (".", "run directory '.' holds no config.yaml; give a run directory of jepa train."),
    ],
)
def test_config_diff_of_something_that_is_no_config_is_one_sentence(capsys, tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    assert message in _error(capsys, main(["config", "diff", "image/demo", spec]))


def test_import_ijepa_prints_the_equivalent_config_and_one_warning(capsys):
    reg = build_registry()
    with pytest.warns(UserWarning) as caught:
        assert main(["config", "import-ijepa", str(IJEPA)]) == 0
    assert len(caught) == 1 and str(caught[0].message).startswith(f"ijepa config '{IJEPA}' mapped with notes")
    cfg = from_dict(load_yaml(capsys.readouterr().out), reg)
    assert cfg.preset == "vith14" and cfg.data.options.root == "/datasets01/imagenet_full_size/061417/train"
    with pytest.warns(UserWarning):
        assert main(["config", "import", str(IJEPA), "--format", "json"]) == 0  # detected without naming the form
    assert from_dict(json.loads(capsys.readouterr().out), reg) == cfg


def test_import_ijepa_refuses_other_files_in_one_sentence(capsys, tmp_path):
    own = tmp_path / "own.yaml"
    assert main(["config", "show", "--plugin", "image", "--preset", "demo"]) == 0
    own.write_text(capsys.readouterr().out)
    assert "is not in the ijepa form" in _error(capsys, main(["config", "import-ijepa", str(own)]))
    bad = tmp_path / "bad.yaml"
    bad.write_text(IJEPA.read_text().replace("allow_overlap: false", "allow_overlap: true"))
    assert "mask.allow_overlap=true" in _error(capsys, main(["config", "import-ijepa", str(bad)]))


def test_train_from_an_ijepa_file_stops_on_values_it_cannot_honour(capsys, tmp_path):
    bad = tmp_path / "in1k.yaml"
    bad.write_text(IJEPA.read_text().replace("num_enc_masks: 1", "num_enc_masks: 2"))
    err = _error(capsys, main(["train", "--config", str(bad), "--out", str(tmp_path / "run")]))
    assert "mask.num_enc_masks=2 is not supported" in err and not (tmp_path / "run").exists()


def test_train_from_yaml_keeps_config_yaml_and_logs_csv(capsys, tmp_path):
    reg = build_registry(autoload=False, plugins=["tests.toy_seq_plugin"])
    assert (
        main(
            [
                *TOY,
                "config",
                "show",
                "--plugin",
                "toyseq",
                "--preset",
                "tiny",
                *TINY,
                "--set",
                "train.loggers=tensorboard,csv",
            ]
        )
        == 0
    )
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(capsys.readouterr().out)
    out = tmp_path / "run"
    assert main([*TOY, "train", "--config", str(run_yaml), "--out", str(out)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "samples/s on average" in printed  # the toy dataset declares no sample noun
    stored = load_config(out / "config.yaml", reg)
    given = load_config(run_yaml, reg)
    assert stored == attrs.evolve(given, train=attrs.evolve(given.train, out_dir=str(out)))
    assert stored.train.loggers == ("tensorboard", "csv") and not (out / "config.json").exists()
    rows = read_metrics(out / "metrics.csv")
    assert sorted(rows) == [2, 4] and all("train/loss" in r and "perf/images_per_s" in r for r in rows.values())
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))


def test_a_run_directory_with_config_json_still_resumes(capsys, tmp_path):
    reg = build_registry(autoload=False, plugins=["tests.toy_seq_plugin"])
    out = tmp_path / "run"
    assert main([*TOY, "train", "--plugin", "toyseq", "--preset", "tiny", "--out", str(out), *TINY]) == 0
    (out / "config.json").write_text(json.dumps(to_dict(load_config(out / "config.yaml", reg))))  # as an older
    (out / "config.yaml").unlink()  # version wrote it
    changed = [*TINY, "--set", "train.max_steps=6", "--set", "optim.lr=0.5"]  # a later --set wins
    err = _error(capsys, main([*TOY, "train", "--plugin", "toyseq", "--preset", "tiny", "--out", str(out), *changed]))
    assert "holds a run with another config (optim.lr" in err  # compared with the stored config.json


def test_a_logger_without_its_package_stops_before_any_work(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    out = tmp_path / "run"
    err = _error(
        capsys,
        main(
            [
                *TOY,
                "train",
                "--plugin",
                "toyseq",
                "--preset",
                "tiny",
                "--out",
                str(out),
                *TINY,
                "--set",
                "train.loggers=tensorboard,wandb",
            ]
        ),
    )
    assert err == (
        "error: train.loggers names 'wandb', which needs the optional package wandb; install it with "
        "pip install 'jepaforge[wandb]' or drop it from train.loggers.\n"
    )
    assert not out.exists()
    err = _error(
        capsys,
        main(
            [
                *TOY,
                "train",
                "--plugin",
                "toyseq",
                "--preset",
                "tiny",
                "--out",
                str(out),
                *TINY,
                "--set",
                "train.loggers=tensorbord",
            ]
        ),
    )
    assert "unknown logger 'tensorbord'; valid loggers: csv, mlflow, tensorboard, wandb." in err and not out.exists()


def test_doctor_prints_the_machine_and_the_expected_demo_time(capsys):
    assert main(["doctor", "--seconds", "0.2"]) == 0
    out = capsys.readouterr().out
    for start in ("python:", "versions:", "device:", "cpu:", "threads:", "blas:", "matmul:", "expected:"):
        assert f"\n{start}" in f"\n{out}", start
    assert "GFLOP/s" in out and "make demo" in out
    assert "--seconds must be between 0 and 600, got -1" in _error(capsys, main(["doctor", "--seconds", "-1"]))
