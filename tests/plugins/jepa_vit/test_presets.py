"""The CPU demos of every plugin share one schedule, training loop and probe."""

from __future__ import annotations

import attrs

from jepa_core.registry import build_registry
from jepa_vit.presets import DEMO_OPTIM, DEMO_PROBE, SMALL_SCALE_OPTIM, demo_train


def test_demo_presets_use_the_shared_parts() -> None:
    registry = build_registry()
    for plugin in ("image", "video", "audio"):
        cfg = registry.preset(plugin, "demo").build()
        assert cfg.optim == DEMO_OPTIM and cfg.probe == DEMO_PROBE, plugin
    for plugin, out_dir in (("video", "runs/video_demo"), ("audio", "runs/audio_demo")):
        assert registry.preset(plugin, "demo").build().train == demo_train(out_dir)
    assert registry.preset("image", "small").build().optim == SMALL_SCALE_OPTIM
    assert attrs.evolve(DEMO_OPTIM, ema_start=0.996, ema_end=1.0) == SMALL_SCALE_OPTIM  # only the EMA differs
