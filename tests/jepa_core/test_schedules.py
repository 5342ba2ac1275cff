"""Schedules against the closed-form formulas of the I-JEPA recipe."""

from __future__ import annotations

import math

import attrs
import pytest

from jepa_core.config import OptimConfig
from jepa_core.schedules import Schedules

LR, START_LR, FINAL_LR = 1e-3, 2e-4, 1e-6
WD, FINAL_WD = 0.04, 0.4
M0, M1 = 0.996, 1.0
WARMUP, TOTAL = 10, 110


@pytest.fixture
def sched() -> Schedules:
    return Schedules(
        lr=LR,
        start_lr=START_LR,
        final_lr=FINAL_LR,
        warmup_steps=WARMUP,
        total_steps=TOTAL,
        weight_decay=WD,
        final_weight_decay=FINAL_WD,
        ema_start=M0,
        ema_end=M1,
    )


def expected_lr(step: int) -> float:
    if step < WARMUP:
        return START_LR + (LR - START_LR) * step / WARMUP
    t = min(1.0, (step - WARMUP) / (TOTAL - WARMUP))
    return FINAL_LR + 0.5 * (LR - FINAL_LR) * (1 + math.cos(math.pi * t))


STEPS = [0, 5, WARMUP, 35, 60, 85, TOTAL - 1, TOTAL]  # start, mid-warmup, end of warmup, ..., end


@pytest.mark.parametrize("step", STEPS)
def test_learning_rate_closed_form(sched, step):
    assert sched.learning_rate(step) == pytest.approx(expected_lr(step), rel=1e-12, abs=1e-15)


def test_learning_rate_landmarks(sched):
    assert sched.learning_rate(0) == pytest.approx(START_LR)
    assert sched.learning_rate(WARMUP // 2) == pytest.approx((START_LR + LR) / 2)
    assert sched.learning_rate(WARMUP) == pytest.approx(LR)  # peak exactly at the end of warmup
    middle = WARMUP + (TOTAL - WARMUP) // 2
    assert sched.learning_rate(middle) == pytest.approx((LR + FINAL_LR) / 2)
    assert sched.learning_rate(TOTAL) == pytest.approx(FINAL_LR)
    assert sched.learning_rate(TOTAL + 50) == pytest.approx(FINAL_LR)  # held after the horizon
    warm = [sched.learning_rate(s) for s in range(WARMUP + 1)]
    decay = [sched.learning_rate(s) for s in range(WARMUP, TOTAL + 1)]
    assert warm == sorted(warm) and decay == sorted(decay, reverse=True)


@pytest.mark.parametrize("step", STEPS)
def test_weight_decay_cosine_increasing(sched, step):
    t = min(1.0, step / TOTAL)
    expected = FINAL_WD + 0.5 * (WD - FINAL_WD) * (1 + math.cos(math.pi * t))
    assert sched.weight_decay_at(step) == pytest.approx(expected, rel=1e-12)


def test_weight_decay_landmarks(sched):
    assert sched.weight_decay_at(0) == pytest.approx(0.04)
    assert sched.weight_decay_at(TOTAL // 2) == pytest.approx(0.22)
    assert sched.weight_decay_at(TOTAL) == pytest.approx(0.4)
    values = [sched.weight_decay_at(s) for s in range(TOTAL + 1)]
    assert values == sorted(values)  # it INCREASES


@pytest.mark.parametrize("step", STEPS)
def test_momentum_linear_over_the_whole_run(sched, step):
    expected = M0 + (M1 - M0) * min(1.0, step / TOTAL)
    assert sched.momentum(step) == pytest.approx(expected, rel=1e-12)


def test_momentum_landmarks(sched):
    assert sched.momentum(0) == pytest.approx(0.996)
    assert sched.momentum(WARMUP) == pytest.approx(0.996 + 0.004 * WARMUP / TOTAL)  # no warmup phase
    assert sched.momentum(TOTAL // 2) == pytest.approx(0.998)
    assert sched.momentum(TOTAL) == pytest.approx(1.0)
    assert sched.momentum(TOTAL + 5) == pytest.approx(1.0)


def test_zero_warmup_starts_at_peak():
    s = Schedules(
        lr=LR,
        start_lr=START_LR,
        final_lr=FINAL_LR,
        warmup_steps=0,
        total_steps=100,
        weight_decay=WD,
        final_weight_decay=FINAL_WD,
        ema_start=M0,
        ema_end=M1,
    )
    assert s.learning_rate(0) == pytest.approx(LR)
    assert s.learning_rate(50) == pytest.approx((LR + FINAL_LR) / 2)


def test_from_config_horizon_uses_ipe_scale():
    optim = OptimConfig(
        warmup_epochs=2,
        ipe_scale=1.25,
        lr=5e-4,
        start_lr=1e-4,
        final_lr=1e-5,
        weight_decay=0.05,
        final_weight_decay=0.3,
        ema_start=0.99,
        ema_end=0.999,
    )
    s = Schedules.from_config(optim, epochs=4, iterations_per_epoch=10)
    assert s.total_steps == 50  # 1.25 * 4 * 10
    assert s.warmup_steps == 20  # warmup is NOT scaled by ipe_scale
    assert (s.lr, s.start_lr, s.final_lr) == (5e-4, 1e-4, 1e-5)
    assert (s.weight_decay, s.final_weight_decay, s.ema_start, s.ema_end) == (0.05, 0.3, 0.99, 0.999)
    # the run ends at step 40, before the horizon: momentum there is 0.8 of the way to ema_end
    assert s.momentum(40) == pytest.approx(0.99 + 0.009 * 40 / 50)
    assert s.momentum(50) == pytest.approx(0.999)
    assert s.learning_rate(20) == pytest.approx(5e-4)


def test_from_config_fractional_warmup_and_default_scale():
    s = Schedules.from_config(OptimConfig(warmup_epochs=1.5), epochs=3, iterations_per_epoch=8)
    assert (s.total_steps, s.warmup_steps) == (24, 12)


def test_warmup_constant_cooldown_from_config():
    # V-JEPA 2: warmup, constant lr, linear cooldown; fixed weight decay and EMA momentum
    optim = OptimConfig(
        lr=1e-3,
        start_lr=1e-4,
        final_lr=1e-6,
        warmup_epochs=1,
        weight_decay=0.04,
        final_weight_decay=0.04,
        ema_start=0.99925,
        ema_end=0.99925,
        lr_schedule="warmup_constant_cooldown",
        cooldown_epochs=2,
    )
    s = Schedules.from_config(optim, epochs=10, iterations_per_epoch=10)  # warmup 10, cooldown steps 80..100
    assert (s.warmup_steps, s.cooldown_steps, s.total_steps) == (10, 20, 100)
    assert s.learning_rate(0) == pytest.approx(1e-4) and s.learning_rate(5) == pytest.approx(5.5e-4)
    assert [s.learning_rate(k) for k in (10, 50, 80)] == pytest.approx([1e-3] * 3)
    assert s.learning_rate(90) == pytest.approx((1e-3 + 1e-6) / 2) and s.learning_rate(100) == pytest.approx(1e-6)
    assert s.learning_rate(200) == pytest.approx(1e-6)
    assert [s.weight_decay_at(k) for k in (0, 50, 100)] == pytest.approx([0.04] * 3)
    assert [s.momentum(k) for k in (0, 50, 100)] == pytest.approx([0.99925] * 3)
    cosine = Schedules.from_config(attrs.evolve(optim, lr_schedule="warmup_cosine"), epochs=10, iterations_per_epoch=10)
    assert cosine.learning_rate(50) < 1e-3  # the default keeps decaying after warmup


def test_unknown_lr_schedule_is_rejected():
    from jepa_core.config import apply_overrides
    from jepa_core.errors import ConfigError
    from jepa_core.registry import build_registry
    from tests import toy_seq_plugin

    reg = build_registry(autoload=False, plugins=[toy_seq_plugin])
    with pytest.raises(ConfigError, match="optim.lr_schedule"):
        apply_overrides(toy_seq_plugin.toy_config(), ["optim.lr_schedule=step"], reg)


def test_cosine_ema_schedule():
    optim = OptimConfig(ema_start=0.996, ema_end=1.0, ema_schedule="cosine")
    s = Schedules.from_config(optim, epochs=1, iterations_per_epoch=100)
    assert s.momentum(0) == pytest.approx(0.996) and s.momentum(100) == pytest.approx(1.0)
    assert s.momentum(50) == pytest.approx(0.998)
    assert s.momentum(25) == pytest.approx(1.0 - 0.004 * 0.5 * (1 + math.cos(math.pi / 4)))  # slow start
    linear = Schedules.from_config(OptimConfig(ema_start=0.996, ema_end=1.0), epochs=1, iterations_per_epoch=100)
    assert s.momentum(25) < linear.momentum(25)


def test_a_warmup_as_long_as_the_run_is_named():
    short = Schedules.from_config(
        OptimConfig(warmup_epochs=10, lr=1e-3, start_lr=1e-4), epochs=2, iterations_per_epoch=6
    )
    assert short.misfits() == [
        "the lr warmup (60 steps) is as long as the whole schedule (12 steps): the lr never reaches its peak 0.001"
    ]
    assert max(short.learning_rate(k) for k in range(13)) < 1e-3  # what the sentence says
    fits = Schedules.from_config(OptimConfig(warmup_epochs=1.5), epochs=2, iterations_per_epoch=6)
    assert fits.misfits() == []
    flat = Schedules.from_config(
        OptimConfig(warmup_epochs=10, lr=1e-3, start_lr=1e-3), epochs=2, iterations_per_epoch=6
    )
    assert flat.misfits() == []  # no climb to miss


def test_a_cooldown_that_starts_inside_the_warmup_is_named():
    optim = OptimConfig(warmup_epochs=2, cooldown_epochs=2, lr_schedule="warmup_constant_cooldown")
    assert Schedules.from_config(optim, epochs=3, iterations_per_epoch=10).misfits() == [
        "the lr warmup (20 steps) and cooldown (20 steps) are longer than the whole schedule (30 steps): "
        "the cooldown starts before the warmup ends"
    ]
    assert Schedules.from_config(optim, epochs=4, iterations_per_epoch=10).misfits() == []


def test_no_preset_warns_about_its_lr_schedule():
    from jepa_core.registry import build_registry

    registry = build_registry()
    for plugin in registry.preset_plugins():
        for name, preset in registry.presets(plugin).items():
            cfg = preset.build()
            sched = Schedules.from_config(cfg.optim, epochs=cfg.train.epochs, iterations_per_epoch=100)
            assert sched.misfits() == [], f"{plugin}/{name}"
