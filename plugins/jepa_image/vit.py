"""The image plugin's ``vit`` encoder: its options and builder (the network is
:class:`jepa_vit.vit.VisionTransformer`, re-exported here).

The state_dict layout matches the released I-JEPA encoder checkpoints (after stripping the
``module.`` prefix): ``patch_embed.proj.*``, ``pos_embed``, ``blocks.{i}.*``, ``norm.*``.

Example::

    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=16, depth=2))
    out = enc(torch.randn(2, 3, 32, 32))                  # [2, 4, 192]
    ctx = enc(torch.randn(2, 3, 32, 32), keep=torch.tensor([[0, 3], [1, 2]]))  # [2, 2, 192]
"""

from __future__ import annotations

import attrs

from jepa_core.validators import finite_positive
from jepa_vit.sizes import VIT_SIZES, ViTSize, check_known_size, check_size
from jepa_vit.stem import check_stem
from jepa_vit.vit import VisionTransformer

__all__ = ["VIT_SIZES", "ViTConfig", "VisionTransformer", "build_vit"]


@attrs.frozen
class ViTConfig(ViTSize):
    """Options of the ``vit`` encoder. ``depth``/``embed_dim``/``num_heads``/``mlp_ratio`` (the
    MLP's hidden width over ``embed_dim``) override the size;
    ``stem="conv"`` embeds patches with stacked convolutions (:mod:`jepa_vit.stem`) instead of one.

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
    stem: str = "patch"
    mlp_ratio: float | None = attrs.field(default=None, validator=finite_positive)

    def __attrs_post_init__(self) -> None:
        check_known_size(self.size)
        check_stem(self.stem, self.patch_size)
        if self.patch_size <= 0 or self.img_size <= 0:
            raise ValueError(f"img_size={self.img_size} and patch_size={self.patch_size} must be positive")
        if self.img_size % self.patch_size != 0:
            raise ValueError(f"img_size={self.img_size} is not divisible by patch_size={self.patch_size}")
        check_size(self, "ViT")


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
        stem=cfg.stem,
    )
