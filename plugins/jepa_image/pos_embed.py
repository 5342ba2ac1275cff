"""Fixed sin-cos positional embeddings (MAE layout).

For a 2-D grid ``(gh, gw)`` the first ``D/2`` channels encode the COLUMN index and the last
``D/2`` the ROW index; each half is ``[sin(pos * omega), cos(pos * omega)]`` with
``omega_i = 1 / 10000^(i / (D/4))``. Tokens are row-major: index = ``row * gw + col``.

Example::

    pe = sincos_pos_embed_2d(64, 4, 4)  # [16, 64]
"""

from __future__ import annotations

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
