"""Drawing the synthetic shapes of the image plugin's ``synthetic_shapes`` and the video plugin's
``synthetic_motion``: ten shape kinds, textured backgrounds and distractor dots, in numpy.

Coordinates are side fractions: a :class:`PixelGrid` holds the pixel centres ``x`` (right) and
``y`` (down) in [0, 1] of a ``res x res`` image. Shapes are defined in object coordinates (unit
radius, centred at 0); callers scale, tilt and place them. Every random draw comes from the
``numpy.random.Generator`` passed in, in a fixed order.

Example::

    grid = PixelGrid(64)
    rng = np.random.default_rng(0)
    img = paint_background(rng, grid, light=True)                    # float [64, 64, 3]
    img[shape_mask("star", (grid.x - 0.5) / 0.3, (grid.y - 0.5) / 0.3)] = 0.2
    add_distractor_dot(rng, img, grid, object_range(light=True))
"""

from __future__ import annotations

from typing import Any

import numpy as np

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "plus", "ring", "diamond", "star", "frame", "cross", "crescent",
)  # fmt: skip
MAX_TILT = np.pi / 12  # +-15 deg keeps square/diamond and plus/cross apart


def shape_mask(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of shape ``kind`` in object coordinates (unit radius, centred at 0)."""
    a, b = np.abs(u), np.abs(v)
    if kind == "circle":
        return u * u + v * v <= 1.0
    if kind == "square":
        return np.maximum(a, b) <= 0.8
    if kind == "triangle":  # apex up at v=-1, base at v=0.75
        return (v <= 0.75) & (a <= (v + 1.0) * 0.6)
    if kind == "plus":
        return ((a <= 0.3) & (b <= 1.0)) | ((b <= 0.3) & (a <= 1.0))
    if kind == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.3)
    if kind == "diamond":
        return a + b <= 1.1
    if kind == "star":  # five rounded points, radius 0.45..1
        theta = np.arctan2(v, u)
        return np.sqrt(u * u + v * v) <= 0.45 + 0.55 * ((np.cos(5 * theta) + 1) / 2) ** 2
    if kind == "frame":
        m = np.maximum(a, b)
        return (m <= 0.85) & (m >= 0.5)
    if kind == "cross":  # the plus turned by 45 degrees
        return shape_mask("plus", (u + v) * np.sqrt(0.5), (u - v) * np.sqrt(0.5))
    if kind == "crescent":
        return (u * u + v * v <= 1.0) & ((u - 0.45) ** 2 + v * v >= 0.5625)
    raise ValueError(f"unknown shape kind {kind!r}; known: {SHAPES}")


class PixelGrid:
    """Per-resolution pixel-centre coordinates ``x``, ``y`` ``[res, res]`` and the bilinear
    upsampling weights ``up`` ``[res, coarse]`` of a ``coarse x coarse`` colour field."""

    def __init__(self, res: int, coarse: int = 4) -> None:
        c = (np.arange(res, dtype=np.float32) + 0.5) / res
        self.res = res
        self.y, self.x = np.meshgrid(c, c, indexing="ij")
        pos = np.clip(c * coarse - 0.5, 0, coarse - 1)
        lo = np.minimum(pos.astype(int), coarse - 2)
        w = np.zeros((res, coarse), dtype=np.float32)
        w[np.arange(res), lo] = 1 - (pos - lo)
        w[np.arange(res), lo + 1] = pos - lo
        self.up = w  # [res, coarse]: bilinear interpolation matrix


def object_range(light: bool) -> tuple[float, float]:
    """The range of object colour values that contrasts with a light or a dark background."""
    return (0.0, 0.4) if light else (0.6, 1.0)


def paint_background(rng: np.random.Generator, grid: PixelGrid, light: bool, dtype: Any = np.float64) -> np.ndarray:
    """A float ``[res, res, 3]`` background: smooth colour noise, stripes or a gradient, plus pixel noise.

    Colours are drawn in [0.5, 1] when ``light``, else in [0, 0.5]. ``dtype`` is the float type
    of the stripe and gradient angles (the video clips use float32).
    """
    x, y = grid.x, grid.y
    lo, hi = (0.5, 1.0) if light else (0.0, 0.5)
    c1, c2 = rng.uniform(lo, hi, size=(2, 3)).astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # smooth colour noise
        coarse = rng.uniform(lo, hi, size=(3, 4, 4)).astype(np.float32)
        img = (grid.up @ coarse @ grid.up.T).transpose(1, 2, 0)
    else:
        theta = rng.uniform(0, 2 * np.pi)
        t = x * dtype(np.cos(theta)) + y * dtype(np.sin(theta))
        if kind == 1:  # stripes
            freq, phase = dtype(2 * np.pi * rng.uniform(2, 6)), dtype(rng.uniform(0, 2 * np.pi))
            t = 0.5 + 0.5 * np.sin(freq * t + phase)
        else:  # gradient
            t = (t - t.min()) / (t.max() - t.min() + 1e-6)
        img = c1 + t[..., None] * (c2 - c1)
    return img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.03)


def add_distractor_dot(
    rng: np.random.Generator, img: np.ndarray, grid: PixelGrid, colours: tuple[float, float]
) -> None:
    """Half the time, paint a small dot (radius 3-6% of the side) of a colour in ``colours`` into ``img``."""
    if rng.random() < 0.5:
        dr = rng.uniform(0.03, 0.06)
        px, py = rng.uniform(dr, 1 - dr, size=2)
        img[(grid.x - px) ** 2 + (grid.y - py) ** 2 <= dr * dr] = rng.uniform(*colours, size=3)


__all__ = ["MAX_TILT", "SHAPES", "PixelGrid", "add_distractor_dot", "object_range", "paint_background", "shape_mask"]
