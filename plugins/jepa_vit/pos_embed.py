"""Fixed sin-cos positional embeddings: 1-D positions, 2-D grids (MAE layout), 3-D tubelet grids (V-JEPA).

For a 2-D grid ``(gh, gw)`` the first ``D/2`` channels encode the COLUMN index and the last
``D/2`` the ROW index; each half is ``[sin(pos * omega), cos(pos * omega)]`` with
``omega_i = 1 / 10000^(i / (D/4))``. Tokens are row-major: index = ``row * gw + col``.

For a 3-D grid ``(t, h, w)`` each axis gets ``d = 2 * ceil(D / 6)`` channels holding
``[sin(p * w_k), cos(p * w_k)]`` with ``w_k = 10000^(-2k/d)`` and ``p`` the integer grid index
(time counted in tubelets); the three blocks are concatenated time, height, width and cut to
``D``. Tokens are flattened time-slowest: index = ``(ti * h + hi) * w + wi``.

Example::

    pe = sincos_pos_embed_2d(64, 4, 4)          # [16, 64]
    pe = sincos_pos_embed_3d(96, (2, 4, 4))     # [32, 96]
"""

from __future__ import annotations

import math

import torch


def sincos_pos_embed_1d(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Embed scalar positions ``[P]`` as ``[P, embed_dim]`` = ``[sin(pos*omega), cos(pos*omega)]``.

    ``omega_i = 1 / 10000^(i / (embed_dim/2))`` for ``i = 0 .. embed_dim/2 - 1``.

    >>> sincos_pos_embed_1d(4, torch.arange(3)).shape
    torch.Size([3, 4])
    """
    if embed_dim % 2 != 0:
        raise ValueError(f"1-D sin-cos embed_dim must be even, got {embed_dim}")
    half = embed_dim // 2
    omega = torch.arange(half, dtype=torch.float64) / half
    omega = 1.0 / 10000.0**omega  # [D/2]
    pos = positions.reshape(-1).to(torch.float64)  # [P]
    angles = pos[:, None] * omega[None, :]  # [P, D/2]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).to(torch.float32)


def sincos_pos_embed_2d(embed_dim: int, grid_h: int, grid_w: int) -> torch.Tensor:
    """2-D sin-cos embedding ``[grid_h * grid_w, embed_dim]`` (float32), MAE layout.

    Channels ``[0, D/2)`` encode the column index, ``[D/2, D)`` the row index.

    >>> sincos_pos_embed_2d(8, 2, 3).shape
    torch.Size([6, 8])
    """
    if embed_dim % 4 != 0:
        raise ValueError(f"2-D sin-cos embed_dim must be divisible by 4, got {embed_dim}")
    rows = torch.arange(grid_h).repeat_interleave(grid_w)  # [N] row of token row*gw+col
    cols = torch.arange(grid_w).repeat(grid_h)  # [N]
    emb_col = sincos_pos_embed_1d(embed_dim // 2, cols)  # [N, D/2]
    emb_row = sincos_pos_embed_1d(embed_dim // 2, rows)  # [N, D/2]
    return torch.cat([emb_col, emb_row], dim=1)


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
