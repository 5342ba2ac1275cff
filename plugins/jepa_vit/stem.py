"""Patch embeddings of the 2-D ViT: the usual one-convolution ``patch`` stem and a ``conv`` stem of
stacked stride-2 3 x 3 convolutions (Xiao et al., 2021, "Early convolutions help transformers see
better"), which gives a ViT trained on small images the local inductive bias it lacks.

Both map ``[B, C, H, W]`` to tokens ``[B, (H / p) * (W / p), D]`` on the same grid, so masks, token
views and positions do not change. The conv stem runs one 3 x 3 convolution of stride 2 per halving
(``log2(p)`` of them; channel widths ``D / 2^k, ..., D / 2``, each followed by a per-position
LayerNorm and GELU) and a final 1 x 1 projection to ``D``; a token then sees its own patch and the
``p - 1`` pixels above and to the left of it. It costs a few percent of a small ViT's multiply-adds.

Example::

    stem = ConvStem(patch_size=8, in_chans=3, embed_dim=256)
    stem(torch.randn(2, 3, 32, 32)).shape      # [2, 16, 256]
"""

from __future__ import annotations

from timm.layers import LayerNorm2d
from torch import Tensor, nn

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
