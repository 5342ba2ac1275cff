"""Video Vision Transformer for V-JEPA: tubelet embedding, 3-D sin-cos or 3-D RoPE positions, no class token.

A clip ``[B, C, T, H, W]`` is cut into tubelets by a 3-D convolution with kernel = stride =
``(tubelet_size, patch_size, patch_size)``: 16 frames at 224 px with (2, 16, 16) give a grid of
8 x 14 x 14 = 1568 tokens, flattened time-slowest. The transformer blocks, their init and
activation checkpointing are :mod:`jepa_vit.vit`'s (V-JEPA's ViT is I-JEPA's with a 3-D stem).

Positions (``pos_embedding``): ``"sincos"`` (default, V-JEPA) adds a fixed 3-D sin-cos
``pos_embed`` to every token before the kept ones are gathered; ``"rope"`` (V-JEPA 2) adds
nothing and instead rotates queries and keys in every attention layer by each token's
``(t, h, w)`` grid index (:mod:`jepa_video.rope`): the grid coordinates are gathered at ``keep``
together with the tokens, so a kept token keeps its own position. V-JEPA 2 uses RoPE in both
the encoder and the predictor; the two choose independently here.

Example::

    enc = build_video_vit(VideoViTConfig(size="tiny", img_size=32, patch_size=16, num_frames=4, depth=1))
    out = enc(torch.randn(2, 3, 4, 32, 32))                           # [2, 8, 192]  (grid 2 x 2 x 2)
    ctx = enc(torch.randn(2, 3, 4, 32, 32), keep=torch.tensor([[0, 7], [1, 2]]))  # [2, 2, 192]
"""

from __future__ import annotations

import math
from typing import Literal

import attrs
import torch
from torch import nn

from jepa_core.interfaces import gather_tokens
from jepa_core.validators import finite_positive
from jepa_vit.pos_embed import sincos_pos_embed_3d
from jepa_vit.sizes import ViTSize, check_heads, check_known_size, check_size
from jepa_vit.stem import embed_kept_patches
from jepa_vit.vit import init_weights, make_block, norm_layer, run_blocks

from .rope import RopeBlock, check_pos_embedding, check_rope_heads, grid_positions, run_rope_blocks


@attrs.frozen
class VideoViTConfig(ViTSize):
    """Options of the ``video_vit`` encoder. ``depth``/``embed_dim``/``num_heads``/``mlp_ratio``
    override the size.

    ``pos_embedding``: ``"sincos"`` (additive 3-D sin-cos, V-JEPA; the default) or ``"rope"``
    (3-D rotary embedding in every attention layer, V-JEPA 2; heads need >= 6 channels).

    >>> VideoViTConfig(size="large").token_grid
    (8, 14, 14)
    """

    size: str = "large"
    patch_size: int = 16
    tubelet_size: int = 2
    img_size: int = 224
    num_frames: int = 16
    in_chans: int = 3
    drop_path_rate: float = 0.0
    depth: int | None = None
    embed_dim: int | None = None
    num_heads: int | None = None
    pos_embedding: Literal["sincos", "rope"] = "sincos"
    mlp_ratio: float | None = attrs.field(default=None, validator=finite_positive)

    def __attrs_post_init__(self) -> None:
        check_known_size(self.size)
        check_pos_embedding(self.pos_embedding, "video ViT")
        for name in ("patch_size", "tubelet_size", "img_size", "num_frames", "in_chans"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size={self.img_size} is not divisible by patch_size={self.patch_size}")
        if self.num_frames % self.tubelet_size:
            raise ValueError(f"num_frames={self.num_frames} is not divisible by tubelet_size={self.tubelet_size}")
        check_size(self, "video ViT")
        if self.pos_embedding == "rope":
            dim, _, heads, _ = self.resolved()
            check_rope_heads(dim, heads, "video ViT")

    @property
    def token_grid(self) -> tuple[int, int, int]:
        g = self.img_size // self.patch_size
        return (self.num_frames // self.tubelet_size, g, g)


class TubeletEmbed(nn.Module):
    """``[B, C, T, H, W]`` -> ``[B, t*h*w, D]`` by a Conv3d with kernel = stride = tubelet."""

    def __init__(self, patch_size: int, tubelet_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        size = (tubelet_size, patch_size, patch_size)
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=size, stride=size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, D, t, h, w] -> [B, N, D]


class VideoVisionTransformer(nn.Module):
    """Video ViT encoder implementing :class:`jepa_core.interfaces.Encoder`.

    ``forward(x [B, C, T, H, W], keep [B, K] | None) -> [B, K or N, D]``: only the kept tubelets
    are embedded (:func:`~jepa_vit.stem.embed_kept_patches`); with ``pos_embedding="sincos"`` they
    get their positions; with ``"rope"`` their ``(t, h, w)`` coordinates are gathered at ``keep``
    alongside them and every :class:`~jepa_video.rope.RopeBlock` rotates queries/keys by them (no
    ``pos_embed``). Blocks + final norm run on the kept tokens only.

    >>> vit = VideoVisionTransformer(img_size=32, patch_size=16, num_frames=4, embed_dim=48, depth=1, num_heads=2)
    >>> vit(torch.randn(1, 3, 4, 32, 32)).shape
    torch.Size([1, 8, 48])
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        num_frames: int = 16,
        tubelet_size: int = 2,
        in_chans: int = 3,
        embed_dim: int = 1024,
        depth: int = 24,
        num_heads: int = 16,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
        pos_embedding: str = "sincos",
    ) -> None:
        super().__init__()
        check_pos_embedding(pos_embedding, "video ViT")
        if img_size % patch_size or num_frames % tubelet_size:
            raise ValueError(
                f"img_size={img_size} must be divisible by patch_size={patch_size} and "
                f"num_frames={num_frames} by tubelet_size={tubelet_size}"
            )
        check_heads(embed_dim, num_heads, "video ViT")
        if pos_embedding == "rope":
            check_rope_heads(embed_dim, num_heads, "video ViT")
        self.pos_embedding = pos_embedding
        self.img_size, self.patch_size = img_size, patch_size
        self.num_frames, self.tubelet_size = num_frames, tubelet_size
        self.in_chans, self.embed_dim, self.num_heads, self.depth = in_chans, embed_dim, num_heads, depth
        self.token_grid: tuple[int, int, int] = (
            num_frames // tubelet_size,
            img_size // patch_size,
            img_size // patch_size,
        )
        self.grad_checkpointing = False

        self.patch_embed = TubeletEmbed(patch_size, tubelet_size, in_chans, embed_dim)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist() if depth > 0 else []
        if pos_embedding == "rope":  # positions enter every attention layer; no pos_embed buffer
            self.blocks = nn.ModuleList(RopeBlock(embed_dim, num_heads, mlp_ratio, dpr[i]) for i in range(depth))
        else:
            pos = sincos_pos_embed_3d(embed_dim, self.token_grid)  # [N, D]
            self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=True)  # [1, N, D]
            self.blocks = nn.ModuleList(make_block(embed_dim, num_heads, mlp_ratio, dpr[i]) for i in range(depth))
        self.norm = norm_layer(embed_dim)
        self.apply(init_weights)

    @property
    def expected_input_shape(self) -> tuple[int, int, int, int]:
        """Shape of one clip ``(C, T, H, W)``; the core checks the data against it."""
        return (self.in_chans, self.num_frames, self.img_size, self.img_size)

    @property
    def num_tokens(self) -> int:
        return math.prod(self.token_grid)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward (training mode only)."""
        self.grad_checkpointing = enable

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 5 or tuple(x.shape[1:]) != self.expected_input_shape:
            c, t, s = self.in_chans, self.num_frames, self.img_size
            raise ValueError(f"expected clips [B, {c}, {t}, {s}, {s}] (B, C, T, H, W), got {tuple(x.shape)}")
        use_ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        if keep is None:
            x = self.patch_embed(x)  # [B, N, D]
        else:  # only the kept tubelets
            x = embed_kept_patches(x, self.patch_embed.proj, keep)  # [B, K, D]
        if self.pos_embedding == "rope":
            pos = grid_positions(self.token_grid, x.device)  # [N, 3] (t, h, w)
            pos = pos.expand(x.shape[0], -1, -1) if keep is None else pos[keep]  # [B, N or K, 3]
            x = run_rope_blocks(self.blocks, x, pos, use_ckpt)
            return self.norm(x)
        pos_embed = self.pos_embed.to(x.dtype)  # [1, N, D]
        x = x + (pos_embed if keep is None else gather_tokens(pos_embed.expand(x.shape[0], -1, -1), keep))
        x = run_blocks(self.blocks, x, use_ckpt)
        return self.norm(x)


def build_video_vit(cfg: VideoViTConfig) -> VideoVisionTransformer:
    """Build the encoder described by ``cfg``.

    >>> build_video_vit(VideoViTConfig(size="tiny", img_size=32, num_frames=4, depth=1)).token_grid
    (2, 2, 2)
    """
    embed_dim, depth, num_heads, mlp_ratio = cfg.resolved()
    return VideoVisionTransformer(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        num_frames=cfg.num_frames,
        tubelet_size=cfg.tubelet_size,
        in_chans=cfg.in_chans,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        drop_path_rate=cfg.drop_path_rate,
        pos_embedding=cfg.pos_embedding,
    )
