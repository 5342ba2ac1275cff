"""3-D RoPE (V-JEPA 2): the rotation, its layout, and the RoPE video encoder and predictor."""

from __future__ import annotations

import math

import pytest
import torch

import jepa_video.rope as rope_mod
from jepa_core.config import field_types, parse_value
from jepa_core.errors import ConfigError
from jepa_core.interfaces import Encoder, Predictor
from jepa_core.testing import check_encoder, check_predictor, example_input, random_masks
from jepa_video.predictor import VideoPredictorConfig, VideoRopePredictor, build_video_predictor
from jepa_video.rope import RopeBlock, apply_rope, grid_positions, rope_3d_angles, rope_axis_dim
from jepa_video.video_vit import VideoVisionTransformer, VideoViTConfig, build_video_vit

SMALL = dict(size="tiny", img_size=32, patch_size=16, num_frames=4, depth=2)  # grid (2, 2, 2), dh = 64


def _encoder(pos_embedding: str = "rope") -> VideoVisionTransformer:
    torch.manual_seed(0)
    return build_video_vit(VideoViTConfig(**SMALL, pos_embedding=pos_embedding))


def _predictor(encoder: VideoVisionTransformer | None = None, pos_embedding: str = "rope", **kw):
    enc = encoder if encoder is not None else _encoder()
    torch.manual_seed(1)
    return build_video_predictor(VideoPredictorConfig(embed_dim=48, depth=1, pos_embedding=pos_embedding, **kw), enc)


def _rotate(x: torch.Tensor, pos: list[int] | torch.Tensor) -> torch.Tensor:
    """RoPE of head vectors ``x [dh]`` (or [N, dh]) at positions ``[3]`` (or [N, 3])."""
    pos = torch.as_tensor(pos).reshape(-1, 3)
    xs = x.reshape(1, 1, -1, x.shape[-1])
    cos, sin = rope_3d_angles(pos, x.shape[-1])
    return apply_rope(xs, cos, sin).reshape(x.shape)


# ------------------------------------------------------------------ the rotation
def test_apply_rope_preserves_norms_and_rotates():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 20, generator=g, dtype=torch.float64)  # [B, H, N, dh]
    pos = torch.randint(0, 7, (2, 5, 3), generator=g)
    cos, sin = rope_3d_angles(pos, 20)
    out = apply_rope(x, cos, sin)
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))
    assert not torch.allclose(out, x)  # a real rotation, not the identity
    zero = rope_3d_angles(torch.zeros(5, 3, dtype=torch.long), 20)  # shared [N, 3] positions broadcast
    torch.testing.assert_close(apply_rope(x, *zero), x)
    # bf16 inputs are rotated in float32 and come back as bf16
    assert apply_rope(x.to(torch.bfloat16), cos, sin).dtype == torch.bfloat16


@pytest.mark.parametrize("head_dim", [16, 18, 64])
def test_scores_depend_only_on_the_position_difference_per_axis(head_dim):
    g = torch.Generator().manual_seed(head_dim)
    q, k = torch.randn(2, head_dim, generator=g, dtype=torch.float64)

    def score(pq, pk):
        return float(_rotate(q, pq) @ _rotate(k, pk))

    pq, pk = [3, 1, 4], [1, 5, 2]
    base = score(pq, pk)
    for axis in range(3):
        for shift in (1, 5, 11):
            sq, sk = list(pq), list(pk)
            sq[axis] += shift
            sk[axis] += shift
            assert score(sq, sk) == pytest.approx(base, rel=1e-6, abs=1e-6)  # same difference: same score
        moved = list(pq)
        moved[axis] += 1  # a different difference along this axis alone changes the score
        assert abs(score(moved, pk) - base) > 1e-3
    assert score([7, 8, 9], [7 - 2, 8 + 3, 9 - 1]) == pytest.approx(score([2, 0, 1], [0, 3, 0]), rel=1e-6, abs=1e-6)


def _reference_rope(x: torch.Tensor, pos: list[int]) -> torch.Tensor:
    """The documented layout, written out channel by channel."""
    dh = x.shape[-1]
    d = 2 * (dh // 6)
    half = d // 2
    out = x.clone()
    for axis in range(3):
        for kk in range(half):
            i, j = axis * d + kk, axis * d + kk + half
            angle = pos[axis] * 10000.0 ** (-2.0 * kk / d)
            out[i] = x[i] * math.cos(angle) - x[j] * math.sin(angle)
            out[j] = x[j] * math.cos(angle) + x[i] * math.sin(angle)
    return out


def test_head_dim_split_matches_the_documented_layout():
    assert [rope_axis_dim(d) for d in (6, 11, 12, 16, 20, 64, 128)] == [2, 2, 4, 4, 6, 20, 42]
    # dh = 16: d_axis = 4 (pairs (0, 2), (1, 3) time; (4, 6), (5, 7) height; (8, 10), (9, 11) width); 12..15 free
    e = torch.eye(16, dtype=torch.float64)
    close = dict(rtol=1e-6, atol=1e-6)  # the angles are float32
    out = _rotate(e[0], [1, 0, 0])  # time pair 0 at t = 1: angle 1 rad
    torch.testing.assert_close(out[[0, 2]], torch.tensor([math.cos(1.0), math.sin(1.0)], dtype=torch.float64), **close)
    assert out[[1, 3, *range(4, 16)]].abs().max() == 0
    out = _rotate(e[1], [3, 0, 0])  # time pair 1: theta_1 = 10000^(-2/4) = 0.01
    torch.testing.assert_close(
        out[[1, 3]], torch.tensor([math.cos(0.03), math.sin(0.03)], dtype=torch.float64), **close
    )
    out = _rotate(e[4], [0, 2, 0])  # height group starts at channel 4
    torch.testing.assert_close(out[[4, 6]], torch.tensor([math.cos(2.0), math.sin(2.0)], dtype=torch.float64), **close)
    out = _rotate(e[10], [0, 0, 1])  # width group: channel 10 is the partner of 8
    torch.testing.assert_close(
        out[[8, 10]], torch.tensor([-math.sin(1.0), math.cos(1.0)], dtype=torch.float64), **close
    )
    g = torch.Generator().manual_seed(0)
    for axis, group in enumerate((range(0, 4), range(4, 8), range(8, 12))):  # an axis moves only its own group
        x = torch.randn(16, generator=g, dtype=torch.float64)
        pos = [0, 0, 0]
        pos[axis] = 5
        changed = (_rotate(x, pos) - x).abs() > 1e-12
        assert changed.nonzero().flatten().tolist() == list(group)
    x = torch.randn(16, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_rotate(x, [4, 5, 6])[12:], x[12:])  # the leftover channels stay unrotated
    for dh in (18, 20, 64):  # the whole layout against a channel-by-channel reference
        x = torch.randn(dh, generator=g, dtype=torch.float64)
        torch.testing.assert_close(_rotate(x, [3, 1, 6]), _reference_rope(x, [3, 1, 6]), rtol=1e-6, atol=1e-6)


def test_rope_block_sees_relative_positions_only_and_keeps_timm_names():
    torch.manual_seed(0)
    block = RopeBlock(dim=48, num_heads=2).eval()  # dh = 24: 8 channels per axis
    assert [n for n, _ in block.named_parameters()] == [
        f"{m}.{p}"
        for m in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2")
        for p in ("weight", "bias")
    ]
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # sharper attention than the 0.02 init
    x = torch.randn(2, 6, 48)
    pos = torch.randint(0, 4, (2, 6, 3))
    with torch.no_grad():
        out = block(x, pos)
        # RoPE on queries AND keys: shifting every token by the same offset changes nothing
        torch.testing.assert_close(block(x, pos + torch.tensor([1, 3, 2])), out, rtol=1e-4, atol=1e-5)
        assert not torch.allclose(block(x, pos.flip(1)), out, atol=1e-4)  # but the relative layout matters
        torch.testing.assert_close(block(x[:1], pos[0]), out[:1])  # shared [N, 3] positions broadcast


def test_rope_attention_math_path_equals_fused_sdpa():
    torch.manual_seed(0)
    block = RopeBlock(dim=48, num_heads=2).eval()
    x, pos = torch.randn(2, 6, 48), torch.randint(0, 4, (2, 6, 3))
    with torch.no_grad():
        fused = block(x, pos)
        block.attn.fused_attn = False
        torch.testing.assert_close(block(x, pos), fused)


def test_grid_positions_are_time_slowest():
    pos = grid_positions((2, 3, 4))
    assert pos.shape == (24, 3) and pos.dtype == torch.long
    assert pos[(1 * 3 + 2) * 4 + 3].tolist() == [1, 2, 3]  # same flattening as the tubelet tokens
    with pytest.raises(ValueError, match=r"grid \(t, h, w\)"):
        grid_positions((4, 4))


# ------------------------------------------------------------------ the encoder
def test_rope_encoder_shapes_blocks_and_state_dict():
    enc = _encoder()
    assert isinstance(enc, Encoder) and enc.token_grid == (2, 2, 2) and enc.pos_embedding == "rope"
    assert all(isinstance(b, RopeBlock) for b in enc.blocks) and len(enc.blocks) == 2
    x = torch.randn(2, 3, 4, 32, 32)
    assert enc(x).shape == (2, 8, 192)
    assert enc(x, keep=torch.tensor([[0, 7, 3], [1, 2, 5]])).shape == (2, 3, 192)
    sincos = _encoder("sincos")
    assert "pos_embed" not in enc.state_dict() and not hasattr(enc, "pos_embed")
    assert set(enc.state_dict()) == set(sincos.state_dict()) - {"pos_embed"}  # timm Block names
    state = {k: v for k, v in sincos.state_dict().items() if k != "pos_embed"}
    enc.load_state_dict(state)  # strict: the same parameter names and shapes


def test_rope_encoder_keep_all_equals_keep_none():
    enc = _encoder().eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x, keep=torch.arange(8).expand(2, 8)), enc(x))


def test_rope_encoder_positions_follow_the_kept_tokens():
    enc = _encoder().eval()
    x = torch.randn(2, 3, 4, 32, 32)
    keep = torch.tensor([[3, 1, 6], [6, 0, 5]])
    perm = torch.tensor([2, 0, 1])
    with torch.no_grad():
        out = enc(x, keep)
        swapped = enc(x, keep[:, perm])
        # equivariance: reordering the kept tokens reorders the outputs (positions travel with tokens)
        torch.testing.assert_close(swapped, out[:, perm])
        # the same as running the blocks by hand on the gathered coordinates
        pos = grid_positions((2, 2, 2))[keep]  # [B, K, 3]
        tokens = torch.gather(enc.patch_embed(x), 1, keep[..., None].expand(-1, -1, 192))
        for block in enc.blocks:
            tokens = block(tokens, pos)
        torch.testing.assert_close(out, enc.norm(tokens))
        # a wrong assignment of positions changes the result
        wrong = enc.patch_embed(x).gather(1, keep[..., None].expand(-1, -1, 192))
        for block in enc.blocks:
            wrong = block(wrong, pos[:, perm])
        assert not torch.allclose(out, enc.norm(wrong), atol=1e-4)


def test_rope_encoder_positions_matter():
    """Tubelets 1 and 7 hold the same pixels (same token), at grid positions (0,0,1) and (1,1,1)."""
    enc = _encoder().eval()
    x = torch.randn(1, 3, 4, 32, 32)
    x[:, :, 0:2, 0:16, 16:32] = x[:, :, 2:4, 16:32, 16:32]
    with torch.no_grad():
        tokens = enc.patch_embed(x)
        torch.testing.assert_close(tokens[:, 1], tokens[:, 7])
        near, far = enc(x, torch.tensor([[0, 1]])), enc(x, torch.tensor([[0, 7]]))
    assert (near - far).abs().max() > 1e-3  # only the positions differ


def test_rope_encoder_grad_checkpointing_keeps_outputs_and_grads(monkeypatch):
    calls = []
    real = rope_mod.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(rope_mod, "checkpoint", counting)
    x = torch.randn(2, 3, 4, 32, 32)
    keep = torch.tensor([[0, 2, 5, 7], [1, 3, 4, 6]])
    results = []
    for ckpt in (False, True):
        enc = _encoder().train()
        enc.set_grad_checkpointing(ckpt)
        out = enc(x, keep)
        out.square().mean().backward()
        results.append(
            (out.detach(), enc.patch_embed.proj.weight.grad.clone(), enc.blocks[0].attn.qkv.weight.grad.clone())
        )
    assert len(calls) == 2  # one per block, only in the checkpointed run
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


def test_rope_encoder_conforms():
    enc = _encoder()
    check_encoder(enc, example_input(enc, 2), name="encoder 'video_vit' (pos_embedding='rope')")


# ------------------------------------------------------------------ the predictor
def test_rope_predictor_shapes_state_dict_and_mask_tokens():
    enc = _encoder()
    pred = _predictor(enc)
    assert isinstance(pred, VideoRopePredictor) and isinstance(pred, Predictor)
    assert pred.num_heads == 3 and pred.token_grid == (2, 2, 2)
    assert all(isinstance(b, RopeBlock) for b in pred.predictor_blocks)
    keys = set(pred.state_dict())
    assert {"mask_tokens.0", "mask_tokens.1"} <= keys and "mask_token" not in keys
    assert keys == set(_predictor(enc, "sincos").state_dict()) - {"predictor_pos_embed"}
    assert all(torch.count_nonzero(t) == 0 for t in pred.mask_tokens)  # V-JEPA: zero at init
    ctx_idx, tgt_idx = torch.tensor([[0, 1, 2], [3, 4, 5]]), torch.tensor([[[5, 6], [7, 3]], [[7, 0], [1, 2]]])
    assert pred(torch.randn(2, 3, 192), ctx_idx, tgt_idx, mask_index=1).shape == (4, 2, 192)
    single = _predictor(enc, num_mask_tokens=1)
    assert "mask_token" in single.state_dict() and "mask_tokens.0" not in single.state_dict()


def test_rope_predictor_has_one_learned_token_per_mask_set():
    pred = _predictor().eval()
    with torch.no_grad():
        pred.mask_tokens[1].fill_(0.5)
    ctx, ctx_idx, tgt_idx = torch.randn(1, 3, 192), torch.tensor([[0, 1, 2]]), torch.tensor([[[5, 6]]])
    out0, out1 = (pred(ctx, ctx_idx, tgt_idx, mask_index=i) for i in (0, 1))
    assert not torch.allclose(out0, out1)
    out0.sum().backward()
    assert pred.mask_tokens[0].grad is not None and pred.mask_tokens[1].grad is None  # only the used one learns
    with pytest.raises(ValueError, match="mask_index=2 is out of range: this predictor has 2 mask tokens"):
        pred(ctx, ctx_idx, tgt_idx, mask_index=2)


def test_rope_predictor_rows_are_sample_major():
    pred = _predictor().eval()
    g = torch.Generator().manual_seed(3)
    ctx = torch.randn(2, 4, 192, generator=g)
    ctx_idx = torch.tensor([[0, 2, 4, 6], [1, 3, 5, 7]])
    tgt_idx = torch.tensor([[[1, 3], [5, 7]], [[0, 2], [4, 6]]])
    with torch.no_grad():
        out = pred(ctx, ctx_idx, tgt_idx)
        for b in range(2):
            for m in range(2):  # row b*M + m is sample b's target block m, predicted on its own
                alone = pred(ctx[b : b + 1], ctx_idx[b : b + 1], tgt_idx[b : b + 1, m : m + 1])
                torch.testing.assert_close(out[b * 2 + m], alone[0])


def test_rope_predictor_positions_come_from_context_and_target_indices():
    pred = _predictor().eval()
    with torch.no_grad():
        for p in pred.parameters():  # non-trivial weights: no zero-initialised shortcuts
            p.add_(torch.randn_like(p) * 0.02)
    g = torch.Generator().manual_seed(4)
    ctx, ctx_idx = torch.randn(1, 4, 192, generator=g), torch.tensor([[0, 2, 5, 6]])
    tgt_idx = torch.tensor([[[1, 3, 7]]])
    perm = torch.tensor([3, 1, 0, 2])
    with torch.no_grad():
        out = pred(ctx, ctx_idx, tgt_idx)
        # context tokens carry their own coordinates: reordering tokens with their indices changes nothing
        torch.testing.assert_close(pred(ctx[:, perm], ctx_idx[:, perm], tgt_idx), out)
        # ... while moving the tokens to other coordinates does
        assert not torch.allclose(pred(ctx[:, perm], ctx_idx, tgt_idx), out, atol=1e-4)
        # identical mask tokens at different target coordinates give different predictions
        assert (out[0, 0] - out[0, 1]).abs().max() > 1e-4
        # and reordering the targets reorders the predictions
        torch.testing.assert_close(pred(ctx, ctx_idx, tgt_idx[:, :, [2, 0, 1]]), out[:, [2, 0, 1]])


def test_rope_predictor_grad_checkpointing_keeps_outputs_and_grads():
    ctx, ctx_idx, tgt_idx = (
        torch.randn(2, 3, 192),
        torch.tensor([[0, 1, 2], [3, 4, 5]]),
        torch.tensor([[[6, 7]], [[0, 1]]]),
    )
    results = []
    for ckpt in (False, True):
        pred = _predictor().train()
        pred.set_grad_checkpointing(ckpt)
        out = pred(ctx, ctx_idx, tgt_idx, mask_index=1)
        out.square().mean().backward()
        results.append((out.detach(), pred.predictor_blocks[0].attn.qkv.weight.grad.clone()))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("encoder_pos", ["rope", "sincos"])  # the encoder and predictor choose independently
def test_rope_predictor_conforms(encoder_pos):
    enc = _encoder(encoder_pos)
    pred = _predictor(enc)
    x = example_input(enc, 2)
    masks = random_masks(2, enc.token_grid, torch.Generator().manual_seed(0))
    check_predictor(pred, enc, x, masks, name="predictor 'video_predictor' (pos_embedding='rope')")


# ------------------------------------------------------------------ configuration
def test_bad_pos_embedding_values_raise_clear_errors():
    sentence = (
        r"pos_embedding must be 'sincos' \(additive 3-D sin-cos\) or 'rope' \(3-D rotary, V-JEPA 2\), got 'learned'"
    )
    with pytest.raises(ValueError, match="video ViT " + sentence):
        VideoViTConfig(pos_embedding="learned")
    with pytest.raises(ValueError, match="video predictor " + sentence):
        VideoPredictorConfig(pos_embedding="learned")
    with pytest.raises(ValueError, match=sentence):
        VideoVisionTransformer(img_size=32, num_frames=4, embed_dim=48, depth=1, num_heads=2, pos_embedding="learned")
    narrow = r"head width 4 \(embed_dim=8 / num_heads=2\) is too narrow for 3-D RoPE"
    with pytest.raises(ValueError, match=narrow):
        VideoViTConfig(size="tiny", embed_dim=8, num_heads=2, pos_embedding="rope")
    with pytest.raises(ValueError, match=narrow):
        VideoPredictorConfig(embed_dim=8, num_heads=2, pos_embedding="rope")
    VideoViTConfig(size="tiny", embed_dim=8, num_heads=2)  # fine with sin-cos
    # from the command line: the Literal is checked before the config is built
    assert parse_value("rope", field_types(VideoViTConfig)["pos_embedding"], "encoder.pos_embedding") == "rope"
    assert parse_value("rope", field_types(VideoPredictorConfig)["pos_embedding"], "predictor.pos_embedding") == "rope"
    with pytest.raises(ConfigError, match="'encoder.pos_embedding' must be one of 'sincos', 'rope'"):
        parse_value("alibi", field_types(VideoViTConfig)["pos_embedding"], "encoder.pos_embedding")


def test_defaults_stay_sincos():
    assert VideoViTConfig().pos_embedding == "sincos" and VideoPredictorConfig().pos_embedding == "sincos"
    enc = _encoder("sincos")
    assert "pos_embed" in enc.state_dict() and not any(isinstance(b, RopeBlock) for b in enc.blocks)
    assert not isinstance(_predictor(enc, "sincos"), VideoRopePredictor)
