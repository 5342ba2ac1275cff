"""Narrow ViT predictor for I-JEPA (one batched pass over all B * M target blocks).

The state_dict layout matches the released I-JEPA predictor checkpoints (after stripping the
``module.`` prefix): ``predictor_embed.*``, ``mask_token``, ``predictor_pos_embed``,
``predictor_blocks.{i}.*``, ``predictor_norm.*``, ``predictor_proj.*``.

Example::

    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=1))
    pred = build_predictor(PredictorConfig(embed_dim=96, depth=1), enc)
    ctx_idx = torch.tensor([[0, 1, 2]])                # [B=1, Nc=3]
    tgt_idx = torch.tensor([[[5, 6], [9, 10]]])        # [B=1, M=2, Nt=2]
    out = pred(enc(torch.randn(1, 3, 32, 32), ctx_idx), ctx_idx, tgt_idx)  # [2, 2, 192]
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from jepa_core.interfaces import gather_tokens

from .pos_embed import sincos_pos_embed_2d
from .vit import check_heads, init_weights, make_block, norm_layer, run_blocks


@attrs.frozen
class PredictorConfig:
    """Options of the ``vit_predictor``. ``num_heads=None`` uses the encoder's head count.

    >>> PredictorConfig(embed_dim=384, depth=6).num_heads is None
    True
    """

    embed_dim: int = 384
    depth: int = 12
    num_heads: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.depth <= 0:
            raise ValueError(f"predictor depth must be positive, got {self.depth}")
        if self.num_heads is not None:
            check_heads(self.embed_dim, self.num_heads, "predictor")
        elif self.embed_dim % 4 != 0:
            raise ValueError(
                f"predictor embed_dim={self.embed_dim} must be divisible by 4 (2-D sin-cos)"
            )


class ViTPredictor(nn.Module):
    """Predicts target-block features from context features (the Predictor protocol).

    ``forward(context_tokens [B, Nc, D], context_idx [B, Nc], target_idx [B, M, Nt])``
    returns ``[B * M, Nt, D]`` with row ``b * M + m`` for sample b, target block m.

    >>> p = ViTPredictor(encoder_dim=64, token_grid=(4, 4), num_heads=2, embed_dim=32, depth=1)
    >>> p(torch.randn(2, 3, 64), torch.tensor([[0, 1, 2]] * 2), torch.tensor([[[5], [9]]] * 2)).shape
    torch.Size([4, 1, 64])
    """

    def __init__(
        self,
        encoder_dim: int,
        token_grid: tuple[int, int],
        num_heads: int,
        embed_dim: int,
        depth: int,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if len(token_grid) != 2:
            raise ValueError(f"ViTPredictor needs a 2-D token grid, got {tuple(token_grid)}")
        check_heads(embed_dim, num_heads, "predictor")
        self.encoder_dim = encoder_dim
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.depth = depth
        self.token_grid: tuple[int, int] = (int(token_grid[0]), int(token_grid[1]))
        self.grad_checkpointing = False

        self.predictor_embed = nn.Linear(encoder_dim, embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dim))  # [1, 1, Dp]
        pos = sincos_pos_embed_2d(embed_dim, *self.token_grid)  # [N, Dp]
        self.register_buffer("predictor_pos_embed", pos.unsqueeze(0), persistent=True)
        self.predictor_blocks = nn.ModuleList(
            make_block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)
        )
        self.predictor_norm = norm_layer(embed_dim)
        self.predictor_proj = nn.Linear(embed_dim, encoder_dim)
        self.apply(init_weights)
        nn.init.trunc_normal_(self.mask_token, std=0.02)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward (training mode only)."""
        self.grad_checkpointing = enable

    def forward(
        self, context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor
    ) -> torch.Tensor:
        b, nc, _ = context_tokens.shape
        if context_idx.shape != (b, nc):
            raise ValueError(
                f"context_idx must be [{b}, {nc}] to match context_tokens, "
                f"got {tuple(context_idx.shape)}"
            )
        if target_idx.ndim != 3 or target_idx.shape[0] != b:
            raise ValueError(f"target_idx must be [{b}, M, Nt], got {tuple(target_idx.shape)}")
        m, nt = target_idx.shape[1], target_idx.shape[2]

        x = self.predictor_embed(context_tokens)  # [B, Nc, Dp]
        pos = self.predictor_pos_embed.to(x.dtype)  # [1, N, Dp]
        x = x + gather_tokens(pos.expand(b, -1, -1), context_idx)
        x = x.repeat_interleave(m, dim=0)  # [B*M, Nc, Dp], row b*M + m

        tgt = target_idx.reshape(b * m, nt)  # [B*M, Nt]
        mask = self.mask_token.to(x.dtype) + gather_tokens(pos.expand(b * m, -1, -1), tgt)

        z = torch.cat([x, mask], dim=1)  # [B*M, Nc+Nt, Dp]
        use_ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        z = run_blocks(self.predictor_blocks, z, use_ckpt)
        z = self.predictor_norm(z)
        return self.predictor_proj(z[:, nc:])  # [B*M, Nt, D]


def build_predictor(cfg: PredictorConfig, encoder: nn.Module) -> ViTPredictor:
    """Build a predictor sized for ``encoder`` (its embed_dim, token_grid and, by default, heads).

    >>> from jepa_image.vit import VisionTransformer
    >>> enc = VisionTransformer(img_size=32, patch_size=16, embed_dim=64, depth=1, num_heads=2)
    >>> build_predictor(PredictorConfig(embed_dim=32, depth=1), enc).num_heads
    2
    """
    num_heads = cfg.num_heads if cfg.num_heads is not None else encoder.num_heads
    return ViTPredictor(
        encoder_dim=encoder.embed_dim,
        token_grid=encoder.token_grid,
        num_heads=num_heads,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
    )
