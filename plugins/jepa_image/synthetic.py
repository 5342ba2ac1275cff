"""Synthetic labelled shapes, drawn on the fly: a quick, file-free stand-in for ImageNet.

Each image is a textured background (smooth colour noise, stripes or a gradient) with ONE
main object and, half the time, a small distractor dot. The object's CLASS is its shape kind:
label ``k`` is ``SHAPES[k]`` (``num_classes`` uses the first ``num_classes`` kinds), and image
``i`` of a split has label ``i % num_classes`` (balanced). Colour, size (18-32% of the side),
position, rotation (+-15 degrees) and background are random, so only the shape tells the class.
Image ``i`` of a split is a pure function of ``(seed, split, i)``, so each process draws it once
and keeps its pixels (up to :data:`KEEP_RENDERED_BYTES` per dataset) for the later epochs.

Example::

    ds = build_synthetic(SyntheticShapesConfig(resolution=64), "train")
    x, y = ds[3]              # tensor [3, 64, 64] (ImageNet-normalised), label 3 ("plus")
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import torch
from PIL import Image

from jepa_core.config import positive
from jepa_image.batch_views import BatchViews, train_pipeline
from jepa_image.transforms import ImageAugmentConfig, tensor_transform
from jepa_vit.shapes import (
    MAX_TILT,
    SHAPES,
    PixelGrid,
    add_distractor_dot,
    object_range,
    paint_background,
    shape_mask,
)
from jepa_vit.synthetic import SyntheticDataset, synthetic_split

KEEP_RENDERED_BYTES = 512 * 2**20  # a dataset whose images fit keeps them once drawn


def _num_classes(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if not 2 <= value <= len(SHAPES):
        raise ValueError(f"{attr.name} must be in [2, {len(SHAPES)}] (one class per shape kind), got {value!r}")


@attrs.frozen(kw_only=True)
class SyntheticShapesConfig(ImageAugmentConfig):
    """Options of the ``synthetic_shapes`` dataset; ``augment`` applies the training views
    (:class:`~jepa_image.transforms.ImageAugmentConfig`; by default the I-JEPA crop)."""

    resolution: int = attrs.field(default=64, validator=positive)
    num_train: int = attrs.field(default=2048, validator=positive)
    num_val: int = attrs.field(default=512, validator=positive)
    num_classes: int = attrs.field(default=8, validator=_num_classes)
    seed: int = 0
    augment: bool = True


def render_shape_image(rng: np.random.Generator, label: int, grid: PixelGrid) -> np.ndarray:
    """Draw one ``[res, res, 3]`` uint8 image whose object is ``SHAPES[label]``."""
    light_bg = rng.random() < 0.5
    img = paint_background(rng, grid, light_bg)
    colours = object_range(light_bg)
    r = rng.uniform(0.18, 0.32)
    cx, cy = rng.uniform(r, 1 - r, size=2)
    tilt = rng.uniform(-MAX_TILT, MAX_TILT)
    cos, sin = np.cos(tilt) / r, np.sin(tilt) / r
    dx, dy = grid.x - cx, grid.y - cy
    mask = shape_mask(SHAPES[label], cos * dx + sin * dy, cos * dy - sin * dx)
    img[mask] = rng.uniform(*colours, size=3)
    add_distractor_dot(rng, img, grid, colours)
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class SyntheticShapesDataset(SyntheticDataset):
    """Map-style dataset of ``(tensor [3, res, res], label)`` synthetic shape images. With a
    ``batch_transform`` (batch-wide views) a sample is the drawn image itself, ``[3, res, res]``
    uint8, and ``transform`` is not used.

    Example::

        ds = SyntheticShapesDataset(100, resolution=32, num_classes=6, split="val")
        x, y = ds[7]          # y == 1 ("square"); ds[7] is the same every time
    """

    noun = "images"

    def __init__(
        self,
        length: int,
        *,
        resolution: int = 64,
        num_classes: int = 8,
        seed: int = 0,
        split: str = "train",
        transform: Any = None,
        batch_transform: BatchViews | None = None,
    ) -> None:
        super().__init__(length, num_classes=num_classes, seed=seed, split=split)
        if not 2 <= num_classes <= len(SHAPES):
            raise ValueError(f"num_classes must be in [2, {len(SHAPES)}] (one per shape kind), got {num_classes}")
        self.resolution = resolution
        self.transform = transform if transform is not None else tensor_transform()
        self.classes: list[str] = list(SHAPES[:num_classes])
        self.batch_transform = batch_transform  # batch-wide views (jepa_image.batch_views), applied by the collate
        self.deterministic_reads = batch_transform is not None  # then a read is the drawn image: no host RNG
        self._grid: PixelGrid | None = None
        keep = length * resolution * resolution * 3 <= KEEP_RENDERED_BYTES
        self._rendered: dict[int, np.ndarray] | None = {} if keep else None  # index -> [res, res, 3] uint8

    def pixels(self, index: int) -> np.ndarray:
        """The drawn image ``index``, ``[res, res, 3]`` uint8 (a pure function of seed, split, index)."""
        rng = self.sample_rng(index)  # IndexError outside the split
        pixels = self._rendered.get(index) if self._rendered is not None else None
        if pixels is None:
            if self._grid is None:
                self._grid = PixelGrid(self.resolution)
            pixels = render_shape_image(rng, self.label(index), self._grid)
            if self._rendered is not None:
                self._rendered[index] = pixels
        return pixels

    def image(self, index: int) -> Image.Image:
        """The untransformed PIL image ``index``."""
        return Image.fromarray(self.pixels(index))

    def __getitem__(self, index: int) -> tuple[Any, int]:
        if self.batch_transform is not None:  # what batch_source_transform makes of the image, without PIL
            return torch.from_numpy(self.pixels(index)).permute(2, 0, 1).contiguous(), self.label(index)
        return self.transform(self.image(index)), self.label(index)


def build_synthetic(cfg: SyntheticShapesConfig, split: str) -> SyntheticShapesDataset:
    """Train split: ``num_train`` images, RandomResizedCrop when ``augment``; ``train_eval``: the
    same images without crop; val: ``num_val`` held-out images, no crop."""
    length, part, crop = synthetic_split(cfg, split)
    tf, batch_tf = train_pipeline(cfg) if crop else (tensor_transform(), None)
    return SyntheticShapesDataset(
        length,
        resolution=cfg.resolution,
        num_classes=cfg.num_classes,
        seed=cfg.seed,
        split=part,
        transform=tf,
        batch_transform=batch_tf,
    )


__all__ = [
    "SHAPES",
    "SyntheticShapesConfig",
    "SyntheticShapesDataset",
    "build_synthetic",
    "render_shape_image",
    "shape_mask",
]
