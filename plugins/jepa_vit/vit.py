"""The Vision Transformer of I-JEPA: its transformer blocks and the 2-D encoder (no class
token, fixed 2-D sin-cos positions).

The blocks (pre-norm timm ``Block``, I-JEPA init, optional activation checkpointing) serve
every encoder and predictor of the plugins; the encoder is the image plugin's ``vit`` and the
audio plugin's ``spectrogram_vit`` (time x mel-bin inputs). The encoder's state_dict layout
matches the released I-JEPA encoder checkpoints (after stripping the ``module.`` prefix):
``patch_embed.proj.*``, ``pos_embed``, ``blocks.{i}.*``, ``norm.*``.

Example::

    enc = VisionTransformer(img_size=32, patch_size=16, embed_dim=192, depth=2, num_heads=3)
    out = enc(torch.randn(2, 3, 32, 32))                  # [2, 4, 192]
    ctx = enc(torch.randn(2, 3, 32, 32), keep=torch.tensor([[0, 3], [1, 2]]))  # [2, 2, 192]
    y = run_blocks(nn.ModuleList([make_block(192, 3, 4.0)]), out, use_checkpoint=False)
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import nn
from torch.utils.checkpoint import checkpoint

from jepa_core.interfaces import gather_tokens

from .pos_embed import sincos_pos_embed_2d
from .sizes import check_heads
from .stem import ConvStem, check_stem, embed_kept_patches

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


class VisionTransformer(nn.Module):
    """ViT encoder implementing :class:`jepa_core.interfaces.Encoder`.

    ``forward(x [B, C, H, W], keep [B, K] | None) -> [B, K or N, D]``: the kept tokens get their
    positions, then blocks + final norm run on those only (the ``patch`` stem embeds only the kept
    patches: :func:`~jepa_vit.stem.embed_kept_patches`).
    Inputs of another size (multiples of the patch size) get resized positions (:meth:`positions`).
    ``img_size`` is a side (square inputs) or ``(H, W)`` (e.g. spectrograms: time x mel bins).
    ``stem`` is ``"patch"`` (one strided convolution, I-JEPA's layout) or ``"conv"``
    (:class:`~jepa_vit.stem.ConvStem`, for small images).

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
        stem: str = "patch",
    ) -> None:
        super().__init__()
        check_stem(stem, patch_size)
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

        self.stem = stem
        self.patch_embed: nn.Module
        if stem == "conv":
            self.patch_embed = ConvStem(patch_size, in_chans, embed_dim)
        else:
            self.patch_embed = PatchEmbed(
                img_size=self.input_hw,
                patch_size=patch_size,
                in_chans=in_chans,
                embed_dim=embed_dim,
                strict_img_size=False,  # other sizes (multi-crop views) are checked in forward
            )
        pos = sincos_pos_embed_2d(embed_dim, *self.token_grid)  # [N, D]
        self.register_buffer("pos_embed", pos.unsqueeze(0), persistent=True)  # [1, N, D]
        dpr = torch.linspace(0, drop_path_rate, depth).tolist() if depth > 0 else []
        self.blocks = nn.ModuleList(make_block(embed_dim, num_heads, mlp_ratio, dpr[i]) for i in range(depth))
        self.norm = norm_layer(embed_dim)
        self.apply(init_weights)

    @property
    def expected_input_shape(self) -> tuple[int, int, int]:
        """Shape of one input sample ``(C, H, W)``; the core checks the data against it."""
        return (self.in_chans, *self.input_hw)

    def positions(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position embeddings ``[1, h * w, D]`` for a ``grid`` of tokens: the fixed ones on the
        model's own grid, else those resized bicubically to ``grid`` (other-size views of the
        same image, e.g. the local crops of a multi-crop objective, span the same image extent).

        >>> vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=16, depth=0, num_heads=2)
        >>> vit.positions((2, 2)).shape
        torch.Size([1, 4, 16])
        """
        if tuple(grid) == self.token_grid:
            return self.pos_embed
        gh, gw = self.token_grid
        table = self.pos_embed.reshape(1, gh, gw, -1).permute(0, 3, 1, 2).float()  # [1, D, gh, gw]
        resized = F.interpolate(table, size=tuple(grid), mode="bicubic", align_corners=False)  # [1, D, h, w]
        return resized.flatten(2).transpose(1, 2)  # [1, h*w, D]

    @property
    def num_tokens(self) -> int:
        return self.token_grid[0] * self.token_grid[1]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward (training mode only)."""
        self.grad_checkpointing = enable

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        p = self.patch_size
        if x.ndim != 4 or x.shape[1] != self.in_chans or x.shape[2] % p or x.shape[3] % p:
            raise ValueError(
                f"expected input [B, {self.in_chans}, H, W] with H and W multiples of the patch size {p} "
                f"(trained at {self.input_hw[0]} x {self.input_hw[1]}), got {tuple(x.shape)}"
            )
        grid = (x.shape[2] // p, x.shape[3] // p)
        if keep is not None and self.stem == "patch":  # only the kept patches
            x = embed_kept_patches(x, self.patch_embed.proj, keep)  # [B, K, D]
            x = x + gather_tokens(self.positions(grid).to(x.dtype).expand(x.shape[0], -1, -1), keep)
        else:
            x = self.patch_embed(x)  # [B, N, D]
            x = x + self.positions(grid).to(x.dtype)
            if keep is not None:
                x = gather_tokens(x, keep)  # [B, K, D]
        use_ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        x = run_blocks(self.blocks, x, use_ckpt)
        return self.norm(x)
