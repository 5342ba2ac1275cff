"""The narrow ViT predictor of I-JEPA and V-JEPA (one batched pass over all B * M target blocks).

:class:`PredictorBase` holds the structure every position scheme shares: linear D -> Dp, learned
mask tokens (:func:`add_mask_tokens`: one shared token or one per mask set), ``depth`` blocks at
width Dp, LayerNorm, linear Dp -> D, one sequence ``[context (Nc), mask tokens (Nt)]`` per target
block. :class:`ViTPredictor` adds fixed sin-cos positions (``predictor_pos_embed``; 2-D by
default, any grid with a given table); the video plugin's RoPE predictor rotates instead.

The state_dict layout matches the released I-JEPA predictor checkpoints (after stripping the
``module.`` prefix): ``predictor_embed.*``, ``mask_token``, ``predictor_pos_embed``,
``predictor_blocks.{i}.*``, ``predictor_norm.*``, ``predictor_proj.*``.

Example::

    enc = VisionTransformer(img_size=32, patch_size=8, embed_dim=192, depth=1, num_heads=3)
    pred = build_predictor(PredictorConfig(embed_dim=96, depth=1), enc)
    ctx_idx = torch.tensor([[0, 1, 2]])                # [B=1, Nc=3]
    tgt_idx = torch.tensor([[[5, 6], [9, 10]]])        # [B=1, M=2, Nt=2]
    out = pred(enc(torch.randn(1, 3, 32, 32), ctx_idx), ctx_idx, tgt_idx)  # [2, 2, 192]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import torch
from torch import nn

from jepa_core.interfaces import gather_tokens

from .pos_embed import sincos_pos_embed_2d
from .sizes import check_heads
from .vit import init_weights, make_block, norm_layer, run_blocks


def add_mask_tokens(module: nn.Module, count: int, dim: int, *, zero: bool) -> None:
    """Give ``module`` its learned mask tokens ``[1, 1, dim]``: one shared ``mask_token`` (I-JEPA)
    or ``mask_tokens.{i}`` for ``count > 1`` (V-JEPA: one per mask set); zero or trunc-normal(0.02)."""
    if count < 1:
        raise ValueError(f"num_mask_tokens must be >= 1, got {count}")
    module.num_mask_tokens = count
    if count == 1:
        module.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
    else:
        module.mask_tokens = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, dim)) for _ in range(count))
    if not zero:
        for token in mask_token_list(module):
            nn.init.trunc_normal_(token, std=0.02)


def mask_token_list(module: nn.Module) -> list[nn.Parameter]:
    return [module.mask_token] if module.num_mask_tokens == 1 else list(module.mask_tokens)


def mask_token_for(module: nn.Module, mask_index: int) -> nn.Parameter:
    """The learned mask token ``[1, 1, Dp]`` of mask set ``mask_index`` (shared when there is one)."""
    if module.num_mask_tokens == 1:
        return module.mask_token
    if not 0 <= mask_index < module.num_mask_tokens:
        raise ValueError(
            f"mask_index={mask_index} is out of range: this predictor has {module.num_mask_tokens} mask tokens "
            "(one per mask set); set the predictor's num_mask_tokens to the masker's number of sets."
        )
    return module.mask_tokens[mask_index]


def check_index_shapes(
    context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor
) -> tuple[int, int, int, int]:
    """``(B, Nc, M, Nt)`` of a predictor call; ValueError when the index shapes do not fit."""
    b, nc, _ = context_tokens.shape
    if context_idx.shape != (b, nc):
        raise ValueError(f"context_idx must be [{b}, {nc}] to match context_tokens, got {tuple(context_idx.shape)}")
    if target_idx.ndim != 3 or target_idx.shape[0] != b:
        raise ValueError(f"target_idx must be [{b}, M, Nt], got {tuple(target_idx.shape)}")
    return b, nc, int(target_idx.shape[1]), int(target_idx.shape[2])


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
            raise ValueError(f"predictor embed_dim={self.embed_dim} must be divisible by 4 (2-D sin-cos)")


class PredictorBase(nn.Module):
    """The predictor structure shared by every position scheme (the Predictor protocol).

    ``forward(context_tokens [B, Nc, D], context_idx [B, Nc], target_idx [B, M, Nt], mask_index=0)``
    returns ``[B * M, Nt, D]`` with row ``b * M + m`` for sample b, target block m.

    Parameters, in this order (which fixes the state-dict keys and the draws of the init):
    ``predictor_embed`` (D -> Dp), ``mask_token`` or ``mask_tokens.{i}`` (``num_mask_tokens > 1``:
    one per mask set of multi-mask training, picked by ``mask_index``), the ``predictor_pos_embed``
    buffer when the class uses additive positions, ``predictor_blocks`` (``depth`` x
    :attr:`make_block`), ``predictor_norm``, ``predictor_proj`` (Dp -> D). ``zero_mask_tokens``
    starts the mask tokens at zero (V-JEPA) instead of trunc-normal(0.02) (I-JEPA); ``None`` takes
    the class's :attr:`ZERO_MASK_TOKENS`.

    A subclass says how positions enter: :meth:`check_grid` validates the token grid and returns
    the additive position table ``[N, Dp]`` (or None), ``make_block(dim, num_heads, mlp_ratio)``
    builds one block, :meth:`sequence` builds the input sequence (and what the blocks take
    besides) and :meth:`run` runs the blocks.
    """

    make_block: Callable[..., nn.Module] = staticmethod(make_block)
    ZERO_MASK_TOKENS = False

    def __init__(
        self,
        encoder_dim: int,
        token_grid: tuple[int, ...],
        num_heads: int,
        embed_dim: int,
        depth: int,
        mlp_ratio: float = 4.0,
        *,
        pos_embed: torch.Tensor | None = None,
        num_mask_tokens: int = 1,
        zero_mask_tokens: bool | None = None,
    ) -> None:
        grid = tuple(int(g) for g in token_grid)
        pos_embed = self.check_grid(grid, embed_dim, num_heads, pos_embed)
        super().__init__()
        self.encoder_dim = encoder_dim
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.depth = depth
        self.token_grid: tuple[int, ...] = grid
        self.grad_checkpointing = False

        self.predictor_embed = nn.Linear(encoder_dim, embed_dim)
        add_mask_tokens(self, num_mask_tokens, embed_dim, zero=True)  # initialised below
        if pos_embed is not None:
            self.register_buffer("predictor_pos_embed", pos_embed.unsqueeze(0), persistent=True)  # [1, N, Dp]
        self.predictor_blocks = nn.ModuleList(self.make_block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.predictor_norm = norm_layer(embed_dim)
        self.predictor_proj = nn.Linear(embed_dim, encoder_dim)
        self.apply(init_weights)
        if not (self.ZERO_MASK_TOKENS if zero_mask_tokens is None else zero_mask_tokens):
            for token in mask_token_list(self):
                nn.init.trunc_normal_(token, std=0.02)

    mask_token_for = mask_token_for

    def check_grid(
        self, grid: tuple[int, ...], embed_dim: int, num_heads: int, pos_embed: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Raise ValueError for a grid, width or position table this predictor cannot take; return
        the additive position table ``[prod(grid), embed_dim]`` to register, or None."""
        raise NotImplementedError

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward (training mode only)."""
        self.grad_checkpointing = enable

    def sequence(
        self, context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor, mask_index: int
    ) -> tuple[torch.Tensor, Any]:
        """The blocks' input ``[B*M, Nc+Nt, Dp]`` (row ``b * M + m``) and what :meth:`run` needs besides."""
        raise NotImplementedError

    def run(self, z: torch.Tensor, extra: Any, use_checkpoint: bool) -> torch.Tensor:
        """Run the blocks on ``z`` (``extra`` is what :meth:`sequence` returned with it)."""
        return run_blocks(self.predictor_blocks, z, use_checkpoint)

    def forward(
        self,
        context_tokens: torch.Tensor,
        context_idx: torch.Tensor,
        target_idx: torch.Tensor,
        mask_index: int = 0,
    ) -> torch.Tensor:
        nc = check_index_shapes(context_tokens, context_idx, target_idx)[1]
        z, extra = self.sequence(context_tokens, context_idx, target_idx, mask_index)  # [B*M, Nc+Nt, Dp]
        use_ckpt = self.grad_checkpointing and self.training and torch.is_grad_enabled()
        z = self.run(z, extra, use_ckpt)
        z = self.predictor_norm(z)
        return self.predictor_proj(z[:, nc:])  # [B*M, Nt, D]


class ViTPredictor(PredictorBase):
    """Predicts target-block features from context features with fixed additive positions.

    ``forward(context_tokens [B, Nc, D], context_idx [B, Nc], target_idx [B, M, Nt], mask_index=0)``
    returns ``[B * M, Nt, D]`` with row ``b * M + m`` for sample b, target block m.

    Any token grid works when ``pos_embed`` ``[prod(grid), Dp]`` is given (the video plugin
    passes 3-D sin-cos); by default a 2-D grid gets 2-D sin-cos. ``num_mask_tokens > 1`` learns
    one mask token per mask set of multi-mask training (V-JEPA), picked by ``mask_index``;
    ``zero_mask_tokens`` starts them at zero (V-JEPA) instead of trunc-normal(0.02) (I-JEPA, the
    default).

    >>> p = ViTPredictor(encoder_dim=64, token_grid=(4, 4), num_heads=2, embed_dim=32, depth=1)
    >>> p(torch.randn(2, 3, 64), torch.tensor([[0, 1, 2]] * 2), torch.tensor([[[5], [9]]] * 2)).shape
    torch.Size([4, 1, 64])
    """

    def check_grid(
        self, grid: tuple[int, ...], embed_dim: int, num_heads: int, pos_embed: torch.Tensor | None
    ) -> torch.Tensor:
        """The given ``pos_embed`` or, on a 2-D grid, 2-D sin-cos; checks its shape and the head split."""
        if pos_embed is None:
            if len(grid) != 2:
                raise ValueError(f"ViTPredictor needs a 2-D token grid or a pos_embed, got grid {grid}")
            pos_embed = sincos_pos_embed_2d(embed_dim, *grid)  # [N, Dp]
        if tuple(pos_embed.shape) != (math.prod(grid), embed_dim):
            raise ValueError(
                f"pos_embed must be [{math.prod(grid)}, {embed_dim}] for grid {grid}, got {tuple(pos_embed.shape)}"
            )
        check_heads(embed_dim, num_heads, "predictor")
        return pos_embed

    def sequence(
        self, context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor, mask_index: int
    ) -> tuple[torch.Tensor, None]:
        """Context tokens plus their positions, then one mask token plus its position per target token."""
        b, m, nt = target_idx.shape
        x = self.predictor_embed(context_tokens)  # [B, Nc, Dp]
        pos = self.predictor_pos_embed.to(x.dtype)  # [1, N, Dp]
        x = x + gather_tokens(pos.expand(b, -1, -1), context_idx)
        x = x.repeat_interleave(m, dim=0)  # [B*M, Nc, Dp], row b*M + m

        tgt = target_idx.reshape(b * m, nt)  # [B*M, Nt]
        mask = self.mask_token_for(mask_index).to(x.dtype) + gather_tokens(pos.expand(b * m, -1, -1), tgt)
        return torch.cat([x, mask], dim=1), None  # [B*M, Nc+Nt, Dp]


def build_predictor(cfg: PredictorConfig, encoder: nn.Module) -> ViTPredictor:
    """Build a predictor sized for ``encoder`` (its embed_dim, token_grid and, by default, heads).

    >>> from jepa_vit.vit import VisionTransformer
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
