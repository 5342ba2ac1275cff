"""Tests of the I-JEPA predictor (tiny resolutions, CPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import jepa_vit.vit as vit_mod
from jepa_core.interfaces import Predictor, gather_target_blocks
from jepa_image.vit import ViTConfig, build_vit
from jepa_vit.pos_embed import sincos_pos_embed_2d
from jepa_vit.predictor import PredictorBase, PredictorConfig, ViTPredictor, build_predictor

GRID = (4, 4)  # img 32, patch 8


def _encoder(depth: int = 1):
    torch.manual_seed(0)
    return build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=depth))


def _predictor(depth: int = 2, **kw) -> ViTPredictor:
    torch.manual_seed(1)
    return build_predictor(PredictorConfig(embed_dim=48, depth=depth, **kw), _encoder())


def _inputs(b: int = 2, m: int = 3):
    torch.manual_seed(2)
    ctx_idx = torch.stack([torch.randperm(16)[:6] for _ in range(b)])  # [B, 6]
    tgt_idx = torch.stack([torch.stack([torch.randperm(16)[:4] for _ in range(m)]) for _ in range(b)])  # [B, M, 4]
    ctx = torch.randn(b, 6, 192)
    return ctx, ctx_idx, tgt_idx


def test_output_shape_and_protocol() -> None:
    pred = _predictor().eval()
    ctx, ctx_idx, tgt_idx = _inputs(b=2, m=3)
    out = pred(ctx, ctx_idx, tgt_idx)
    assert out.shape == (6, 4, 192)
    assert isinstance(pred, Predictor)


def test_heads_default_to_encoder() -> None:
    pred = _predictor()
    assert pred.num_heads == 3
    assert pred.predictor_blocks[0].attn.num_heads == 3
    assert _predictor(num_heads=6).num_heads == 6


def test_state_dict_keys_exact() -> None:
    pred = _predictor(depth=2)
    per_block = [
        f"{m}.{p}"
        for m in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
        for p in ("weight", "bias")
    ]
    want = {"mask_token", "predictor_pos_embed"}
    want |= {f"{m}.{p}" for m in ("predictor_embed", "predictor_norm", "predictor_proj") for p in ("weight", "bias")}
    want |= {f"predictor_blocks.{i}.{k}" for i in range(2) for k in per_block}
    sd = pred.state_dict()
    assert set(sd) == want
    assert sd["mask_token"].shape == (1, 1, 48)
    assert sd["predictor_pos_embed"].shape == (1, 16, 48)
    assert sd["predictor_embed.weight"].shape == (48, 192)
    assert sd["predictor_proj.weight"].shape == (192, 48)
    assert "predictor_pos_embed" in dict(pred.named_buffers())
    torch.testing.assert_close(sd["predictor_pos_embed"][0], sincos_pos_embed_2d(48, *GRID))


def test_init() -> None:
    pred = _predictor()
    assert pred.mask_token.std().item() == pytest.approx(0.02, rel=0.5)
    for m in pred.modules():
        if isinstance(m, nn.Linear):
            assert torch.all(m.bias == 0)
            assert m.weight.std().item() == pytest.approx(0.02, rel=0.2)
        elif isinstance(m, nn.LayerNorm):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0) and m.eps == 1e-6


def test_samples_are_independent() -> None:
    pred = _predictor().eval()
    ctx, ctx_idx, tgt_idx = _inputs(b=2, m=3)
    with torch.no_grad():
        out = pred(ctx, ctx_idx, tgt_idx)
        ctx2 = ctx.clone()
        ctx2[1] += torch.randn_like(ctx2[1])
        out2 = pred(ctx2, ctx_idx, tgt_idx)
    torch.testing.assert_close(out2[:3], out[:3])
    assert not torch.allclose(out2[3:], out[3:])


def test_rows_ordered_sample_major() -> None:
    pred = _predictor().eval()
    b, m = 2, 3
    ctx, ctx_idx, tgt_idx = _inputs(b=b, m=m)
    with torch.no_grad():
        out = pred(ctx, ctx_idx, tgt_idx)  # [B*M, Nt, D]
        for bi in range(b):
            for mi in range(m):
                one = pred(ctx[bi : bi + 1], ctx_idx[bi : bi + 1], tgt_idx[bi : bi + 1, mi : mi + 1])
                torch.testing.assert_close(out[bi * m + mi], one[0], atol=1e-5, rtol=1e-5)
    # Same ordering as the targets gathered by jepa_core.
    labels = torch.arange(b, dtype=torch.float32).view(b, 1, 1).expand(b, 16, 1)  # [B, N, 1]
    rows = gather_target_blocks(labels, tgt_idx)[:, 0, 0]
    assert rows.tolist() == [bi for bi in range(b) for _ in range(m)]


def test_mask_token_positions_matter() -> None:
    # Same context, different target positions -> different predictions.
    pred = _predictor().eval()
    ctx, ctx_idx, _ = _inputs(b=1, m=1)
    with torch.no_grad():
        a = pred(ctx, ctx_idx, torch.tensor([[[0, 1]]]))
        b = pred(ctx, ctx_idx, torch.tensor([[[1, 0]]]))
    torch.testing.assert_close(a[:, 0], b[:, 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a[:, 0], a[:, 1])


def test_grad_checkpointing_same_output_and_grads(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _predictor().train()
    ckp = _predictor().train()
    ckp.load_state_dict(ref.state_dict())
    ctx, ctx_idx, tgt_idx = _inputs()
    ctx_ref = ctx.clone().requires_grad_(True)
    ctx_ckp = ctx.clone().requires_grad_(True)
    calls = []
    real = vit_mod.checkpoint

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(vit_mod, "checkpoint", counting)
    ckp.set_grad_checkpointing(True)
    out_ref = ref(ctx_ref, ctx_idx, tgt_idx)
    out_ckp = ckp(ctx_ckp, ctx_idx, tgt_idx)
    assert len(calls) == 2
    torch.testing.assert_close(out_ckp, out_ref)
    out_ref.square().sum().backward()
    out_ckp.square().sum().backward()
    torch.testing.assert_close(ctx_ckp.grad, ctx_ref.grad)
    for (name, p_ref), p_ckp in zip(ref.named_parameters(), ckp.parameters(), strict=True):
        torch.testing.assert_close(p_ckp.grad, p_ref.grad, msg=name)


def test_bad_config_raises() -> None:
    with pytest.raises(ValueError, match=r"embed_dim=52.*num_heads=3"):
        build_predictor(PredictorConfig(embed_dim=52, depth=1), _encoder())
    with pytest.raises(ValueError, match=r"embed_dim=48.*num_heads=5"):
        PredictorConfig(embed_dim=48, num_heads=5)
    with pytest.raises(ValueError, match="-1"):
        PredictorConfig(depth=-1)


def test_bad_index_shapes_raise() -> None:
    pred = _predictor()
    ctx, ctx_idx, tgt_idx = _inputs()
    with pytest.raises(ValueError, match="target_idx"):
        pred(ctx, ctx_idx, tgt_idx[:, 0])
    with pytest.raises(ValueError, match="context_idx"):
        pred(ctx, ctx_idx[:, :3], tgt_idx)


def test_any_grid_with_a_given_pos_embed_and_one_shared_mask_token() -> None:
    pos = torch.randn(12, 32)  # a (3, 4) grid given as (12,): positions come from the caller
    pred = ViTPredictor(encoder_dim=64, token_grid=(12,), num_heads=2, embed_dim=32, depth=1, pos_embed=pos)
    torch.testing.assert_close(pred.predictor_pos_embed[0], pos)
    ctx, ctx_idx, tgt_idx = torch.randn(1, 3, 64), torch.tensor([[0, 1, 2]]), torch.tensor([[[5, 11]]])
    # I-JEPA: one mask token shared by every set, whatever the mask_index
    torch.testing.assert_close(pred(ctx, ctx_idx, tgt_idx, mask_index=3), pred(ctx, ctx_idx, tgt_idx))
    with pytest.raises(ValueError, match=r"pos_embed must be \[12, 32\] for grid \(12,\), got \(16, 32\)"):
        ViTPredictor(
            encoder_dim=64, token_grid=(12,), num_heads=2, embed_dim=32, depth=1, pos_embed=torch.randn(16, 32)
        )
    with pytest.raises(ValueError, match="needs a 2-D token grid or a pos_embed"):
        ViTPredictor(encoder_dim=64, token_grid=(12,), num_heads=2, embed_dim=32, depth=1)


def test_the_base_predictor_leaves_positions_to_its_subclass() -> None:
    class NoPositions(PredictorBase):
        ZERO_MASK_TOKENS = True

        def check_grid(self, grid, embed_dim, num_heads, pos_embed):
            return None

        def sequence(self, context_tokens, context_idx, target_idx, mask_index):
            b, m, nt = target_idx.shape
            x = self.predictor_embed(context_tokens).repeat_interleave(m, dim=0)
            mask = self.mask_token_for(mask_index).expand(b * m, nt, -1)
            return torch.cat([x, mask], dim=1), None

    torch.manual_seed(0)
    pred = NoPositions(encoder_dim=64, token_grid=(4, 4), num_heads=2, embed_dim=32, depth=1, num_mask_tokens=2)
    assert "predictor_pos_embed" not in pred.state_dict() and len(pred.mask_tokens) == 2
    assert all(torch.count_nonzero(t) == 0 for t in pred.mask_tokens)  # the class default: zero
    out = pred(torch.randn(2, 3, 64), torch.tensor([[0, 1, 2]] * 2), torch.tensor([[[5], [9]]] * 2), mask_index=1)
    assert out.shape == (4, 1, 64)
    drawn = NoPositions(encoder_dim=64, token_grid=(4, 4), num_heads=2, embed_dim=32, depth=1, zero_mask_tokens=False)
    assert torch.count_nonzero(drawn.mask_token) == 32
    with pytest.raises(NotImplementedError):
        PredictorBase(encoder_dim=64, token_grid=(4, 4), num_heads=2, embed_dim=32, depth=1)
