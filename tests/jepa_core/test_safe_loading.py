"""Safe loading: checkpoints are read with ``weights_only=True`` (a file that needs arbitrary
unpickling is refused and never executed), corrupt files are a clear CheckpointError, and a
checkpoint of another architecture names the mismatched keys and shapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.cli import main
from jepa_core.errors import CheckpointError
from jepa_core.run import build_parts
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer
from tests import toy_seq_plugin

TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin", "train", "--plugin", "toyseq", "--preset", "tiny"]


class Payload:
    """Unpickling this would create a directory: proof that it never ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _malicious(path: Path, marker: Path) -> Path:
    torch.save({"step": 1, "encoder": {}, "extra": Payload(str(marker))}, path)
    return path


def test_file_needing_arbitrary_unpickling_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = _malicious(tmp_path / "step_00000001.pt", marker)
    with pytest.raises(
        CheckpointError,
        match=rf"refused because loading it needs arbitrary unpickling \(it references {os.name}\.mkdir\)",
    ):
        ckpt.load_checkpoint(path)
    assert not marker.exists()


class Opaque:
    """A harmless custom class: still not loadable with weights_only=True."""

    def __init__(self) -> None:
        self.value = 1


def test_custom_class_instance_is_refused_naming_the_class(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"step": 1, "odd": Opaque()}, path)
    with pytest.raises(CheckpointError) as info:
        ckpt.load_checkpoint(path)
    assert f"it references {__name__}.Opaque" in str(info.value)
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)


def test_resuming_from_an_unsafe_checkpoint_exits_2_without_running_it(tmp_path, capsys):
    marker = tmp_path / "pwned"
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    _malicious(folder / "step_00000005.pt", marker)
    rc = main([*TOY, "--out", str(tmp_path / "run"), "--set", "train.device=cpu", "--set", "train.max_steps=2"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "step_00000005.pt' is refused because loading it needs arbitrary unpickling" in err
    assert "Traceback" not in err and not marker.exists()


@pytest.mark.parametrize("cut", [0, 100, -100])
def test_truncated_or_empty_checkpoint_is_a_clear_error(tmp_path, cut):
    good = ckpt.save_checkpoint({"step": 1, "w": torch.zeros(1000)}, tmp_path, step=1)
    data = good.read_bytes()
    good.write_bytes(data[:cut] if cut >= 0 else data[:cut])
    with pytest.raises(CheckpointError, match=r"step_00000001\.pt' is unreadable or truncated"):
        ckpt.load_checkpoint(good)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        ckpt.load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("encoder.width=16", "shape mismatches (checkpoint vs model) blocks.layers.0.linear1.bias (64,) vs (32,)"),
        ("encoder.depth=3", "missing keys blocks.layers.2."),
        ("encoder.depth=1", "unexpected keys blocks.layers.1."),
    ],
)
def test_resuming_another_architecture_names_the_mismatch(tmp_path, capsys, override, expected):
    out = str(tmp_path / "run")
    assert main([*TOY, "--out", out, "--set", "train.device=cpu", "--set", "train.max_steps=1"]) == 0
    capsys.readouterr()
    rc = main([*TOY, "--out", out, "--set", "train.device=cpu", "--set", override, "--allow-config-change"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: the encoder in the checkpoint does not match the model: ")
    assert expected in err and "Traceback" not in err


def test_checkpoint_without_optimizer_state_names_the_key(toy_registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, toy_registry)
    trainer = Trainer(
        parts.encoder,
        parts.predictor,
        parts.target,
        parts.loss,
        optim=cfg.optim,
        schedules=Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=4),
    )
    state = trainer.state_dict()
    del state["opt"]
    with pytest.raises(CheckpointError, match="the checkpoint has no 'opt' state"):
        trainer.load_state_dict(state)


def test_optimizer_state_of_another_model_is_a_checkpoint_error(toy_registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, toy_registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=4)
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    state = trainer.state_dict()
    state["opt"]["param_groups"] = state["opt"]["param_groups"][:1]
    with pytest.raises(CheckpointError, match="the optimizer state in the checkpoint does not match the model"):
        trainer.load_state_dict(state)


@pytest.mark.parametrize("prefix", [b"", b"PK\x03\x04", b"\x80\x02\x8a\x0a"])
def test_random_bytes_are_not_a_checkpoint_and_never_get_torchs_advice(tmp_path, prefix):
    import random

    rng = random.Random(len(prefix))
    for n in range(40):
        path = tmp_path / f"junk{n}.pt"
        path.write_bytes(prefix + bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 50, 2000]))))
        with pytest.raises(CheckpointError) as info:
            ckpt.load_checkpoint(path)
        message = str(info.value)
        assert "weights_only" not in message and "arbitrary unpickling" not in message, message
        assert "\n" not in message
        if not prefix:
            assert message == (
                f"'{path}' is not a checkpoint: it is neither a PyTorch zip archive nor a legacy "
                "torch.save file; give a checkpoint written by jepa train or a released I-JEPA .pth.tar file."
            )


def test_a_directory_as_checkpoint_file(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory; give a checkpoint file or a run directory"):
        ckpt.load_checkpoint(tmp_path)


@pytest.mark.parametrize("key, value", [("step", "7"), ("step", 2.5), ("epoch", -1), ("step_in_epoch", [1])])
def test_resuming_a_checkpoint_with_a_bad_position_exits_2(tiny_image_run, tmp_path, capsys, key, value):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_image_run, run)
    path = ckpt.latest_checkpoint(run / "checkpoints")
    state = torch.load(path, weights_only=True)
    state[key] = value
    torch.save(state, path)
    rc = main(["train", "--config", str(run / "config.yaml"), "--out", str(run)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == (
        f"error: checkpoint '{path}' has {key}={value!r}, not a non-negative integer; it is damaged or "
        "not a training checkpoint of jepa train.\n"
    )
