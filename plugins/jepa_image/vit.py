"""Vision Transformer encoder for I-JEPA (no class token, fixed 2-D sin-cos positions).

The state_dict layout matches the released I-JEPA encoder checkpoints (after stripping the
``module.`` prefix): ``patch_embed.proj.*``, ``pos_embed``, ``blocks.{i}.*``, ``norm.*``.

Example::

    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=16, depth=2))
    out = enc(torch.randn(2, 3, 32, 32))                  # [2, 4, 192]
    ctx = enc(torch.randn(2, 3, 32, 32), keep=torch.tensor([[0, 3], [1, 2]]))  # [2, 2, 192]
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import nn
from torch.utils.checkpoint import checkpoint

from jepa_core.interfaces import gather_tokens

from .pos_embed import sincos_pos_embed_2d

# name -> (embed_dim, depth, num_heads, mlp_ratio)
VIT_SIZES: dict[str, tuple[int, int, int, float]] = {
    "tiny": (192, 12, 3, 4.0),
    "small": (384, 12, 6, 4.0),
    "base": (768, 12, 12, 4.0),
    "large": (1024, 24, 16, 4.0),
    "huge": (1280, 32, 16, 4.0),
    "giant": (1408, 40, 16, 48 / 11),
}

norm_layer = functools.partial(nn.LayerNorm, eps=1e-6)


def make_block(dim: int, num_heads: int, mlp_ratio: float, drop_path: float = 0.0) -> Block:
    """One pre-norm transformer block (qkv bias, GELU MLP, LayerNorm eps 1e-6)."""
    return Block(
        dim=dim,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        qkv_bias=True,
        drop_path=drop_path,
        act_layer=nn.GELU,
        norm_layer=norm_layer,
    )


def init_weights(module: nn.Module) -> None:
    """I-JEPA init: trunc-normal(0.02) Linear/Conv weights, zero biases, LayerNorm 1/0 (Conv3d: video tubelets)."""
    # torch's default cut-offs (+-2, absolute) as in the common ViT recipe: ~untruncated.
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, use_checkpoint: bool) -> torch.Tensor:
    """Run ``blocks`` in order, each under activation checkpointing if ``use_checkpoint``."""
    for block in blocks:
        if use_checkpoint:
            x = checkpoint(block, x, use_reentrant=False)
        else:
            x = block(x)
    return x


def check_heads(embed_dim: int, num_heads: int, what: str) -> None:
    """Raise ValueError unless ``embed_dim`` splits into ``num_heads`` heads and suits sin-cos."""
    if num_heads <= 0 or embed_dim % num_heads != 0:
        raise ValueError(f"{what} embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
    if embed_dim % 4 != 0:
        raise ValueError(f"{what} embed_dim={embed_dim} must be divisible by 4 (2-D sin-cos)")


def resolve_size(cfg: Any) -> tuple[int, int, int, float]:
    """``(embed_dim, depth, num_heads, mlp_ratio)`` of a config with ``size`` and the optional
    ``embed_dim``/``depth``/``num_heads`` overrides (the image, video and audio ViT configs)."""
    dim, depth, heads, mlp_ratio = VIT_SIZES[cfg.size]
    return (
        cfg.embed_dim if cfg.embed_dim is not None else dim,
        cfg.depth if cfg.depth is not None else depth,
        cfg.num_heads if cfg.num_heads is not None else heads,
        mlp_ratio,
    )


def check_size(cfg: Any, what: str) -> None:
    """Validate ``size``, the ``depth`` override and the head split of such a config (ValueError)."""
    if cfg.size not in VIT_SIZES:
        raise ValueError(f"unknown ViT size {cfg.size!r}; valid sizes: {sorted(VIT_SIZES)}")
    if cfg.depth is not None and cfg.depth <= 0:
        raise ValueError(f"depth must be positive, got {cfg.depth}")
    dim, _, heads, _ = resolve_size(cfg)
    check_heads(dim, heads, what)


@attrs.frozen
class ViTConfig:
    """Options of the ``vit`` encoder. ``depth``/``embed_dim``/``num_heads`` override the size.

    >>> ViTConfig(size="small", patch_size=14).resolved()
    (384, 12, 6, 4.0)
    """

    size: str = "base"
    patch_size: int = 16
    img_size: int = 224
    in_chans: int = 3
    drop_path_rate: float = 0.0
    depth: int | None = None
    embed_dim: int | None = None
    num_heads: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.size not in VIT_SIZES:
            raise ValueError(f"unknown ViT size {self.size!r}; valid sizes: {sorted(VIT_SIZES)}")
        if self.patch_size <= 0 or self.img_size <= 0:
            raise ValueError(
                f"img_size={self.img_size} and patch_size={self.patch_size} must be positive"
            )
        if self.img_size % self.patch_size != 0:
            raise ValueError(
                f"img_size={self.img_size} is not divisible by patch_size={self.patch_size}"
            )
        check_size(self, "ViT")

    def resolved(self) -> tuple[int, int, int, float]:
        """``(embed_dim, depth, num_heads, mlp_ratio)`` after applying the overrides."""
        return resolve_size(self)


class VisionTransformer(nn.Module):
    """ViT encoder implementing :class:`jepa_core.interfaces.Encoder`.

    ``forward(x [B, C, H, W], keep [B, K] | None) -> [B, K or N, D]``: positions are added to
    every token before the kept ones are gathered, then blocks + final norm run on those only.
    ``img_size`` is a side (square inputs) or ``(H, W)`` (e.g. spectrograms: time x mel bins).

    >>> vit = VisionTransformer(img_size=32, patch_size=16, embed_dim=64, depth=1, num_heads=2)
    >>> vit(torch.randn(1, 3, 32, 32)).shape
    torch.Size([1, 4, 64])
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        height, width = (img_size, img_size) if isinstance(img_size, int) else (int(img_size[0]), int(img_size[1]))
        if height % patch_size or width % patch_size:
            raise ValueError(f"img_size={img_size} is not divisible by patch_size={patch_size}")
        check_heads(embed_dim, num_heads, "ViT")
        self.img_size = img_size
        self.input_hw: tuple[int, int] = (height, width)
        self.in_chans = in_chans
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.depth = depth
        self.token_grid: tuple[int, int] = (height // patch_size, width // patch_size)
        self.grad_checkpointing = False

        self.patch_embed = PatchEmbed(
            img_size=self.input_hw, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim
        )
        pos = sincos_pos_embed_2d(embed_dim, *self.token_grid)  # [N, D]
        self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=True)  # [1, N, D]
        dpr = torch.linspace(0, drop_path_rate, depth).tolist() if depth > 0 else []
        self.blocks = nn.ModuleList(
            make_block(embed_dim, num_heads, mlp_ratio, dpr[i]) for i in range(depth)
        )
        self.norm = norm_layer(embed_dim)
        self.apply(init_weights)

    @property
    def expected_input_shape(self) -> tuple[int, int, int]:
        """Shape of one input sample ``(C, H, W)``; the core checks the data against it."""
        return (self.in_chans, *self.input_hw)

    @property
    def num_tokens(self) -> int:
        return self.token_grid[0] * self.token_grid[1]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward (training mode only)."""
        self.grad_checkpointing = enable

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        expected = (self.in_chans, *self.input_hw)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected input [B, {self.in_chans}, {self.input_hw[0]}, {self.input_hw[1]}], "
                f"got {tuple(x.shape)}"
            )
        x = self.patch_embed(x)  # [B, N, D]
        x = x + self.pos_embed.to(x.dtype)
        if keep is not None:
            x = gather_tokens(x, keep)  # [B, K, D]
        use_ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        x = run_blocks(self.blocks, x, use_ckpt)
        return self.norm(x)


def build_vit(cfg: ViTConfig) -> VisionTransformer:
    """Build the encoder described by ``cfg``.

    >>> build_vit(ViTConfig(size="tiny", img_size=32, depth=1)).token_grid
    (2, 2)
    """
    embed_dim, depth, num_heads, mlp_ratio = cfg.resolved()
    return VisionTransformer(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        drop_path_rate=cfg.drop_path_rate,
    )
