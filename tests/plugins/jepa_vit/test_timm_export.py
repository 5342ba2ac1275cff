"""Exported encoders load into timm and give the same pooled features."""

from __future__ import annotations

import json

import pytest
import torch

from jepa_core.errors import ConfigError
from jepa_image.vit import ViTConfig, build_vit
from jepa_vit.timm_export import export_timm, load_timm, timm_spec

timm = pytest.importorskip("timm")


@pytest.mark.parametrize("size,patch,depth", [("tiny", 16, 2), ("small", 8, 1)])
def test_timm_model_pools_like_the_encoder(tmp_path, size, patch, depth):
    torch.manual_seed(0)
    enc = build_vit(ViTConfig(size=size, img_size=32, patch_size=patch, depth=depth)).eval()
    with torch.no_grad():  # non-trivial norms and biases, so a skipped or misplaced norm shows
        enc.norm.weight.uniform_(0.5, 1.5)
        enc.norm.bias.normal_()
    info = export_timm(enc, tmp_path / "model.pth")
    assert info.model_name == f"vit_{size}_patch16_224"
    model = timm.create_model(info.model_name, **info.kwargs).eval()
    model.load_state_dict(torch.load(tmp_path / "model.pth", weights_only=True), strict=True)
    assert model.cls_token is None and tuple(model.pos_embed.shape) == (1, (32 // patch) ** 2, enc.embed_dim)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        ours = enc(x).mean(1)
        assert torch.allclose(model(x), ours, atol=1e-5)
        assert torch.allclose(model.forward_head(model.forward_features(x), pre_logits=True), ours, atol=1e-5)
        assert torch.allclose(load_timm(info.config)(x), ours, atol=1e-5)
    saved = json.loads(info.config.read_text())
    assert saved["timm_model"] == info.model_name and saved["weights"] == "model.pth"
    assert saved["kwargs"]["depth"] == depth and saved["kwargs"]["fc_norm"] is False
    assert "timm.create_model" in info.describe()


def test_giant_mlp_ratio_round_trips_through_timm():
    _, kwargs = timm_spec(build_vit(ViTConfig(size="giant", img_size=28, patch_size=14, depth=1)))
    model = timm.create_model("vit_giant_patch14_224", **{**kwargs, "device": "meta"})
    assert model.blocks[0].mlp.fc1.out_features == 6144
    _, kwargs = timm_spec(build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=1, mlp_ratio=2.0)))
    model = timm.create_model("vit_tiny_patch16_224", **{**kwargs, "device": "meta"})
    assert model.blocks[0].mlp.fc1.out_features == 384
    with pytest.raises(ConfigError, match="needs the image plugin's ViT encoder"):
        timm_spec(torch.nn.Linear(2, 2))
