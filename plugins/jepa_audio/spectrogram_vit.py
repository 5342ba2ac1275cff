"""The spectrogram ViT of the audio plugin: the 2-D ViT of :mod:`jepa_vit.vit` on ``[1, T, F]`` log-mel inputs.

A spectrogram (time frames as the height, mel bins as the width) is cut into ``patch x patch``
patches: 1024 frames x 128 mels with patch 16 give a grid of 64 x 8 = 512 tokens (time
slowest), with fixed 2-D sin-cos positions and no class token (A-JEPA).

Example::

    enc = build_spectrogram_vit(SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=1))
    enc(torch.randn(2, 1, 64, 32)).shape        # [2, 8, 192]: grid (4, 2)
"""

from __future__ import annotations

import attrs

from jepa_core.validators import finite_positive
from jepa_vit.sizes import ViTSize, check_known_size, check_size
from jepa_vit.vit import VisionTransformer


@attrs.frozen
class SpectrogramViTConfig(ViTSize):
    """Options of the ``spectrogram_vit`` encoder. ``depth``/``embed_dim``/``num_heads``/``mlp_ratio``
    override the size.

    >>> SpectrogramViTConfig().token_grid
    (64, 8)
    """

    size: str = "base"
    patch_size: int = 16
    num_frames: int = 1024
    num_mels: int = 128
    in_chans: int = 1
    drop_path_rate: float = 0.0
    depth: int | None = None
    embed_dim: int | None = None
    num_heads: int | None = None
    mlp_ratio: float | None = attrs.field(default=None, validator=finite_positive)

    def __attrs_post_init__(self) -> None:
        check_known_size(self.size)
        for name in ("patch_size", "num_frames", "num_mels", "in_chans"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("num_frames", "num_mels"):
            if getattr(self, name) % self.patch_size:
                raise ValueError(f"{name}={getattr(self, name)} is not divisible by patch_size={self.patch_size}")
        check_size(self, "spectrogram ViT")

    @property
    def token_grid(self) -> tuple[int, int]:
        return (self.num_frames // self.patch_size, self.num_mels // self.patch_size)


def build_spectrogram_vit(cfg: SpectrogramViTConfig) -> VisionTransformer:
    """Build the encoder described by ``cfg`` (input ``[B, in_chans, num_frames, num_mels]``).

    >>> build_spectrogram_vit(SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=1)).token_grid
    (4, 2)
    """
    embed_dim, depth, num_heads, mlp_ratio = cfg.resolved()
    return VisionTransformer(
        img_size=(cfg.num_frames, cfg.num_mels),
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        drop_path_rate=cfg.drop_path_rate,
    )
