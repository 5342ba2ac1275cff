"""The shipped examples keep working: the embedded loop and a third-party masker plugin."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
import torch

from jepa_core.errors import MaskingError
from jepa_core.registry import build_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_embedded_trainer_loop_runs_and_returns_finite_losses():
    module = runpy.run_path(str(EXAMPLES / "embed_trainer.py"))
    losses = module["main"](steps=6, batch_size=8)
    assert len(losses) == 6
    assert all(torch.isfinite(torch.tensor(losses)))


@pytest.fixture
def stripe_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES / "stripe_masker_plugin"))
    yield
    sys.modules.pop("stripe_masker.plugin", None)
    sys.modules.pop("stripe_masker", None)


def test_third_party_masker_plugin_registers_and_masks(stripe_plugin):
    reg = build_registry(plugins=["stripe_masker.plugin"])
    assert "stripes" in reg.plugins
    spec = reg.get("masker", "stripes")
    masker = spec.build(spec.config_type(num_targets=2, rows=1))
    masks = masker(3, (4, 5), torch.Generator().manual_seed(0))
    assert masks.targets.shape == (3, 2, 5)
    assert masks.context.shape == (3, 10)
    for ctx, tgt in zip(masks.context, masks.targets, strict=True):
        assert not set(ctx.tolist()) & set(tgt.flatten().tolist())
    with pytest.raises(MaskingError, match="num_targets=4"):
        spec.build(spec.config_type(num_targets=4, rows=1))(1, (4, 5), torch.Generator())


def test_third_party_masker_trains_with_the_image_plugin(stripe_plugin, tmp_path):
    from jepa_core.config import apply_overrides
    from jepa_core.run import train_run

    reg = build_registry(plugins=["stripe_masker.plugin"])
    cfg = reg.preset("image", "demo").build()
    cfg = apply_overrides(
        cfg,
        [
            "masker.name=stripes",
            "encoder.depth=1",
            "predictor.depth=1",
            "train.batch_size=8",
            "train.max_steps=2",
            "train.num_workers=0",
            f"train.out_dir={tmp_path}",
            "probe.enabled=false",
            "data.num_train=16",
        ],
        reg,
    )
    result = train_run(cfg, reg, stream=None)
    assert result.steps == 2
    assert all(torch.isfinite(torch.tensor([loss for _, loss in result.loss_history])))
