"""Fixed 3-D sin-cos positional embeddings for tubelet grids ``(t, h, w)`` (V-JEPA layout).

Each axis gets ``d = 2 * ceil(D / 6)`` channels holding ``[sin(p * w_k), cos(p * w_k)]`` with
``w_k = 10000^(-2k/d)`` and ``p`` the integer grid index (time counted in tubelets); the three
blocks are concatenated time, height, width and cut to ``D``. Tokens are flattened time-slowest:
index = ``(ti * h + hi) * w + wi``.

Example::

    pe = sincos_pos_embed_3d(96, (2, 4, 4))  # [32, 96]
"""

from __future__ import annotations

import math

import torch

from jepa_image.pos_embed import sincos_pos_embed_1d


def sincos_pos_embed_3d(embed_dim: int, grid: tuple[int, int, int]) -> torch.Tensor:
    """3-D sin-cos embedding ``[t * h * w, embed_dim]`` (float32).

    >>> sincos_pos_embed_3d(8, (2, 3, 4)).shape
    torch.Size([24, 8])
    """
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f"a 3-D sin-cos embedding needs a grid (t, h, w) of positive sizes, got {tuple(grid)}")
    if embed_dim < 1:
        raise ValueError(f"embed_dim must be positive, got {embed_dim}")
    t, h, w = (int(g) for g in grid)
    per_axis = 2 * math.ceil(embed_dim / 6)
    ti, hi, wi = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    blocks = [sincos_pos_embed_1d(per_axis, axis.reshape(-1)) for axis in (ti, hi, wi)]  # 3 x [N, d]
    return torch.cat(blocks, dim=1)[:, :embed_dim]
