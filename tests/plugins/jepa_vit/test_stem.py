"""The ViT's patch embeddings: the conv stem's grid, locality, gradients and the checks of its options;
the kept patches embedded alone."""

from __future__ import annotations

import pytest
import torch

from jepa_core.errors import ConfigError
from jepa_core.interfaces import gather_tokens
from jepa_image.vit import ViTConfig, build_vit
from jepa_vit.stem import ConvStem, check_stem, embed_kept_patches
from jepa_vit.timm_export import timm_spec
from jepa_vit.vit import VisionTransformer


@pytest.mark.parametrize("patch", [2, 4, 8, 16])
def test_conv_stem_gives_the_patch_stems_token_grid(patch: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 64)
    conv = VisionTransformer(img_size=(32, 64), patch_size=patch, embed_dim=32, depth=1, num_heads=2, stem="conv")
    plain = VisionTransformer(img_size=(32, 64), patch_size=patch, embed_dim=32, depth=1, num_heads=2)
    assert conv(x).shape == plain(x).shape == (2, (32 // patch) * (64 // patch), 32)
    assert conv.token_grid == plain.token_grid
    assert len(conv.patch_embed.convs) == 3 * (patch.bit_length() - 1)


def test_conv_stem_tokens_see_only_their_neighbourhood() -> None:
    """A token sees its own patch and the p - 1 pixels above and to the left of it (p = 8: 15 x 15 px)."""
    torch.manual_seed(0)
    stem = ConvStem(patch_size=8, in_chans=1, embed_dim=32).eval()
    x = torch.randn(1, 1, 32, 32)
    y = x.clone()
    y[0, 0, 8, 8] += 10.0  # the top-left pixel of token 5's patch
    changed = (stem(x) - stem(y)).abs().amax(-1)[0] > 1e-6  # [16]
    assert torch.nonzero(changed).flatten().tolist() == [5]
    y = x.clone()
    y[0, 0, 7, 7] += 10.0  # the bottom-right pixel of token 0's patch is also seen by tokens 1, 4 and 5
    changed = (stem(x) - stem(y)).abs().amax(-1)[0] > 1e-6
    assert torch.nonzero(changed).flatten().tolist() == [0, 1, 4, 5]


def test_conv_stem_trains_and_keeps_token_subsets() -> None:
    torch.manual_seed(0)
    vit = build_vit(ViTConfig(size="tiny", patch_size=8, img_size=32, depth=1, embed_dim=64, num_heads=2, stem="conv"))
    keep = torch.tensor([[0, 5, 15], [2, 3, 4]])
    out = vit(torch.randn(2, 3, 32, 32), keep=keep)
    assert out.shape == (2, 3, 64)
    out.square().mean().backward()
    grads = [p.grad for p in vit.patch_embed.parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_unknown_stem_and_odd_patch_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown stem 'cnn'; valid: patch, conv"):
        ViTConfig(size="tiny", patch_size=16, img_size=32, stem="cnn")
    with pytest.raises(ValueError, match="power of two.*got 14"):
        ViTConfig(size="tiny", patch_size=14, img_size=28, stem="conv")
    check_stem("patch", 14)  # any patch size suits the one-convolution stem


def test_timm_export_refuses_a_conv_stem() -> None:
    vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, stem="conv")
    with pytest.raises(ConfigError, match="patch stem only.*stem='conv'"):
        timm_spec(vit)


@pytest.mark.parametrize(
    "conv, shape",
    [
        (torch.nn.Conv2d(3, 16, kernel_size=4, stride=4), (2, 3, 8, 12)),
        (torch.nn.Conv2d(1, 16, kernel_size=(4, 2), stride=(4, 2)), (2, 1, 16, 8)),
        (torch.nn.Conv3d(3, 16, kernel_size=(2, 4, 4), stride=(2, 4, 4)), (2, 3, 4, 8, 8)),
    ],
)
def test_kept_patches_embed_as_the_convolution_then_the_gather(conv: torch.nn.Module, shape: tuple[int, ...]) -> None:
    """The tokens and every gradient (input, weight, bias) match convolving all patches and gathering."""
    torch.manual_seed(0)
    x = torch.randn(*shape, requires_grad=True)
    n = conv(x).flatten(2).shape[-1]
    keep = torch.stack([torch.randperm(n)[: n // 2] for _ in range(shape[0])])  # [B, K]
    full = gather_tokens(conv(x).flatten(2).transpose(1, 2), keep)
    kept = embed_kept_patches(x, conv, keep)
    torch.testing.assert_close(kept, full, rtol=1e-5, atol=1e-6)
    weights = torch.randn_like(full)
    want = torch.autograd.grad((full * weights).sum(), [x, conv.weight, conv.bias])
    got = torch.autograd.grad((kept * weights).sum(), [x, conv.weight, conv.bias])
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


def test_kept_patches_refuse_an_overlapping_convolution() -> None:
    conv = torch.nn.Conv2d(3, 8, kernel_size=4, stride=2)
    with pytest.raises(ValueError, match="stride = kernel"):
        embed_kept_patches(torch.randn(1, 3, 8, 8), conv, torch.zeros(1, 2, dtype=torch.long))


def test_the_encoder_with_kept_tokens_runs_its_blocks_on_the_gathered_tokens() -> None:
    torch.manual_seed(0)
    vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2).eval()
    x, keep = torch.randn(3, 3, 32, 32), torch.tensor([[0, 5, 15], [3, 2, 1], [9, 9, 4]])
    tokens = gather_tokens(vit.patch_embed(x) + vit.pos_embed, keep)
    for block in vit.blocks:
        tokens = block(tokens)
    torch.testing.assert_close(vit(x, keep), vit.norm(tokens), rtol=1e-5, atol=1e-5)
