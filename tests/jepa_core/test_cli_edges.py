"""Config edges a user can hit: sizes and seeds beyond what the run can hold, config files that
are binary or a folder. Each is one sentence and exit 2, before any training work."""

from __future__ import annotations

import pytest

from jepa_core.cli import main

TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin"]
TRAIN = [*TOY, "train", "--plugin", "toyseq", "--preset", "tiny", "--set", "train.device=cpu"]


def _error(capsys, argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


def test_a_batch_larger_than_the_dataset_stops_before_any_model_is_built(tmp_path, capsys, monkeypatch):
    from jepa_core import run

    def no_models(*args, **kwargs):
        raise AssertionError("models were built")

    monkeypatch.setattr(run, "build_parts", no_models)
    err = _error(capsys, [*TRAIN, "--out", str(tmp_path / "run"), "--set", f"train.batch_size={10**12}"])
    assert err == (
        "error: the training split of dataset 'sine_waves' has 256 samples, fewer than one global batch of "
        f"{10**12}; lower train.batch_size to at most 256.\n"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("seed", [str(10**20), "-1", str(2**63)])
def test_a_seed_no_generator_accepts_is_one_sentence(capsys, seed):
    err = _error(
        capsys, [*TOY, "config", "show", "--plugin", "toyseq", "--preset", "tiny", "--set", f"train.seed={seed}"]
    )
    assert err == f"error: invalid value for 'train.seed': seed must be in [0, 2**63 - 1], got {seed}.\n"
    assert (
        main([*TOY, "config", "show", "--plugin", "toyseq", "--preset", "tiny", "--set", f"train.seed={2**63 - 1}"])
        == 0
    )


def test_a_binary_config_file(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    assert _error(capsys, [*TOY, "train", "--config", str(path)]) == (
        f"error: config file '{path}' is not a text file (it is not UTF-8); give a YAML or JSON run config.\n"
    )


def test_a_directory_as_config_file(tmp_path, capsys):
    assert _error(capsys, [*TOY, "train", "--config", str(tmp_path)]) == (
        f"error: config file '{tmp_path}' is a directory; give a config file (e.g. runs/demo/config.yaml).\n"
    )


def test_a_deeply_nested_config_file(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "nests too deeply to be a run config" in _error(capsys, [*TOY, "train", "--config", str(path)])


def test_a_write_failing_where_no_check_looked_is_still_one_sentence(capsys, monkeypatch):
    # e.g. TensorBoard's writer thread on a disk that filled up: an OSError under another exception
    import errno

    from jepa_core.cli import train

    def full_disk(args, registry):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "runs/x/tensorboard/events.out")
        except OSError as err:
            raise RuntimeError("writer failed") from err

    monkeypatch.setattr(train, "run", full_disk)
    assert _error(capsys, TRAIN) == (
        "error: could not write 'runs/x/tensorboard/events.out' (the disk is full); "
        "free some space or choose another --out.\n"
    )

    def a_bug(args, registry):
        raise OSError(errno.ENOENT, "No such file or directory", "x")  # not a write failure: not hidden

    monkeypatch.setattr(train, "run", a_bug)
    with pytest.raises(FileNotFoundError):
        main(TRAIN)


def test_a_warmup_longer_than_the_run_is_a_warning_at_its_start(tmp_path, capsys):
    """A warmup left at a long run's length after `train.epochs` was shortened trains without
    ever reaching the peak lr; the run says so before its first step."""
    argv = [*TRAIN, "--out", str(tmp_path / "run"), "--set", "train.epochs=1", "--set", "optim.warmup_epochs=3"]
    assert main([*argv, "--set", "train.max_steps=1"]) == 0
    out = capsys.readouterr().out
    assert "warning: the lr warmup (" in out and "the lr never reaches its peak" in out
    assert "optim.warmup_epochs=3, optim.cooldown_epochs=0, train.epochs=1, optim.ipe_scale=1)" in out
    assert out.index("warning: the lr warmup") < out.index("step ")
    assert main([*TRAIN, "--out", str(tmp_path / "fits"), "--set", "train.max_steps=1"]) == 0
    assert "warning" not in capsys.readouterr().out
