"""The V-JEPA predictor: the image plugin's narrow ViT predictor on a 3-D token grid.

Linear D -> Dp, fixed 3-D sin-cos positions, one learned mask token PER MASK SET (zero at
init; the trainer passes ``mask_index``), ``depth`` blocks at width Dp with the encoder's head
count, LayerNorm, linear Dp -> D. Runs once per (context, target) pair of a multi-mask batch.

Example::

    enc = build_video_vit(VideoViTConfig(size="tiny", img_size=32, patch_size=16, num_frames=4, depth=1))
    pred = build_video_predictor(VideoPredictorConfig(embed_dim=96, depth=1), enc)
    ctx, tgt = torch.tensor([[0, 1, 2]]), torch.tensor([[[5, 6, 7]]])   # [B, Nc], [B, M=1, Nt]
    out = pred(enc(torch.randn(1, 3, 4, 32, 32), ctx), ctx, tgt, mask_index=1)   # [1, 3, 192]
"""

from __future__ import annotations

import attrs
from torch import nn

from jepa_image.predictor import ViTPredictor
from jepa_image.vit import check_heads

from .pos_embed import sincos_pos_embed_3d


@attrs.frozen
class VideoPredictorConfig:
    """Options of the ``video_predictor``. ``num_heads=None`` uses the encoder's head count;
    ``num_mask_tokens`` must equal the masker's number of mask sets (2 for the V-JEPA masks).

    >>> VideoPredictorConfig().embed_dim, VideoPredictorConfig().num_mask_tokens
    (384, 2)
    """

    embed_dim: int = 384
    depth: int = 12
    num_heads: int | None = None
    num_mask_tokens: int = 2

    def __attrs_post_init__(self) -> None:
        if self.depth <= 0:
            raise ValueError(f"predictor depth must be positive, got {self.depth}")
        if self.embed_dim <= 0:
            raise ValueError(f"predictor embed_dim must be positive, got {self.embed_dim}")
        if self.num_mask_tokens < 1:
            raise ValueError(f"num_mask_tokens must be >= 1 (one per mask set), got {self.num_mask_tokens}")
        if self.num_heads is not None:
            check_heads(self.embed_dim, self.num_heads, "predictor")


def build_video_predictor(cfg: VideoPredictorConfig, encoder: nn.Module) -> ViTPredictor:
    """A predictor sized for ``encoder`` (its embed_dim, 3-D token_grid and, by default, heads)."""
    num_heads = cfg.num_heads if cfg.num_heads is not None else encoder.num_heads
    grid = tuple(encoder.token_grid)
    if len(grid) != 3:
        raise ValueError(f"the video predictor needs an encoder with a 3-D token grid (t, h, w), got {grid}")
    return ViTPredictor(
        encoder_dim=encoder.embed_dim, token_grid=grid, num_heads=num_heads, embed_dim=cfg.embed_dim,
        depth=cfg.depth, pos_embed=sincos_pos_embed_3d(cfg.embed_dim, grid),
        num_mask_tokens=cfg.num_mask_tokens, zero_mask_tokens=True,
    )
