"""The video ViT (tubelets, 3-D sin-cos) and the V-JEPA predictor (one mask token per mask set)."""

from __future__ import annotations

import attrs
import pytest
import torch

from jepa_core.interfaces import Encoder, Predictor
from jepa_video.predictor import VideoPredictorConfig, build_video_predictor
from jepa_video.video_vit import VideoVisionTransformer, VideoViTConfig, build_video_vit
from jepa_vit.pos_embed import sincos_pos_embed_3d
from jepa_vit.predictor import ViTPredictor

CFG = VideoViTConfig(size="tiny", img_size=32, patch_size=16, num_frames=4, depth=1)  # grid (2, 2, 2)


def _encoder() -> VideoVisionTransformer:
    torch.manual_seed(0)
    return build_video_vit(CFG)


# -------------------------------------------------------------------- encoder
def test_tubelets_and_shapes():
    enc = _encoder()
    assert isinstance(enc, Encoder) and enc.token_grid == (2, 2, 2) and enc.num_tokens == 8
    assert enc.expected_input_shape == (3, 4, 32, 32)
    assert enc.patch_embed.proj.kernel_size == (2, 16, 16) and enc.patch_embed.proj.stride == (2, 16, 16)
    x = torch.randn(2, 3, 4, 32, 32)
    assert enc(x).shape == (2, 8, 192)
    assert enc(x, keep=torch.tensor([[0, 7, 3], [1, 2, 5]])).shape == (2, 3, 192)
    assert VideoViTConfig().token_grid == (8, 14, 14)  # 16 frames at 224: 1568 tokens


def test_tokens_are_flattened_time_slowest():
    enc = _encoder().eval()
    x = torch.zeros(1, 3, 4, 32, 32)
    x[:, :, 2:4, 16:32, 0:16] = 1.0  # second tubelet in time, bottom-left patch: (1, 1, 0) -> (1*2+1)*2+0 = 6
    with torch.no_grad():
        emb = enc.patch_embed(x) - enc.patch_embed(torch.zeros_like(x))  # [1, 8, D]
    changed = emb.abs().sum(-1)[0].nonzero().flatten().tolist()
    assert changed == [6]


def test_keep_gathers_after_positions():
    enc = _encoder().eval()
    x = torch.randn(2, 3, 4, 32, 32)
    keep = torch.tensor([[3, 1], [6, 0]])
    with torch.no_grad():
        full = enc(x, keep=torch.arange(8).expand(2, 8))
        torch.testing.assert_close(full, enc(x))  # the kept tubelets' product rounds unlike the convolution
        part = enc(x, keep=keep)
        # position matters: same tokens fed at other positions differ
        tokens = enc.patch_embed(x)
        manual = torch.gather(tokens + enc.pos_embed, 1, keep[..., None].expand(-1, -1, 192))
        for block in enc.blocks:
            manual = block(manual)
        torch.testing.assert_close(part, enc.norm(manual))


def test_state_dict_keys_and_init():
    enc = _encoder()
    keys = set(enc.state_dict())
    assert {"patch_embed.proj.weight", "patch_embed.proj.bias", "pos_embed", "norm.weight"} <= keys
    assert enc.state_dict()["pos_embed"].shape == (1, 8, 192)
    w = enc.patch_embed.proj.weight
    assert w.shape == (192, 3, 2, 16, 16) and abs(w.std().item() - 0.02) < 0.002  # trunc-normal(0.02)
    assert torch.count_nonzero(enc.patch_embed.proj.bias) == 0


def test_bad_inputs_and_configs_raise():
    enc = _encoder()
    with pytest.raises(ValueError, match=r"expected clips \[B, 3, 4, 32, 32\]"):
        enc(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="num_frames=5 is not divisible by tubelet_size=2"):
        VideoViTConfig(num_frames=5)
    with pytest.raises(ValueError, match="img_size=30 is not divisible by patch_size=16"):
        VideoViTConfig(img_size=30)
    with pytest.raises(ValueError, match="unknown ViT size"):
        VideoViTConfig(size="colossal")
    with pytest.raises(ValueError, match="mlp_ratio must be a finite number > 0, got inf"):
        VideoViTConfig(mlp_ratio=float("inf"))


def test_mlp_ratio_overrides_the_sizes_hidden_width():
    enc = build_video_vit(attrs.evolve(CFG, mlp_ratio=3.0))
    assert enc.blocks[0].mlp.fc1.out_features == 576 and _encoder().blocks[0].mlp.fc1.out_features == 768


def test_grad_checkpointing_keeps_outputs_and_grads():
    x = torch.randn(2, 3, 4, 32, 32)
    results = []
    for ckpt in (False, True):
        enc = _encoder()
        enc.set_grad_checkpointing(ckpt)
        out = enc(x)
        out.square().mean().backward()
        results.append((out.detach(), enc.patch_embed.proj.weight.grad.clone()))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


# ------------------------------------------------------------------ predictor
def _predictor(**kw) -> ViTPredictor:
    torch.manual_seed(1)
    return build_video_predictor(VideoPredictorConfig(embed_dim=48, depth=1, **kw), _encoder())


def test_predictor_shapes_positions_and_mask_tokens():
    pred = _predictor()
    assert isinstance(pred, Predictor) and pred.num_heads == 3 and pred.token_grid == (2, 2, 2)
    torch.testing.assert_close(pred.predictor_pos_embed[0], sincos_pos_embed_3d(48, (2, 2, 2)))
    keys = set(pred.state_dict())
    assert {"mask_tokens.0", "mask_tokens.1"} <= keys and "mask_token" not in keys
    assert all(torch.count_nonzero(t) == 0 for t in pred.mask_tokens)  # V-JEPA: zero at init
    ctx, ctx_idx, tgt_idx = (
        torch.randn(2, 3, 192),
        torch.tensor([[0, 1, 2], [3, 4, 5]]),
        torch.tensor([[[5, 6]], [[7, 0]]]),
    )
    assert pred(ctx, ctx_idx, tgt_idx, mask_index=1).shape == (2, 2, 192)


def test_each_mask_set_has_its_own_learned_token():
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


def test_predictor_needs_a_3d_encoder_and_valid_options():
    from jepa_image.vit import ViTConfig, build_vit

    with pytest.raises(ValueError, match="3-D token grid"):
        build_video_predictor(
            VideoPredictorConfig(embed_dim=48, depth=1), build_vit(ViTConfig(size="tiny", img_size=32, depth=1))
        )
    with pytest.raises(ValueError, match="num_mask_tokens must be >= 1"):
        VideoPredictorConfig(num_mask_tokens=0)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        VideoPredictorConfig(embed_dim=50, num_heads=3)
