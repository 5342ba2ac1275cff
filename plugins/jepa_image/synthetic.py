"""Synthetic labelled shapes, drawn on the fly: a quick, file-free stand-in for ImageNet.

Each image is a textured background (smooth colour noise, stripes or a gradient) with ONE
main object and, half the time, a small distractor dot. The object's CLASS is its shape kind:
label ``k`` is ``SHAPES[k]`` (``num_classes`` uses the first ``num_classes`` kinds), and image
``i`` of a split has label ``i % num_classes`` (balanced). Colour, size (18-32% of the side),
position, rotation (+-15 degrees) and background are random, so only the shape tells the class.
Image ``i`` of a split is a pure function of ``(seed, split, i)``.

Example::

    ds = build_synthetic(SyntheticShapesConfig(resolution=64), "train")
    x, y = ds[3]              # tensor [3, 64, 64] (ImageNet-normalised), label 3 ("plus")
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from PIL import Image

from jepa_core.config import positive
from jepa_core.specs import SPLITS
from jepa_image.transforms import check_crop_scale, tensor_transform, train_transform

SHAPES: tuple[str, ...] = (
    "circle", "square", "triangle", "plus", "ring", "diamond", "star", "frame", "cross", "crescent",
)  # fmt: skip
SPLIT_IDS = {"train": 0, "val": 1}
_MAX_TILT = np.pi / 12  # +-15 deg keeps square/diamond and plus/cross apart


def _num_classes(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if not 2 <= value <= len(SHAPES):
        raise ValueError(f"{attr.name} must be in [2, {len(SHAPES)}] (one class per shape kind), got {value!r}")


@attrs.frozen(kw_only=True)
class SyntheticShapesConfig:
    """Options of the ``synthetic_shapes`` dataset; ``augment`` applies the train crop."""

    num_train: int = attrs.field(default=2048, validator=positive)
    num_val: int = attrs.field(default=512, validator=positive)
    resolution: int = attrs.field(default=64, validator=positive)
    num_classes: int = attrs.field(default=8, validator=_num_classes)
    seed: int = 0
    crop_scale: tuple[float, float] = attrs.field(default=(0.3, 1.0), validator=check_crop_scale)
    augment: bool = True


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


class _Grid:
    """Per-resolution pixel-centre coordinates and bilinear upsampling weights (cached)."""

    def __init__(self, res: int, coarse: int = 4) -> None:
        c = (np.arange(res, dtype=np.float32) + 0.5) / res
        self.y, self.x = np.meshgrid(c, c, indexing="ij")
        pos = np.clip(c * coarse - 0.5, 0, coarse - 1)
        lo = np.minimum(pos.astype(int), coarse - 2)
        w = np.zeros((res, coarse), dtype=np.float32)
        w[np.arange(res), lo] = 1 - (pos - lo)
        w[np.arange(res), lo + 1] = pos - lo
        self.up = w  # [res, coarse]: bilinear interpolation matrix


def render_shape_image(rng: np.random.Generator, label: int, grid: _Grid) -> np.ndarray:
    """Draw one ``[res, res, 3]`` uint8 image whose object is ``SHAPES[label]``."""
    x, y = grid.x, grid.y
    light_bg = rng.random() < 0.5
    lo, hi = (0.5, 1.0) if light_bg else (0.0, 0.5)
    c1, c2 = rng.uniform(lo, hi, size=(2, 3)).astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # smooth colour noise
        coarse = rng.uniform(lo, hi, size=(3, 4, 4)).astype(np.float32)
        img = (grid.up @ coarse @ grid.up.T).transpose(1, 2, 0)
    else:
        theta = rng.uniform(0, 2 * np.pi)
        t = x * np.cos(theta) + y * np.sin(theta)
        if kind == 1:  # stripes
            t = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 2 * np.pi))
        else:  # gradient
            t = (t - t.min()) / (t.max() - t.min() + 1e-6)
        img = c1 + t[..., None] * (c2 - c1)
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(0.03)

    obj_lo, obj_hi = (0.0, 0.4) if light_bg else (0.6, 1.0)
    r = rng.uniform(0.18, 0.32)
    cx, cy = rng.uniform(r, 1 - r, size=2)
    tilt = rng.uniform(-_MAX_TILT, _MAX_TILT)
    cos, sin = np.cos(tilt) / r, np.sin(tilt) / r
    dx, dy = x - cx, y - cy
    mask = shape_mask(SHAPES[label], cos * dx + sin * dy, cos * dy - sin * dx)
    img[mask] = rng.uniform(obj_lo, obj_hi, size=3)
    if rng.random() < 0.5:  # small distractor dot
        dr = rng.uniform(0.03, 0.06)
        px, py = rng.uniform(dr, 1 - dr, size=2)
        img[(x - px) ** 2 + (y - py) ** 2 <= dr * dr] = rng.uniform(obj_lo, obj_hi, size=3)
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class SyntheticShapesDataset:
    """Map-style dataset of ``(tensor [3, res, res], label)`` synthetic shape images.

    Example::

        ds = SyntheticShapesDataset(100, resolution=32, num_classes=6, split="val")
        x, y = ds[7]          # y == 1 ("square"); ds[7] is the same every time
    """

    def __init__(
        self,
        length: int,
        *,
        resolution: int = 64,
        num_classes: int = 8,
        seed: int = 0,
        split: str = "train",
        transform: Any = None,
    ) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if not 2 <= num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be in [2, {len(SHAPES)}] (one per shape kind), got {num_classes}")
        self.length, self.resolution, self.num_classes = length, resolution, num_classes
        self.seed, self.split = seed, split
        self.transform = transform if transform is not None else tensor_transform()
        self.classes: list[str] = list(SHAPES[:num_classes])
        self._grid: _Grid | None = None

    def __len__(self) -> int:
        return self.length

    def label(self, index: int) -> int:
        return index % self.num_classes

    def image(self, index: int) -> Image.Image:
        """The untransformed PIL image ``index`` (a pure function of seed, split, index)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} images")
        if self._grid is None:
            self._grid = _Grid(self.resolution)
        rng = np.random.default_rng((self.seed, SPLIT_IDS[self.split], index))
        return Image.fromarray(render_shape_image(rng, self.label(index), self._grid))

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.transform(self.image(index)), self.label(index)


def build_synthetic(cfg: SyntheticShapesConfig, split: str) -> SyntheticShapesDataset:
    """Train split: ``num_train`` images, RandomResizedCrop when ``augment``; ``train_eval``: the
    same images without crop; val: ``num_val`` held-out images, no crop."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    crop = split == "train" and cfg.augment
    tf = train_transform(cfg.resolution, cfg.crop_scale) if crop else tensor_transform()
    return SyntheticShapesDataset(
        cfg.num_val if split == "val" else cfg.num_train,
        resolution=cfg.resolution,
        num_classes=cfg.num_classes,
        seed=cfg.seed,
        split="val" if split == "val" else "train",
        transform=tf,
    )


__all__ = [
    "SHAPES",
    "SyntheticShapesConfig",
    "SyntheticShapesDataset",
    "build_synthetic",
    "render_shape_image",
    "shape_mask",
]
