"""ViT sizes and the checks every ViT config shares (image, video and spectrogram encoders).

A config with a ``size`` name and the optional ``embed_dim`` / ``depth`` / ``num_heads`` /
``mlp_ratio`` overrides resolves to ``(embed_dim, depth, num_heads, mlp_ratio)``.

Example::

    VIT_SIZES["large"]                                  # (1024, 24, 16, 4.0)
    check_size(cfg, "video ViT")                        # ValueError naming the bad value
    embed_dim, depth, num_heads, mlp_ratio = resolve_size(cfg)
"""

from __future__ import annotations

import math
from typing import Any

# name -> (embed_dim, depth, num_heads, mlp_ratio)
VIT_SIZES: dict[str, tuple[int, int, int, float]] = {
    "tiny": (192, 12, 3, 4.0),
    "small": (384, 12, 6, 4.0),
    "base": (768, 12, 12, 4.0),
    "large": (1024, 24, 16, 4.0),
    "huge": (1280, 32, 16, 4.0),
    "giant": (1408, 40, 16, 48 / 11),
}


def check_known_size(size: str) -> None:
    """Raise ValueError unless ``size`` is a name of :data:`VIT_SIZES`.

    >>> check_known_size("base")
    """
    if size not in VIT_SIZES:
        raise ValueError(f"unknown ViT size {size!r}; valid sizes: {sorted(VIT_SIZES)}")


def check_heads(embed_dim: int, num_heads: int, what: str) -> None:
    """Raise ValueError unless ``embed_dim`` splits into ``num_heads`` heads and suits sin-cos.

    >>> check_heads(192, 3, "ViT")
    """
    if num_heads <= 0 or embed_dim % num_heads != 0:
        raise ValueError(f"{what} embed_dim={embed_dim} is not divisible by num_heads={num_heads}")
    if embed_dim % 4 != 0:
        raise ValueError(f"{what} embed_dim={embed_dim} must be divisible by 4 (2-D sin-cos)")


def resolve_size(cfg: Any) -> tuple[int, int, int, float]:
    """``(embed_dim, depth, num_heads, mlp_ratio)`` of a config with ``size`` and the optional
    ``embed_dim``/``depth``/``num_heads``/``mlp_ratio`` overrides (the image, video and audio ViT
    configs)."""
    dim, depth, heads, mlp_ratio = VIT_SIZES[cfg.size]
    return (
        cfg.embed_dim if cfg.embed_dim is not None else dim,
        cfg.depth if cfg.depth is not None else depth,
        cfg.num_heads if cfg.num_heads is not None else heads,
        cfg.mlp_ratio if cfg.mlp_ratio is not None else mlp_ratio,
    )


class ViTSize:
    """Base of the ViT configs (image, video, spectrogram): :meth:`resolved` of their ``size``
    and the optional ``embed_dim``/``depth``/``num_heads``/``mlp_ratio`` overrides. The fields
    stay in each config, where attrs keeps their positional order."""

    __slots__ = ()

    def resolved(self) -> tuple[int, int, int, float]:
        """``(embed_dim, depth, num_heads, mlp_ratio)`` after applying the overrides."""
        return resolve_size(self)


def check_size(cfg: Any, what: str) -> None:
    """Validate ``size``, the ``depth`` and ``mlp_ratio`` overrides and the head split of such a
    config (ValueError)."""
    check_known_size(cfg.size)
    if cfg.depth is not None and cfg.depth <= 0:
        raise ValueError(f"depth must be positive, got {cfg.depth}")
    dim, _, heads, mlp_ratio = resolve_size(cfg)
    check_heads(dim, heads, what)
    if not (math.isfinite(mlp_ratio) and int(dim * mlp_ratio) >= 1):
        raise ValueError(
            f"{what} mlp_ratio={mlp_ratio} gives no MLP width for embed_dim={dim}; use a positive, finite ratio"
        )
