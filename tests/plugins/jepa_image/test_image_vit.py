"""Tests of the image ViT encoder (tiny resolutions, CPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import jepa_vit.vit as vit_mod
from jepa_core.interfaces import Encoder
from jepa_image.vit import ViTConfig, build_vit
from jepa_vit.pos_embed import sincos_pos_embed_2d
from jepa_vit.sizes import VIT_SIZES
from jepa_vit.vit import VisionTransformer


def _tiny(depth: int = 2, **kw) -> VisionTransformer:
    torch.manual_seed(0)
    return build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=depth, **kw))


def test_size_table() -> None:
    assert {k: v[:3] for k, v in VIT_SIZES.items()} == {
        "tiny": (192, 12, 3),
        "small": (384, 12, 6),
        "base": (768, 12, 12),
        "large": (1024, 24, 16),
        "huge": (1280, 32, 16),
        "giant": (1408, 40, 16),
    }
    assert VIT_SIZES["giant"][3] == pytest.approx(48 / 11)
    assert all(v[3] == 4.0 for k, v in VIT_SIZES.items() if k != "giant")


@pytest.mark.parametrize("size", list(VIT_SIZES))
def test_every_size_shapes(size: str) -> None:
    dim, depth, heads, mlp_ratio = VIT_SIZES[size]
    cfg = ViTConfig(size=size, img_size=32, patch_size=16, depth=1)
    enc = build_vit(cfg).eval()
    assert (enc.embed_dim, enc.num_heads, enc.depth) == (dim, heads, 1)
    assert enc.token_grid == (2, 2) and enc.patch_size == 16
    assert enc.blocks[0].mlp.fc1.out_features == int(dim * mlp_ratio)
    assert cfg.resolved()[1] == 1 and ViTConfig(size=size).resolved()[1] == depth
    with torch.no_grad():
        out = enc(torch.randn(2, 3, 32, 32))
        kept = enc(torch.randn(2, 3, 32, 32), keep=torch.tensor([[0, 3], [2, 1]]))
    assert out.shape == (2, 4, dim)
    assert kept.shape == (2, 2, dim)


def test_giant_mlp_hidden() -> None:
    enc = build_vit(ViTConfig(size="giant", img_size=16, patch_size=16, depth=1))
    assert enc.blocks[0].mlp.fc1.out_features == 6144


def test_state_dict_keys_exact() -> None:
    enc = _tiny(depth=2)
    per_block = [
        f"{m}.{p}"
        for m in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
        for p in ("weight", "bias")
    ]
    want = {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed", "norm.weight", "norm.bias"} | {
        f"blocks.{i}.{k}" for i in range(2) for k in per_block
    }
    sd = enc.state_dict()
    assert set(sd) == want
    assert sd["pos_embed"].shape == (1, 16, 192)
    assert sd["blocks.0.attn.qkv.weight"].shape == (3 * 192, 192)
    assert "pos_embed" in dict(enc.named_buffers())
    assert "pos_embed" not in dict(enc.named_parameters())
    torch.testing.assert_close(sd["pos_embed"][0], sincos_pos_embed_2d(192, 4, 4))


def test_protocol_and_attrs() -> None:
    enc = _tiny(depth=1)
    assert isinstance(enc, Encoder)
    assert enc.token_grid == (4, 4)


def test_init() -> None:
    enc = _tiny(depth=1)
    for m in enc.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            assert torch.all(m.bias == 0)
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.2)
            assert abs(m.weight.mean().item()) < 0.005
        elif isinstance(m, nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
            assert m.eps == 1e-6


def test_keep_all_equals_none() -> None:
    enc = _tiny().eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = enc(x)
        all_idx = enc(x, keep=torch.arange(16).expand(2, -1))
    torch.testing.assert_close(all_idx, full, atol=1e-5, rtol=1e-5)


def test_keep_permutation_permutes_output() -> None:
    enc = _tiny().eval()
    x = torch.randn(2, 3, 32, 32)
    perm = torch.stack([torch.randperm(16), torch.randperm(16)])  # [2, 16]
    with torch.no_grad():
        full = enc(x)
        permuted = enc(x, keep=perm)
    want = torch.stack([full[b, perm[b]] for b in range(2)])
    torch.testing.assert_close(permuted, want, atol=1e-5, rtol=1e-5)


def test_positions_added_before_gather() -> None:
    # With zero blocks the output is norm(patch + pos) at the kept indices.
    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=1))
    enc.blocks = nn.ModuleList()
    x = torch.randn(1, 3, 32, 32)
    keep = torch.tensor([[5, 0, 12]])
    with torch.no_grad():
        tokens = enc.patch_embed(x) + enc.pos_embed
        want = enc.norm(tokens[:, keep[0]])
        got = enc(x, keep=keep)
    torch.testing.assert_close(got, want)


def test_grad_checkpointing_same_output_and_grads(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.randn(2, 3, 32, 32)
    keep = torch.tensor([[0, 5, 9, 15], [1, 2, 3, 4]])
    ref = _tiny(depth=2).train()
    ckp = _tiny(depth=2).train()
    ckp.load_state_dict(ref.state_dict())
    calls = []
    real = vit_mod.checkpoint

    def counting(*a, **kw):
        calls.append(kw.get("use_reentrant"))
        return real(*a, **kw)

    monkeypatch.setattr(vit_mod, "checkpoint", counting)
    ckp.set_grad_checkpointing(True)
    out_ref = ref(x, keep)
    out_ckp = ckp(x, keep)
    assert calls == [False, False]
    torch.testing.assert_close(out_ckp, out_ref)
    out_ref.square().sum().backward()
    out_ckp.square().sum().backward()
    for (name, p_ref), p_ckp in zip(ref.named_parameters(), ckp.parameters(), strict=True):
        torch.testing.assert_close(p_ckp.grad, p_ref.grad, msg=name)
    # Not used in eval mode.
    ckp.eval()
    with torch.no_grad():
        ckp(x)
    assert len(calls) == 2


def test_bad_input_size_raises() -> None:
    enc = _tiny(depth=1)
    with pytest.raises(ValueError, match=r"multiples of the patch size 8 \(trained at 32 x 32\), got \(1, 3, 36, 36\)"):
        enc(torch.randn(1, 3, 36, 36))
    with pytest.raises(ValueError, match=r"expected input \[B, 3, H, W\]"):
        enc(torch.randn(1, 1, 32, 32))


def test_other_input_sizes_get_resized_positions() -> None:
    """Multi-crop views: a 16 x 16 input (2 x 2 tokens) uses the 4 x 4 position table resized bicubically."""
    enc = _tiny(depth=1)
    assert enc(torch.randn(2, 3, 16, 16)).shape[:2] == (2, 4)
    assert enc.positions(enc.token_grid) is enc.pos_embed  # the model's own grid: the fixed table itself
    resized = enc.positions((2, 2))
    table = enc.pos_embed.reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(table, size=(2, 2), mode="bicubic", align_corners=False)
    torch.testing.assert_close(resized, expected.flatten(2).transpose(1, 2))
    kept = enc(torch.randn(2, 3, 16, 16), keep=torch.tensor([[0, 3], [1, 2]]))
    assert kept.shape[:2] == (2, 2)


def test_bad_config_raises() -> None:
    with pytest.raises(ValueError, match="colossal") as err:
        ViTConfig(size="colossal")
    assert "tiny" in str(err.value) and "giant" in str(err.value)
    with pytest.raises(ValueError, match=r"img_size=30.*patch_size=16"):
        ViTConfig(img_size=30, patch_size=16)
    with pytest.raises(ValueError, match=r"embed_dim=100.*num_heads=3"):
        ViTConfig(size="tiny", embed_dim=100)


def test_overrides() -> None:
    enc = build_vit(ViTConfig(size="small", img_size=32, patch_size=16, depth=2, embed_dim=128, num_heads=4))
    assert (enc.embed_dim, enc.num_heads, enc.depth, len(enc.blocks)) == (128, 4, 2, 2)
    assert enc.blocks[0].mlp.fc1.out_features == 512  # the size's mlp_ratio 4


def test_mlp_ratio_override_sets_every_blocks_hidden_width() -> None:
    cfg = ViTConfig(size="tiny", img_size=32, patch_size=8, depth=2, embed_dim=256, num_heads=4, mlp_ratio=2.0)
    enc = build_vit(cfg)
    assert [(b.mlp.fc1.out_features, b.mlp.fc2.in_features) for b in enc.blocks] == [(512, 512)] * 2
    assert enc(torch.randn(2, 3, 32, 32)).shape == (2, 16, 256)
    with pytest.raises(ValueError, match="ViT mlp_ratio=0.004 gives no MLP width for embed_dim=192"):
        ViTConfig(size="tiny", mlp_ratio=0.004)
    with pytest.raises(ValueError, match="mlp_ratio must be a finite number > 0, got 0.0"):
        ViTConfig(size="tiny", mlp_ratio=0.0)


def test_rectangular_inputs_for_spectrograms() -> None:
    vit = vit_mod.VisionTransformer(img_size=(64, 32), patch_size=16, in_chans=1, embed_dim=64, depth=1, num_heads=2)
    assert vit.token_grid == (4, 2) and vit.expected_input_shape == (1, 64, 32)
    torch.testing.assert_close(vit.pos_embed[0], sincos_pos_embed_2d(64, 4, 2))
    x = torch.zeros(1, 1, 64, 32)
    x[..., 48:64, 16:32] = 1.0  # the bottom-right patch: row 3, col 1 -> token 3 * 2 + 1 = 7
    with torch.no_grad():
        changed = (vit.patch_embed(x) - vit.patch_embed(torch.zeros_like(x))).abs().sum(-1)[0]
    assert changed.nonzero().flatten().tolist() == [7]
    assert vit(torch.randn(2, 1, 64, 32)).shape == (2, 8, 64)
    assert vit(torch.randn(2, 1, 32, 64)).shape == (2, 8, 64)  # another size: 2 x 4 tokens, resized positions
    with pytest.raises(ValueError, match=r"expected input \[B, 1, H, W\]"):
        vit(torch.randn(2, 1, 32, 40))
    with pytest.raises(ValueError, match=r"img_size=\(64, 40\) is not divisible by patch_size=16"):
        vit_mod.VisionTransformer(img_size=(64, 40), patch_size=16, embed_dim=64, depth=1, num_heads=2)
