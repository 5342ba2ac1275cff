"""The V-JEPA predictor: the shared narrow ViT predictor (:mod:`jepa_vit.predictor`) on a 3-D token grid.

Linear D -> Dp, 3-D positions, one learned mask token PER MASK SET (zero at init; the trainer
passes ``mask_index``), ``depth`` blocks at width Dp with the encoder's head count, LayerNorm,
linear Dp -> D. Runs once per (context, target) pair of a multi-mask batch.

Positions (``pos_embedding``): ``"sincos"`` (default, V-JEPA) is
:class:`~jepa_vit.predictor.ViTPredictor` with a fixed 3-D sin-cos ``predictor_pos_embed``;
``"rope"`` (V-JEPA 2) is :class:`VideoRopePredictor`: the same structure without the additive
positions, its blocks rotating queries/keys by 3-D RoPE (:mod:`jepa_video.rope`) -- context
tokens at their ``context_idx`` coordinates, mask tokens at their ``target_idx`` coordinates.
V-JEPA 2 uses RoPE in both the encoder and the predictor; the two choose independently here.

Example::

    enc = build_video_vit(VideoViTConfig(size="tiny", img_size=32, patch_size=16, num_frames=4, depth=1))
    pred = build_video_predictor(VideoPredictorConfig(embed_dim=96, depth=1), enc)
    ctx, tgt = torch.tensor([[0, 1, 2]]), torch.tensor([[[5, 6, 7]]])   # [B, Nc], [B, M=1, Nt]
    out = pred(enc(torch.randn(1, 3, 4, 32, 32), ctx), ctx, tgt, mask_index=1)   # [1, 3, 192]
"""

from __future__ import annotations

from typing import Literal

import attrs
import torch
from torch import nn

from jepa_vit.pos_embed import sincos_pos_embed_3d
from jepa_vit.predictor import PredictorBase, ViTPredictor
from jepa_vit.sizes import check_heads

from .rope import RopeBlock, check_pos_embedding, check_rope_heads, grid_positions, run_rope_blocks


@attrs.frozen
class VideoPredictorConfig:
    """Options of the ``video_predictor``. ``num_heads=None`` uses the encoder's head count;
    ``num_mask_tokens`` must equal the masker's number of mask sets (2 for the V-JEPA masks);
    ``pos_embedding`` is ``"sincos"`` (additive, V-JEPA; the default) or ``"rope"`` (V-JEPA 2).

    >>> VideoPredictorConfig().embed_dim, VideoPredictorConfig().num_mask_tokens
    (384, 2)
    """

    embed_dim: int = 384
    depth: int = 12
    num_heads: int | None = None
    num_mask_tokens: int = 2
    pos_embedding: Literal["sincos", "rope"] = "sincos"

    def __attrs_post_init__(self) -> None:
        check_pos_embedding(self.pos_embedding, "video predictor")
        if self.depth <= 0:
            raise ValueError(f"predictor depth must be positive, got {self.depth}")
        if self.embed_dim <= 0:
            raise ValueError(f"predictor embed_dim must be positive, got {self.embed_dim}")
        if self.num_mask_tokens < 1:
            raise ValueError(f"num_mask_tokens must be >= 1 (one per mask set), got {self.num_mask_tokens}")
        if self.num_heads is not None:
            check_heads(self.embed_dim, self.num_heads, "predictor")
            if self.pos_embedding == "rope":
                check_rope_heads(self.embed_dim, self.num_heads, "predictor")


class VideoRopePredictor(PredictorBase):
    """The V-JEPA predictor with 3-D RoPE instead of additive positions (the Predictor protocol).

    ``forward(context_tokens [B, Nc, D], context_idx [B, Nc], target_idx [B, M, Nt], mask_index=0)``
    returns ``[B * M, Nt, D]`` with row ``b * M + m`` for sample b, target block m: one sequence
    ``[context (Nc), mask tokens (Nt)]`` per target block, the context tokens rotated by their
    ``context_idx`` grid coordinates, the mask tokens by their ``target_idx`` coordinates.

    Structure and state-dict names follow :class:`~jepa_vit.predictor.ViTPredictor` minus
    ``predictor_pos_embed``: ``predictor_embed``, ``mask_token`` (one shared token) or
    ``mask_tokens.{i}`` (one per mask set, picked by ``mask_index``), ``predictor_blocks``
    (:class:`~jepa_video.rope.RopeBlock`), ``predictor_norm``, ``predictor_proj``.

    >>> p = VideoRopePredictor(encoder_dim=64, token_grid=(2, 2, 2), num_heads=2, embed_dim=32, depth=1)
    >>> p(torch.randn(2, 3, 64), torch.tensor([[0, 1, 2]] * 2), torch.tensor([[[5], [7]]] * 2)).shape
    torch.Size([4, 1, 64])
    """

    make_block = RopeBlock
    ZERO_MASK_TOKENS = True  # V-JEPA
    pos_embedding = "rope"

    def check_grid(self, grid: tuple[int, ...], embed_dim: int, num_heads: int, pos_embed: torch.Tensor | None) -> None:
        """A 3-D grid ``(t, h, w)`` and heads wide enough for 3-D RoPE; no additive positions."""
        if len(grid) != 3 or min(grid) < 1:
            raise ValueError(f"VideoRopePredictor needs a 3-D token grid (t, h, w), got {grid}")
        if pos_embed is not None:
            raise ValueError("VideoRopePredictor takes no pos_embed: its blocks rotate by the grid positions")
        check_heads(embed_dim, num_heads, "predictor")
        check_rope_heads(embed_dim, num_heads, "predictor")

    def sequence(
        self, context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor, mask_index: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context tokens, then one mask token per target token; with their grid coordinates ``[B*M, Nc+Nt, 3]``."""
        b, m, nt = target_idx.shape
        grid_pos = grid_positions(self.token_grid, context_tokens.device)  # [N, 3] (t, h, w)

        x = self.predictor_embed(context_tokens).repeat_interleave(m, dim=0)  # [B*M, Nc, Dp], row b*M + m
        ctx_pos = grid_pos[context_idx].repeat_interleave(m, dim=0)  # [B*M, Nc, 3]
        tgt = target_idx.reshape(b * m, nt)  # [B*M, Nt]
        mask = self.mask_token_for(mask_index).to(x.dtype).expand(b * m, nt, -1)  # [B*M, Nt, Dp]

        z = torch.cat([x, mask], dim=1)  # [B*M, Nc+Nt, Dp]
        return z, torch.cat([ctx_pos, grid_pos[tgt]], dim=1)  # [B*M, Nc+Nt, 3]

    def run(self, z: torch.Tensor, extra: torch.Tensor, use_checkpoint: bool) -> torch.Tensor:
        """Run the RoPE blocks, rotating by the positions ``extra`` ``[B*M, Nc+Nt, 3]``."""
        return run_rope_blocks(self.predictor_blocks, z, extra, use_checkpoint)


def build_video_predictor(cfg: VideoPredictorConfig, encoder: nn.Module) -> ViTPredictor | VideoRopePredictor:
    """A predictor sized for ``encoder`` (its embed_dim, 3-D token_grid and, by default, heads)."""
    num_heads = cfg.num_heads if cfg.num_heads is not None else encoder.num_heads
    grid = tuple(encoder.token_grid)
    if len(grid) != 3:
        raise ValueError(f"the video predictor needs an encoder with a 3-D token grid (t, h, w), got {grid}")
    if cfg.pos_embedding == "rope":
        return VideoRopePredictor(
            encoder_dim=encoder.embed_dim,
            token_grid=grid,
            num_heads=num_heads,
            embed_dim=cfg.embed_dim,
            depth=cfg.depth,
            num_mask_tokens=cfg.num_mask_tokens,
            zero_mask_tokens=True,
        )
    return ViTPredictor(
        encoder_dim=encoder.embed_dim,
        token_grid=grid,
        num_heads=num_heads,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        pos_embed=sincos_pos_embed_3d(cfg.embed_dim, grid),
        num_mask_tokens=cfg.num_mask_tokens,
        zero_mask_tokens=True,
    )
