"""Feature extraction: pooling (mean, last4 via hooks, none) and the research API in jepa_core.extract."""

from __future__ import annotations

import pytest
import torch

from jepa_core.errors import ConfigError
from jepa_core.eval.features import extract_features, last_blocks_features
from jepa_core.extract import extract, load_encoder
from jepa_core.registry import build_registry


@pytest.fixture(scope="module")
def vit():
    from jepa_image.vit import VisionTransformer

    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=16, embed_dim=16, depth=4, num_heads=2).eval()


def test_last4_concatenates_normed_means_of_the_last_four_blocks(vit):
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        h = vit.pos_embed + vit.patch_embed(x)
        outs = []
        for block in vit.blocks:
            h = block(h)
            outs.append(vit.norm(h).mean(1))
        expected = torch.cat(outs[-4:], dim=1)
        got = last_blocks_features(vit, x)
    assert got.shape == (3, 64)
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(got[:, -16:], vit(x).mean(1), atol=1e-6)  # last block = the encoder output
    assert all(not b._forward_hooks for b in vit.blocks)  # hooks removed


def test_extract_pools_and_leaves_training_mode_alone(vit):
    x = torch.randn(2, 3, 32, 32)
    vit.train()
    assert extract(vit, x).shape == (2, 16)
    assert extract(vit, x, pool="none").shape == (2, 4, 16)
    assert torch.allclose(extract(vit, x, pool="last4")[:, -16:], extract(vit, x))
    assert vit.training
    vit.eval()
    with pytest.raises(ConfigError, match="unknown pooling 'max'"):
        extract(vit, x, pool="max")
    with pytest.raises(ValueError, match="extract takes floating-point images .* got dtype torch.uint8$"):
        extract(vit, (x * 50).clamp(0, 255).to(torch.uint8))


def test_extract_features_batches_a_dataset(vit):
    data = [(torch.randn(3, 32, 32), i % 3) for i in range(7)]
    feats, labels = extract_features(vit, data, batch_size=3, pool="last4")
    assert feats.shape == (7, 64) and labels.tolist() == [0, 1, 2, 0, 1, 2, 0]
    one = extract(vit, data[5][0][None], pool="last4")
    assert torch.allclose(feats[5], one[0], atol=1e-5)


def test_last4_needs_blocks(vit, toy_registry):
    from jepa_image.vit import VisionTransformer

    shallow = VisionTransformer(img_size=32, patch_size=16, embed_dim=16, depth=2, num_heads=2)
    with pytest.raises(ConfigError, match="at least 4 blocks, but VisionTransformer has 2"):
        last_blocks_features(shallow, torch.randn(1, 3, 32, 32))
    spec = toy_registry.get("encoder", "seq_transformer")
    seq = spec.build(spec.config_type())  # its blocks are an nn.TransformerEncoder, not a list
    with pytest.raises(ConfigError, match="nn.ModuleList 'blocks'.*TransformerEncoder"):
        last_blocks_features(seq, torch.randn(1, 64))


def test_load_encoder_from_a_preset_is_frozen_and_seeded():
    reg = build_registry()
    overrides = ["encoder.depth=1", "encoder.img_size=32", "encoder.embed_dim=32", "encoder.num_heads=2"]
    a = load_encoder("image/demo", overrides=overrides, registry=reg)
    b = load_encoder("image/demo", overrides=overrides, registry=reg)
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(extract(a, x), extract(b, x))
    assert extract(a, x).shape == (2, 32)
