"""Synthetic moving shapes, drawn on the fly: a quick, file-free video set whose class is MOTION.

Each clip is ``num_frames`` frames of a static textured background (smooth colour noise,
stripes or a gradient, plus half the time a small static dot) over which ONE shape (a random
kind of :data:`jepa_vit.shapes.SHAPES`) moves in a straight line at constant speed.

The CLASS is the motion direction: label ``k`` of ``num_classes`` moves at angle
``360 * k / num_classes`` degrees counter-clockwise from "right" as seen on screen (for 4
classes: right, up, left, down). Clip ``i`` of a split has label ``i % num_classes``
(balanced) and is a pure function of ``(seed, split, i)``. Shape kind, colour, size (radius
10-18% of the side), tilt, speed (``speed`` = side fraction per frame, 1.9-3.8 px per frame at
32 px by default), start position and background are random and drawn independently of the
label, so only the motion tells the class.

``boundary`` says how the shape stays in view:

* ``"wrap"`` (default): the frame is a torus; a shape leaving one edge re-enters from the
  opposite one (it is always fully drawn, possibly split over two edges). The start is uniform
  over the frame, so the position in EVERY frame is uniform whatever the label: a single frame
  carries no label information (for a given random state, frame 0 is the same for every label).
* ``"inside"``: the start is chosen so that the whole path stays inside the frame. Simpler to
  look at, but the positions then leak the label (a shape moving right starts on the left), so
  a single frame partly tells the class.

``background="plain"`` replaces the textured background and the dot by a uniform grey (0.75 on
light clips, 0.25 on dark ones), a diagnostic: the shape and its motion are then the only
things that tell clips apart. The random draws are the same as with ``"texture"``, so clip
``i`` differs only in its background.

``label_by="shape"`` makes the class the shape KIND instead (label ``k`` is
``SHAPES[k]``, at most 10 classes) and draws the direction uniformly on the circle: an
appearance task on moving objects, like the image plugin's ``synthetic_shapes``. The random
draws are the same in both modes, so clip ``i`` differs only in what its label fixes.

Augmentation (``augment``, train split only) is the shared random resized crop WITHOUT flip: a
horizontal flip would turn "right" into "left" without changing the label.

Example::

    ds = build_synthetic_motion(SyntheticMotionConfig(), "val")
    x, y = ds[5]              # tensor [3, 8, 32, 32] (ImageNet-normalised), label 1 ("up")
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import numpy as np

from jepa_core.config import positive
from jepa_video.transforms import check_aspect, clip_to_tensor, train_clip_transform
from jepa_vit.shapes import MAX_TILT, SHAPES, PixelGrid, add_distractor_dot, object_range, paint_background, shape_mask
from jepa_vit.synthetic import SyntheticDataset, synthetic_split
from jepa_vit.transforms import check_crop_scale

MAX_CLASSES = 16
RADIUS = (0.10, 0.18)
"""Range of the shape radius, as a fraction of the frame side."""
_REACH = 1.15  # how far a (tilted) shape reaches, in radii (the diamond reaches 1.1, a square corner 1.13)
_COMPASS = ("right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right")


def _num_classes(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if not 2 <= value <= MAX_CLASSES:
        raise ValueError(f"{attr.name} must be in [2, {MAX_CLASSES}] (one class per motion direction), got {value!r}")


def _num_frames(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    if not value >= 2:
        raise ValueError(f"{attr.name} must be >= 2 (motion needs two frames), got {value!r}")


def _speed(_inst: Any, attr: attrs.Attribute, value: tuple[float, float]) -> None:
    if len(value) != 2 or not 0.0 < value[0] <= value[1] <= 0.25:
        raise ValueError(
            f"{attr.name} must be (lo, hi) side fractions per frame with 0 < lo <= hi <= 0.25, got {value!r}"
        )


def _max_inside_speed(num_frames: int) -> float:
    """The fastest per-frame step at which every path of the largest shape still fits inside."""
    return (1.0 - 2 * _REACH * RADIUS[1]) / (num_frames - 1)


@attrs.frozen(kw_only=True)
class SyntheticMotionConfig:
    """Options of the ``synthetic_motion`` dataset; ``augment`` applies the shared train crop.

    ``speed`` is the range of the per-frame step as a fraction of the side; ``boundary`` is
    ``"wrap"`` or ``"inside"`` (see the module docstring).
    """

    num_train: int = attrs.field(default=2048, validator=positive)
    num_val: int = attrs.field(default=512, validator=positive)
    resolution: int = attrs.field(default=32, validator=positive)
    num_frames: int = attrs.field(default=8, validator=_num_frames)
    num_classes: int = attrs.field(default=4, validator=_num_classes)
    speed: tuple[float, float] = attrs.field(default=(0.06, 0.12), validator=_speed)
    boundary: Literal["wrap", "inside"] = attrs.field(
        default="wrap", validator=attrs.validators.in_(("wrap", "inside"))
    )
    label_by: Literal["direction", "shape"] = attrs.field(
        default="direction", validator=attrs.validators.in_(("direction", "shape"))
    )
    background: Literal["texture", "plain"] = attrs.field(
        default="texture", validator=attrs.validators.in_(("texture", "plain"))
    )
    seed: int = 0
    crop_scale: tuple[float, float] = attrs.field(default=(0.3, 1.0), validator=check_crop_scale)
    aspect: tuple[float, float] = attrs.field(default=(0.75, 1.35), validator=check_aspect)
    augment: bool = True

    def __attrs_post_init__(self) -> None:
        _check_inside_speed(self.boundary, self.speed, self.num_frames)
        _check_shape_classes(self.label_by, self.num_classes)


def _check_background(background: str) -> None:
    if background not in ("texture", "plain"):
        raise ValueError(f"background must be 'texture' or 'plain', got {background!r}")


def _check_shape_classes(label_by: str, num_classes: int) -> None:
    if label_by == "shape" and num_classes > len(SHAPES):
        raise ValueError(
            f"num_classes={num_classes} is more than the {len(SHAPES)} shape kinds; with label_by='shape' "
            f"use 2..{len(SHAPES)}"
        )


def _check_inside_speed(boundary: str, speed: tuple[float, float], num_frames: int) -> None:
    top = _max_inside_speed(num_frames)
    if boundary == "inside" and speed[0] > top:
        raise ValueError(
            f"speed (lo={speed[0]!r}) is too fast for boundary='inside' with num_frames={num_frames}: "
            f"the path would leave the frame, so lo must be <= {top:.4f} (or use boundary='wrap')"
        )


def direction_names(num_classes: int) -> list[str]:
    """Class names: compass words when the directions are multiples of 45 degrees, else angles."""
    names = []
    for k in range(num_classes):
        deg = 360.0 * k / num_classes
        names.append(_COMPASS[int(deg // 45)] if deg % 45 == 0 else f"{deg:g}deg")
    return names


def direction(label: int, num_classes: int) -> np.ndarray:
    """Unit ``(dx, dy)`` of class ``label`` in image coordinates (x right, y DOWN)."""
    theta = 2 * np.pi * label / num_classes
    return np.array([np.cos(theta), -np.sin(theta)])


@attrs.frozen
class MotionClip:
    """One rendered clip: ``frames`` uint8 ``[T, H, W, 3]``, the shape's ``mask`` bool
    ``[T, H, W]``, its ``centres`` ``[T, 2]`` as ``(x, y)`` side fractions (wrapped into [0, 1)
    with ``boundary="wrap"``), ``velocity`` ``(dx, dy)`` per frame, ``kind`` and ``radius``."""

    frames: np.ndarray
    mask: np.ndarray
    centres: np.ndarray
    velocity: np.ndarray
    kind: str
    radius: float


def render_motion_clip(
    rng: np.random.Generator,
    label: int,
    grid: PixelGrid,
    *,
    num_frames: int = 8,
    num_classes: int = 4,
    speed: tuple[float, float] = (0.06, 0.12),
    boundary: str = "wrap",
    label_by: str = "direction",
    background: str = "texture",
) -> MotionClip:
    """Draw one clip whose shape moves in direction ``label`` (see :func:`direction`), or, with
    ``label_by="shape"``, whose shape is ``SHAPES[label]`` moving in a random direction.

    Every draw from ``rng`` happens in the same order and number whatever the label; with
    ``boundary="wrap"`` the label enters only through the velocity, so frame 0 is the same for
    every label.
    """
    if boundary not in ("wrap", "inside"):
        raise ValueError(f"boundary must be 'wrap' or 'inside', got {boundary!r}")
    _check_background(background)
    light = bool(rng.random() < 0.5)
    bg = paint_background(rng, grid, light, dtype=np.float32)
    colours = object_range(light)
    add_distractor_dot(rng, bg, grid, colours)  # static
    if background == "plain":  # drawn and then replaced, so every later draw stays the same
        bg[:] = 0.75 if light else 0.25
    colour = rng.uniform(*colours, size=3).astype(np.float32)
    kind = SHAPES[int(rng.integers(len(SHAPES)))]
    r = float(rng.uniform(*RADIUS))
    tilt = rng.uniform(-MAX_TILT, MAX_TILT)
    u_speed, u_start = rng.random(), rng.random(2)
    u_direction = rng.random()  # used by label_by="shape" only; drawn last, so "direction" clips are unchanged

    if label_by == "shape":
        kind = SHAPES[label]
        theta = 2 * np.pi * u_direction
        d = np.array([np.cos(theta), -np.sin(theta)])
    elif label_by == "direction":
        d = direction(label, num_classes)
    else:
        raise ValueError(f"label_by must be 'direction' or 'shape', got {label_by!r}")
    steps = num_frames - 1
    if boundary == "wrap":
        s = speed[0] + u_speed * (speed[1] - speed[0])
        start = u_start
    else:
        reach = _REACH * r
        fit = (1.0 - 2 * reach) / (steps * max(abs(d[0]), abs(d[1])))
        s = speed[0] + u_speed * (max(min(speed[1], fit), speed[0]) - speed[0])
        travel = d * s * steps
        lo = reach - np.minimum(travel, 0.0)
        hi = 1.0 - reach - np.maximum(travel, 0.0)
        start = lo + u_start * np.maximum(hi - lo, 0.0)
    velocity = d * s
    centres = start[None, :] + np.arange(num_frames)[:, None] * velocity[None, :]
    if boundary == "wrap":
        centres = centres % 1.0

    cx = centres[:, 0, None, None].astype(np.float32)
    cy = centres[:, 1, None, None].astype(np.float32)
    dx, dy = grid.x[None] - cx, grid.y[None] - cy
    if boundary == "wrap":  # shortest offset on the torus
        dx = (dx + 0.5) % 1.0 - 0.5
        dy = (dy + 0.5) % 1.0 - 0.5
    cos, sin = np.float32(np.cos(tilt) / r), np.float32(np.sin(tilt) / r)
    mask = shape_mask(kind, cos * dx + sin * dy, cos * dy - sin * dx)

    frames = np.empty((num_frames,) + bg.shape, dtype=np.float32)
    frames[:] = bg
    frames[mask] = colour
    frames = (np.clip(frames, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return MotionClip(frames, mask, centres, velocity, kind, r)


class _Name:
    """Stands in for an attrs attribute when a validator checks a plain argument."""

    def __init__(self, name: str) -> None:
        self.name = name


class SyntheticMotionDataset(SyntheticDataset):
    """Map-style dataset of ``(tensor [3, T, res, res], label)`` synthetic motion clips.

    Example::

        ds = SyntheticMotionDataset(100, resolution=32, num_frames=8, split="val")
        x, y = ds[6]          # y == 2 ("left"); ds[6] is the same every time
        ds.render(6).centres  # where the shape is in each frame
    """

    noun = "clips"

    def __init__(
        self,
        length: int,
        *,
        resolution: int = 32,
        num_frames: int = 8,
        num_classes: int = 4,
        speed: tuple[float, float] = (0.06, 0.12),
        boundary: str = "wrap",
        label_by: str = "direction",
        background: str = "texture",
        seed: int = 0,
        split: str = "train",
        transform: Any = None,
    ) -> None:
        super().__init__(length, num_classes=num_classes, seed=seed, split=split)
        _num_classes(None, _Name("num_classes"), num_classes)
        _num_frames(None, _Name("num_frames"), num_frames)
        _speed(None, _Name("speed"), tuple(speed))
        if boundary not in ("wrap", "inside"):
            raise ValueError(f"boundary must be 'wrap' or 'inside', got {boundary!r}")
        _check_inside_speed(boundary, tuple(speed), num_frames)
        if label_by not in ("direction", "shape"):
            raise ValueError(f"label_by must be 'direction' or 'shape', got {label_by!r}")
        _check_shape_classes(label_by, num_classes)
        _check_background(background)
        self.label_by, self.background = label_by, background
        self.resolution, self.num_frames = resolution, num_frames
        self.speed, self.boundary = tuple(speed), boundary
        self.transform = transform if transform is not None else clip_to_tensor()
        self.classes: list[str] = list(SHAPES[:num_classes]) if label_by == "shape" else direction_names(num_classes)
        self._grid: PixelGrid | None = None

    def render(self, index: int) -> MotionClip:
        """The untransformed clip ``index`` (a pure function of seed, split, index)."""
        rng = self.sample_rng(index)
        if self._grid is None:
            self._grid = PixelGrid(self.resolution)
        return render_motion_clip(
            rng,
            self.label(index),
            self._grid,
            num_frames=self.num_frames,
            num_classes=self.num_classes,
            speed=self.speed,
            boundary=self.boundary,
            label_by=self.label_by,
            background=self.background,
        )

    def frames(self, index: int) -> np.ndarray:
        """The uint8 ``[T, H, W, 3]`` frames of clip ``index``."""
        return self.render(index).frames

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.transform(self.frames(index)), self.label(index)


def build_synthetic_motion(cfg: SyntheticMotionConfig, split: str) -> SyntheticMotionDataset:
    """Train split: ``num_train`` clips, shared random resized crop (no flip) when ``augment``;
    ``train_eval``: the same clips without crop; val: ``num_val`` held-out clips, no crop."""
    length, part, crop = synthetic_split(cfg, split)
    tf = train_clip_transform(cfg.resolution, cfg.crop_scale, cfg.aspect, flip=0.0) if crop else clip_to_tensor()
    return SyntheticMotionDataset(
        length,
        resolution=cfg.resolution,
        num_frames=cfg.num_frames,
        num_classes=cfg.num_classes,
        speed=cfg.speed,
        boundary=cfg.boundary,
        label_by=cfg.label_by,
        background=cfg.background,
        seed=cfg.seed,
        split=part,
        transform=tf,
    )


__all__ = [
    "MotionClip",
    "RADIUS",
    "SyntheticMotionConfig",
    "SyntheticMotionDataset",
    "build_synthetic_motion",
    "direction",
    "direction_names",
    "render_motion_clip",
]
