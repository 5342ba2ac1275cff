"""The Callback base: no-op defaults, overridden hooks called in order, duck-typed objects work,
and every callback a run builds is one."""

from __future__ import annotations

import pytest

from jepa_core import Callback
from jepa_core.build import build_dataset, build_parts
from jepa_core.config import apply_overrides
from jepa_core.data import build_loader
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer
from tests import toy_seq_plugin


class Recorder(Callback):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def on_step_end(self, trainer, out):
        self.calls.append(f"step {out.step}")

    def on_epoch_end(self, trainer, epoch):
        self.calls.append(f"epoch {epoch}")


class DuckFitEnd:  # no base class, one hook
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def on_fit_end(self, trainer):
        self.calls.append("fit end")


def _fit(toy_registry, callbacks, steps: int = 2) -> None:
    cfg = apply_overrides(toy_seq_plugin.toy_config(), ["data.num_samples=16"], toy_registry)
    parts = build_parts(cfg, toy_registry)
    loader = build_loader(
        build_dataset(cfg, toy_registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=8, seed=0
    )
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=len(loader))
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    trainer.fit(loader, epochs=1, callbacks=callbacks)
    assert trainer.step == steps


def test_hooks_default_to_nothing():
    cb = Callback()
    for hook, args in (("on_fit_start", ()), ("on_step_end", (None,)), ("on_epoch_end", (1,)), ("on_fit_end", ())):
        assert getattr(cb, hook)(None, *args) is None


def test_fit_calls_overridden_hooks_in_order_and_duck_typed_objects(toy_registry):
    calls: list[str] = []
    _fit(toy_registry, [Recorder(calls), Callback(), DuckFitEnd(calls)])
    assert calls == ["step 0", "step 1", "epoch 1", "fit end"]  # out.step counts from 0


@pytest.mark.parametrize(
    "module, names",
    [
        ("jepa_core.callbacks", ["Checkpointer", "PreemptionHandler"]),
        ("jepa_core.monitors", ["CollapseMonitor", "MaskPictures"]),
        ("jepa_core.progress", ["ProgressLogger", "LossLog"]),
        ("jepa_core.bad_samples", ["BadSampleTally", "BadSampleLimit"]),
        ("jepa_core.nonfinite", ["NonFiniteGuard"]),
        ("jepa_core.online_eval", ["OnlineEvaluator"]),
    ],
)
def test_built_in_callbacks_are_callbacks(module, names):
    mod = __import__(module, fromlist=names)
    for name in names:
        assert issubclass(getattr(mod, name), Callback), name
