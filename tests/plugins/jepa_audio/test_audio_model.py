"""The spectrogram ViT: the image ViT on [1, T, F] log-mel inputs, time-major token grid."""

from __future__ import annotations

import pytest
import torch

from jepa_audio.spectrogram_vit import SpectrogramViTConfig, build_spectrogram_vit
from jepa_core.interfaces import Encoder
from jepa_vit.pos_embed import sincos_pos_embed_2d
from jepa_vit.predictor import PredictorConfig, build_predictor


def test_a_10_second_clip_is_a_64_x_8_grid():
    cfg = SpectrogramViTConfig()
    assert cfg.token_grid == (64, 8) and cfg.resolved()[:3] == (768, 12, 12)


def test_time_is_the_slow_axis_and_positions_are_2d_sincos():
    torch.manual_seed(0)
    enc = build_spectrogram_vit(SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=1))
    assert isinstance(enc, Encoder) and enc.token_grid == (4, 2) and enc.expected_input_shape == (1, 64, 32)
    torch.testing.assert_close(enc.pos_embed[0], sincos_pos_embed_2d(192, 4, 2))
    x = torch.zeros(1, 1, 64, 32)
    x[:, :, 16:32, 16:32] = 1.0  # second time patch, upper mel patch: token 1 * 2 + 1 = 3
    with torch.no_grad():
        changed = (enc.patch_embed(x) - enc.patch_embed(torch.zeros_like(x))).abs().sum(-1)[0]
    assert changed.nonzero().flatten().tolist() == [3]
    assert enc(torch.randn(2, 1, 64, 32), keep=torch.tensor([[0, 7], [3, 4]])).shape == (2, 2, 192)


def test_the_image_predictor_serves_the_rectangular_grid():
    torch.manual_seed(0)
    enc = build_spectrogram_vit(SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=1))
    pred = build_predictor(PredictorConfig(embed_dim=48, depth=1), enc)
    torch.testing.assert_close(pred.predictor_pos_embed[0], sincos_pos_embed_2d(48, 4, 2))
    ctx_idx, tgt_idx = torch.tensor([[0, 1, 2]]), torch.tensor([[[5, 6], [7, 4]]])
    assert pred(enc(torch.randn(1, 1, 64, 32), ctx_idx), ctx_idx, tgt_idx).shape == (2, 2, 192)


def test_bad_configs_name_the_value():
    with pytest.raises(ValueError, match="num_mels=100 is not divisible by patch_size=16"):
        SpectrogramViTConfig(num_mels=100)
    with pytest.raises(ValueError, match="num_frames must be positive"):
        SpectrogramViTConfig(num_frames=0)
    with pytest.raises(ValueError, match="unknown ViT size"):
        SpectrogramViTConfig(size="mega")
    with pytest.raises(ValueError, match="mlp_ratio must be a finite number > 0, got -1.0"):
        SpectrogramViTConfig(mlp_ratio=-1.0)
    with pytest.raises(ValueError, match="spectrogram ViT mlp_ratio=0.001 gives no MLP width for embed_dim=768"):
        SpectrogramViTConfig(mlp_ratio=0.001)


def test_mlp_ratio_overrides_the_sizes_hidden_width():
    cfg = SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=1, mlp_ratio=2.0)
    assert build_spectrogram_vit(cfg).blocks[0].mlp.fc1.out_features == 384
