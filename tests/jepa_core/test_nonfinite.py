"""Numerical faults: a non-finite loss or gradient stops the run with a message naming the step
(CLI exit 2), non-finite state is never checkpointed (the last good checkpoint stays loadable
and finite), and the detection adds no per-step host sync.

This module is also a test-only plugin (``-p tests.jepa_core.test_nonfinite``): its loss
``nan_at`` is smooth-L1 that turns NaN at one step.
"""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import pytest
import torch

from jepa_core import checkpoint as ckpt
from jepa_core import hookimpl
from jepa_core.bad_samples import BadSampleLimit, BadSampleTally
from jepa_core.cli import main
from jepa_core.config import positive
from jepa_core.data import build_loader
from jepa_core.dist import DistInfo
from jepa_core.errors import NonFiniteLossError
from jepa_core.losses import SmoothL1Loss
from jepa_core.monitors import CollapseMonitor, MaskPictures
from jepa_core.nonfinite import NonFiniteGuard
from jepa_core.progress import LossLog, ProgressLogger
from jepa_core.run import Checkpointer, build_dataset, build_parts
from jepa_core.schedules import Schedules
from jepa_core.specs import LossSpec
from jepa_core.trainer import Trainer
from tests import toy_seq_plugin

JEPA_PLUGIN_NAME = "nonfinite_tests"


@attrs.frozen
class NanAtConfig:
    step: int = attrs.field(default=1, validator=positive)  # 1-based step whose loss is NaN


class NanAtLoss:
    def __init__(self, cfg: NanAtConfig) -> None:
        self.base, self.nan_step, self.calls = SmoothL1Loss(), cfg.step, 0

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = self.base(predictions, targets)
        return loss * float("nan") if self.calls == self.nan_step else loss


@hookimpl
def jepa_losses():
    yield LossSpec(name="nan_at", config_type=NanAtConfig, build=NanAtLoss)


TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin", "-p", __name__, "train", "--plugin", "toyseq", "--preset", "tiny"]


def _all_finite(state) -> bool:
    if isinstance(state, torch.Tensor):
        return bool(torch.isfinite(state).all()) if state.is_floating_point() else True
    if isinstance(state, dict):
        return all(_all_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(_all_finite(v) for v in state)
    return True


@pytest.mark.parametrize("log_every", [1, 4])  # caught at the log step, or by the checkpointer first
def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys, log_every):
    rc = main(
        [
            *TOY,
            "--out",
            str(tmp_path),
            "--set",
            "loss.name=nan_at",
            "--set",
            "loss.step=6",
            "--set",
            "train.checkpoint_every=2",
            "--set",
            f"train.log_every={log_every}",
            "--set",
            "train.device=cpu",
            "--set",
            "train.keep_checkpoints=5",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: the loss or gradient became non-finite at step 6;")
    assert f"the last good checkpoint in {tmp_path / 'checkpoints'} is kept" in err and "Traceback" not in err
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [2, 4]
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "checkpoints"))
    assert state["step"] == 4 and _all_finite({k: state[k] for k in ("encoder", "predictor", "target_encoder", "opt")})


def test_huge_learning_rate_stops_and_leaves_finite_checkpoints(tmp_path, capsys):
    rc = main(
        [
            *TOY,
            "--out",
            str(tmp_path),
            "--set",
            "optim.lr=1e30",
            "--set",
            "optim.start_lr=1e30",
            "--set",
            "train.checkpoint_every=1",
            "--set",
            "train.device=cpu",
            "--set",
            "train.keep_checkpoints=50",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "became non-finite at step" in err
    found = ckpt.list_checkpoints(tmp_path / "checkpoints")
    assert found  # at least the first step was still finite
    for _, path in found:
        assert _all_finite(ckpt.load_checkpoint(path)["encoder"])


def _toy_trainer(registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=8)
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    loader = build_loader(
        build_dataset(cfg, registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=8, seed=0
    )
    return cfg, trainer, loader


def test_checkpointer_refuses_non_finite_weights(tmp_path, toy_registry):
    cfg, trainer, _ = _toy_trainer(toy_registry)
    cfg = attrs.evolve(cfg, train=attrs.evolve(cfg.train, out_dir=str(tmp_path)))
    checkpointer = Checkpointer(tmp_path / "checkpoints", cfg, DistInfo())
    trainer.step = 3
    checkpointer.save(trainer)
    with torch.no_grad():
        trainer.predictor.out.bias[0] = float("inf")
    trainer.step = 4
    with pytest.raises(NonFiniteLossError, match=r"weights became non-finite after step 4 \(predictor\.out\.bias\)"):
        checkpointer.save(trainer)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [3]


def test_checkpointer_refuses_after_a_non_finite_step(tmp_path, toy_registry):
    cfg, trainer, _ = _toy_trainer(toy_registry)
    checkpointer = Checkpointer(tmp_path, cfg, DistInfo())
    trainer.first_nonfinite_step = torch.tensor(2)
    trainer.step = 3
    with pytest.raises(NonFiniteLossError, match="non-finite at step 2"):
        checkpointer.save(trainer)
    assert ckpt.list_checkpoints(tmp_path) == []


class HostSyncSpy:
    """Records every tensor->host conversion made directly by jepa_core code."""

    METHODS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in self.METHODS:
            monkeypatch.setattr(torch.Tensor, name, self._wrap(name, getattr(torch.Tensor, name)))

    def _wrap(self, name, original):
        def spy(tensor, *args, **kwargs):
            caller = sys._getframe(1).f_code
            if f"{Path('jepa_core')}" in caller.co_filename:
                self.calls.append(f"{name} in {caller.co_name} ({Path(caller.co_filename).name})")
            return original(tensor, *args, **kwargs)

        return spy


class _RecordingWriter:
    def __init__(self) -> None:
        self.tags: list[str] = []

    def add_scalar(self, tag, value, step) -> None:
        self.tags.append(tag)

    def add_image(self, tag, image, step) -> None:
        self.tags.append(tag)


def test_train_step_and_logging_callbacks_make_no_per_step_host_sync(tmp_path, toy_registry, monkeypatch):
    _, trainer, loader = _toy_trainer(toy_registry)
    batches = iter(loader)
    tally = BadSampleTally()
    progress = ProgressLogger(total_steps=100, log_every=4, stream=None, bad_samples=tally)
    limit = BadSampleLimit(tally, max_fraction=0.01, min_samples=1, log_every=4, total_steps=100)
    guard = NonFiniteGuard(log_every=4, total_steps=100)
    losses = LossLog(tmp_path / "losses.tsv", log_every=4)
    writer = _RecordingWriter()
    monitors = [CollapseMonitor(writer, every=4), MaskPictures(writer, every=4)]
    first = next(batches)
    spy = HostSyncSpy(monkeypatch)
    for _ in range(3):  # steps 1..3: none is a log or monitor step
        out = trainer.train_step(first)
        for callback in (guard, tally, progress, limit, losses, *monitors):
            callback.on_step_end(trainer, out)
    assert spy.calls == [] and writer.tags == []
    out = trainer.train_step(first)  # step 4: the log step syncs (control: the spy works)
    progress.on_step_end(trainer, out)
    assert any(call.startswith("item in") for call in spy.calls)
    for monitor in monitors:  # and the monitors sync only now, when they fire
        spy.calls.clear()
        monitor.on_step_end(trainer, out)
        assert any("(monitors.py)" in call for call in spy.calls)
    assert "masks" in writer.tags and "monitor/target_effective_rank" in writer.tags


def test_the_guard_reports_a_non_finite_step_at_the_next_log_step_and_at_the_end(toy_registry):
    _, trainer, loader = _toy_trainer(toy_registry)
    batch = next(iter(loader))
    guard = NonFiniteGuard(log_every=4, total_steps=100, checkpoint_dir="runs/x/checkpoints")
    guard.on_step_end(trainer, trainer.train_step(batch))
    guard.on_fit_end(trainer)  # all finite so far
    trainer.loss_fn = lambda p, t: (p - t).sum() * float("nan")
    for _ in range(2):  # steps 2 and 3: non-finite, but no sync until the log step
        guard.on_step_end(trainer, trainer.train_step(batch))
    with pytest.raises(NonFiniteLossError, match="non-finite at step 2; .* in runs/x/checkpoints is kept"):
        guard.on_step_end(trainer, trainer.train_step(batch))
    with pytest.raises(NonFiniteLossError, match="non-finite at step 2"):
        guard.on_fit_end(trainer)
