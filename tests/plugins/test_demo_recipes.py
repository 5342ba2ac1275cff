"""The video and audio demos hold the recipe behind their numbers in docs/results.md: the
predictive objective with VICReg (weight 1, pooled feature and tokens) and a fast EMA, while their
``lejepa_demo`` twins train the same network on the same data with LeJEPA and VICReg (weight 3) on
each view's pooled embedding and tokens."""

from __future__ import annotations

import pytest

from jepa_core.registry import build_registry


@pytest.fixture(scope="module")
def registry():
    return build_registry()


@pytest.mark.parametrize("plugin", ["video", "audio"])
def test_demo_learns_with_vicreg_and_a_fast_ema(registry, plugin):
    demo = registry.preset(plugin, "demo").build()
    reg = demo.regularizer
    assert demo.objective.name == "predictive" and demo.target.name == "ema"
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 1.0, "both")
    assert (demo.optim.ema_start, demo.optim.ema_end) == (0.99, 0.999)
    lejepa = registry.preset(plugin, "lejepa_demo").build()
    assert lejepa.objective.name == "lejepa"
    reg = lejepa.regularizer
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 3.0, "both")
    assert (lejepa.encoder, lejepa.data) == (demo.encoder, demo.data)
