"""3-D rotary position embedding (RoPE) for video tokens: V-JEPA 2's "3-D RoPE in attention".

Instead of adding a position vector to every token, each attention layer rotates its queries
and keys by angles that grow with the token's grid position ``(t, h, w)`` (time counted in
tubelets), so the score ``q_i . k_j`` depends on the positions only through ``p_i - p_j``.

Layout (this project's documented interpretation; the V-JEPA 2 facts do not fix the split).
For one attention head of width ``dh``:

- ``d_axis = 2 * floor(dh / 6)`` channels per axis; the head's channels are three contiguous
  groups ``[0, d_axis)`` time, ``[d_axis, 2 d_axis)`` height, ``[2 d_axis, 3 d_axis)`` width;
  the remaining ``dh - 3 d_axis`` channels (0 to 5 of them) are left unrotated.
- Inside a group of width ``d = d_axis`` with ``half = d / 2``, channels are paired "rotate
  half" style (GPT-NeoX / LLaMA-HF): channel ``k`` with channel ``k + half``, for
  ``k = 0 .. half - 1``. Pair ``k`` is rotated by the angle ``p * theta_k`` with
  ``theta_k = 10000^(-2k / d)`` and ``p`` the token's integer index along that axis:
  ``(x_k, x_{k+half}) -> (x_k cos - x_{k+half} sin, x_{k+half} cos + x_k sin)``.

RoPE is applied to queries and keys only, after the fused qkv projection and before
``scaled_dot_product_attention``; values are untouched and no additive position embedding is
used. The rotation is computed in (at least) float32 and cast back to the input dtype.

:class:`RopeBlock` is a pre-norm transformer block whose parameter names match timm's ``Block``
(``norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``), so a RoPE model's
state dict is the sin-cos model's minus its ``pos_embed`` buffer. Its ``forward(x, positions)``
takes per-sample positions ``[B, N, 3]`` because the kept / context tokens differ per sample.

Example::

    pos = grid_positions((2, 2, 2))                       # [8, 3]: (t, h, w) of each token, time-slowest
    block = RopeBlock(dim=48, num_heads=2)
    y = block(torch.randn(2, 8, 48), pos.expand(2, -1, -1))  # [2, 8, 48]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp
from torch import nn
from torch.utils.checkpoint import checkpoint

from jepa_vit.vit import norm_layer

ROPE_BASE = 10000.0
POS_EMBEDDINGS = ("sincos", "rope")


def check_pos_embedding(value: str, what: str) -> None:
    """Raise ValueError unless ``value`` is one of :data:`POS_EMBEDDINGS`."""
    if value not in POS_EMBEDDINGS:
        raise ValueError(
            f"{what} pos_embedding must be 'sincos' (additive 3-D sin-cos) or 'rope' (3-D rotary, V-JEPA 2), "
            f"got {value!r}"
        )


def rope_axis_dim(head_dim: int) -> int:
    """Channels rotated per axis, ``2 * floor(head_dim / 6)``.

    >>> rope_axis_dim(64), rope_axis_dim(16), rope_axis_dim(6)
    (20, 4, 2)
    """
    return 2 * (int(head_dim) // 6)


def check_rope_heads(embed_dim: int, num_heads: int, what: str) -> None:
    """Raise ValueError unless each head is wide enough for 3-D RoPE (at least 6 channels)."""
    if num_heads <= 0 or embed_dim % num_heads:
        raise ValueError(f"{what} embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
    head_dim = embed_dim // num_heads
    if rope_axis_dim(head_dim) < 2:
        raise ValueError(
            f"{what} head width {head_dim} (embed_dim={embed_dim} / num_heads={num_heads}) is too narrow for "
            "3-D RoPE: each head needs at least 6 channels (one rotated pair per axis)"
        )


def grid_positions(grid: tuple[int, int, int], device: torch.device | str | None = None) -> torch.Tensor:
    """``(t, h, w)`` integer coordinates ``[t*h*w, 3]`` (long) of a grid's tokens, flattened time-slowest.

    >>> grid_positions((2, 1, 2)).tolist()
    [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1]]
    """
    if len(grid) != 3 or min(grid) < 1:
        raise ValueError(f"3-D RoPE needs a grid (t, h, w) of positive sizes, got {tuple(grid)}")
    axes = [torch.arange(int(g), device=device) for g in grid]
    t, h, w = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([t, h, w], dim=-1).reshape(-1, 3)


def rope_3d_angles(positions: torch.Tensor, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of the rotation angles, each ``[..., N, 3, d_axis / 2]`` float32.

    ``positions [..., N, 3]`` are integer ``(t, h, w)`` grid indices; entry ``[..., n, a, k]`` is
    the angle ``positions[..., n, a] * 10000^(-2k / d_axis)`` of axis ``a``'s pair ``k``.

    >>> cos, sin = rope_3d_angles(torch.tensor([[1, 0, 2]]), head_dim=16)   # d_axis = 4
    >>> cos.shape, round(sin[0, 0, 0].item(), 4), round(sin[0, 2, 1].item(), 4)
    (torch.Size([1, 3, 2]), 0.8415, 0.02)
    """
    if positions.shape[-1] != 3:
        raise ValueError(f"3-D RoPE positions must be [..., N, 3] (t, h, w), got {tuple(positions.shape)}")
    d_axis = rope_axis_dim(head_dim)
    if d_axis < 2:
        raise ValueError(f"3-D RoPE needs a head width of at least 6 channels, got {head_dim}")
    k = torch.arange(d_axis // 2, device=positions.device, dtype=torch.float32)
    inv_freq = ROPE_BASE ** (-2.0 * k / d_axis)  # [half]
    angles = positions.to(torch.float32).unsqueeze(-1) * inv_freq  # [..., N, 3, half]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x [B, H, N, dh]`` by the angles of :func:`rope_3d_angles` (documented layout).

    ``cos``/``sin`` are ``[N, 3, half]`` (shared by the batch) or ``[B, N, 3, half]`` (per sample);
    they are broadcast over the heads. Channels past ``3 * d_axis`` pass through unchanged.
    """
    half = cos.shape[-1]
    d_axis = 2 * half
    if x.shape[-1] < 3 * d_axis:
        raise ValueError(f"apply_rope: head width {x.shape[-1]} is smaller than 3 * {d_axis} rotated channels")
    if cos.ndim == 4:  # per sample: [B, N, 3, half] -> [B, 1, N, 3, half]
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    work = torch.promote_types(x.dtype, torch.float32)  # bf16/fp16 are rotated in float32
    rot = x[..., : 3 * d_axis].to(work).unflatten(-1, (3, 2, half))  # [B, H, N, axis, pair half, k]
    x1, x2 = rot.unbind(-2)
    cos, sin = cos.to(work), sin.to(work)
    out = torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-2).flatten(-3).to(x.dtype)
    if x.shape[-1] == 3 * d_axis:
        return out
    return torch.cat((out, x[..., 3 * d_axis :]), dim=-1)


class RopeAttention(nn.Module):
    """Multi-head self-attention with 3-D RoPE on queries and keys.

    Parameters are named like timm's ``Attention`` (``qkv``, ``proj``), and like it the
    ``fused_attn`` flag picks fused SDPA (default) or the explicit softmax(q k^T) v product
    (set by :func:`jepa_core.parallel.set_fused_attention`).
    """

    fused_attn = True

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0
    ) -> None:
        super().__init__()
        check_rope_heads(dim, num_heads, "RoPE attention")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        if positions.shape[-2:] != (n, 3):
            raise ValueError(f"positions must be [B, {n}, 3] or [{n}, 3] for {n} tokens, got {tuple(positions.shape)}")
        cos, sin = rope_3d_angles(positions, self.head_dim)
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, H, N, dh]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        drop = self.attn_drop if self.training else 0.0
        if self.fused_attn:
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = ((q * self.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)  # [B, H, N, N]
            x = F.dropout(attn, drop) @ v
        x = x.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(x))


class RopeBlock(nn.Module):
    """Pre-norm transformer block with :class:`RopeAttention`: ``x + attn(norm1(x)); x + mlp(norm2(x))``.

    LayerNorm eps 1e-6, qkv bias, GELU MLP of width ``mlp_ratio * dim``, optional drop path;
    parameter names equal timm's ``Block``. ``forward(x [B, N, D], positions [B, N, 3] long)``.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = RopeAttention(dim, num_heads, qkv_bias=True)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.attn(self.norm1(x), positions))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


def run_rope_blocks(
    blocks: nn.ModuleList, x: torch.Tensor, positions: torch.Tensor, use_checkpoint: bool
) -> torch.Tensor:
    """:func:`jepa_vit.vit.run_blocks` for blocks taking ``(x, positions)``."""
    for block in blocks:
        if use_checkpoint:
            x = checkpoint(block, x, positions, use_reentrant=False)
        else:
            x = block(x, positions)
    return x
