"""Patch embeddings of the 2-D ViT: the usual one-convolution ``patch`` stem and a ``conv`` stem of
stacked stride-2 3 x 3 convolutions (Xiao et al., 2021, "Early convolutions help transformers see
better"), which gives a ViT trained on small images the local inductive bias it lacks.

Both map ``[B, C, H, W]`` to tokens ``[B, (H / p) * (W / p), D]`` on the same grid, so masks, token
views and positions do not change. The conv stem runs one 3 x 3 convolution of stride 2 per halving
(``log2(p)`` of them; channel widths ``D / 2^k, ..., D / 2``, each followed by a per-position
LayerNorm and GELU) and a final 1 x 1 projection to ``D``; a token then sees its own patch and the
``p - 1`` pixels above and to the left of it. It costs a few percent of a small ViT's multiply-adds.

With a token subset (a context, a token view), :func:`embed_kept_patches` embeds only the kept
patches of the one-convolution stem, 2-D or 3-D (video tubelets), as one matrix product.

Example::

    stem = ConvStem(patch_size=8, in_chans=3, embed_dim=256)
    stem(torch.randn(2, 3, 32, 32)).shape      # [2, 16, 256]
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from timm.layers import LayerNorm2d
from torch import Tensor, nn

from jepa_core.interfaces import gather_tokens

STEMS = ("patch", "conv")


def check_stem(stem: str, patch_size: int) -> None:
    """Reject an unknown stem, or a conv stem whose patch size is not a power of two (>= 2).

    >>> check_stem("conv", 8)
    >>> check_stem("conv", 14)
    Traceback (most recent call last):
    ...
    ValueError: stem='conv' needs a patch_size that is a power of two (2, 4, 8, 16, ...), got 14
    """
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; valid: {', '.join(STEMS)}")
    if stem == "conv" and (patch_size < 2 or patch_size & (patch_size - 1)):
        raise ValueError(f"stem='conv' needs a patch_size that is a power of two (2, 4, 8, 16, ...), got {patch_size}")


class ConvStem(nn.Module):
    """Stride-2 3 x 3 convolutions down to the patch grid, then a 1 x 1 projection to ``embed_dim``.

    >>> import torch
    >>> ConvStem(patch_size=4, in_chans=1, embed_dim=64)(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 16, 64])
    """

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        check_stem("conv", patch_size)
        halvings = patch_size.bit_length() - 1
        widths = [max(embed_dim >> (halvings - i), 8) for i in range(halvings)]  # D/2^k ... D/2
        layers: list[nn.Module] = []
        channels = in_chans
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, kernel_size=3, stride=2, padding=1, bias=False),
                LayerNorm2d(width, eps=1e-6),
                nn.GELU(),
            ]
            channels = width
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(channels, embed_dim, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.proj(self.convs(x))  # [B, D, H / p, W / p]
        return x.flatten(2).transpose(1, 2)  # [B, N, D]


def embed_kept_patches(x: Tensor, proj: nn.Conv2d | nn.Conv3d, keep: Tensor) -> Tensor:
    """The tokens ``[B, K, D]`` at ``keep [B, K]`` of ``proj`` (a convolution whose kernel equals
    its stride) applied to ``x [B, C, *S]``: the same numbers as gathering ``keep`` from the
    convolution's flattened output, up to rounding, from the kept patches alone (a context or
    token view that keeps a quarter of the patches costs a quarter of the embedding).

    >>> import torch
    >>> conv = nn.Conv2d(3, 8, kernel_size=4, stride=4)
    >>> x, keep = torch.randn(2, 3, 8, 16), torch.tensor([[0, 7], [5, 2]])
    >>> full = conv(x).flatten(2).transpose(1, 2)   # [2, 8, 8]
    >>> torch.allclose(embed_kept_patches(x, conv, keep), gather_tokens(full, keep), atol=1e-6)
    True
    """
    kernel = tuple(proj.kernel_size)
    if tuple(proj.stride) != kernel or any(p != 0 for p in proj.padding) or proj.groups != 1:
        raise ValueError(f"expected a convolution with stride = kernel, no padding and one group, got {proj}")
    b, c, *sizes = x.shape
    grid = [s // k for s, k in zip(sizes, kernel, strict=True)]
    split = [d for g, k in zip(grid, kernel, strict=True) for d in (g, k)]  # [g0, k0, g1, k1, ...]
    dims = len(kernel)
    order = [0, *(2 + 2 * i for i in range(dims)), 1, *(3 + 2 * i for i in range(dims))]
    patches = x.reshape(b, c, *split).permute(order)  # [B, *grid, C, *kernel]
    patches = patches.reshape(b, math.prod(grid), c * math.prod(kernel))  # [B, N, C * prod(kernel)]
    weight = proj.weight.reshape(proj.out_channels, -1)  # [D, C * prod(kernel)]
    return F.linear(gather_tokens(patches, keep), weight, proj.bias)  # [B, K, D]
