"""jepa_core.demo_speed: the image demo's own training steps, timed, and the expected demo time."""

from __future__ import annotations

import pytest

from jepa_core import demo_speed
from jepa_core.registry import build_registry
from tests.test_docs import make_recipe


def test_the_doctor_times_the_preset_make_demo_trains():
    assert f"--plugin {demo_speed.DEMO_PLUGIN} --preset {demo_speed.DEMO_PRESET} " in make_recipe("demo")


def test_the_demos_image_count_is_its_presets():
    cfg = build_registry().preset(demo_speed.DEMO_PLUGIN, demo_speed.DEMO_PRESET).build()
    assert demo_speed.DEMO_TRAIN_IMAGES == cfg.train.epochs * cfg.data.options.num_train


def test_the_demo_precision_is_its_presets_resolved_for_the_cpu():
    import torch

    from jepa_core.hardware import resolve_precision

    registry = build_registry()
    cfg = registry.preset(demo_speed.DEMO_PLUGIN, demo_speed.DEMO_PRESET).build()
    resolved = resolve_precision(cfg.train.precision, torch.device("cpu"))
    assert demo_speed.demo_precision(registry) == resolved
    assert demo_speed.demo_precision(build_registry(autoload=False)) == "fp32"  # no plugin provides it


def test_the_demo_steps_are_timed_on_the_demos_own_parts():
    registry = build_registry()
    trainer, batches = demo_speed.demo_trainer(registry)
    batch = next(batches)
    cfg = registry.preset(demo_speed.DEMO_PLUGIN, demo_speed.DEMO_PRESET).build()
    assert len(batch) == cfg.train.batch_size  # the demo's batch of 64
    speed = demo_speed.time_steps(trainer, batches, seconds=0.0, min_steps=2)
    assert speed.steps == 2 and speed.seconds > 0
    assert speed.images_per_s == pytest.approx(2 * len(batch) / speed.seconds)


def test_measuring_needs_the_image_demo_preset():
    registry = build_registry(autoload=False)  # no plugin: nothing provides image/demo
    assert demo_speed.measure_demo_speed(registry, seconds=0.1) is None


def test_the_expected_time_scales_inversely_with_the_rate():
    t = demo_speed.expected_demo_seconds(100.0)
    assert t == pytest.approx(demo_speed.DEMO_TRAIN_IMAGES / 100.0 * demo_speed.DEMO_WALL_PER_TRAIN_TIME)
    assert demo_speed.expected_demo_seconds(200.0) == pytest.approx(t / 2)


def test_training_steps_follow_the_config_as_jepa_train_does():
    import torch

    from jepa_core.hardware import resolve_precision
    from jepa_core.resolve import resolve_config

    registry = build_registry()
    overrides = ("data.num_train=16", "train.batch_size=4", "train.num_workers=0", "train.precision=auto")
    cfg = resolve_config(registry, plugin="image", preset="demo", overrides=overrides)
    steps = demo_speed.training_steps(cfg, registry)
    assert steps.total_steps == 5 * 4  # the demo's 5 epochs of 16 / 4 steps
    assert steps.precision == resolve_precision("auto", torch.device("cpu"))  # auto resolved for the CPU
    assert len(next(steps.batches)) == 4
    assert demo_speed.training_steps(cfg, registry, precision="fp32").precision == "fp32"
