"""Clip transforms of the V-JEPA recipe, on torch ops.

Input: a frame stack ``[T, H, W, C]`` (frames, height, width, RGB channels; what numpy/PIL
give), as a numpy array or a torch tensor, ``uint8`` in [0, 255] or floating in [0, 1].
Output: a float32 clip ``[C, T, H, W]``, ImageNet-normalised.

Training applies ONE random resized crop to every frame of the clip (the same box, so the
motion inside the clip is preserved), then a horizontal flip of the whole clip with
probability ``flip``, then a bilinear (antialiased) resize to ``resolution x resolution``.
Every random draw comes from torch's global RNG, which the core loader seeds per sample, so a
resumed run sees exactly the same crops and flips.

Example::

    tf = train_clip_transform(224)
    clip = tf(frames)              # frames uint8 [16, 360, 480, 3] -> float [3, 16, 224, 224]
    clip = eval_clip_transform(224)(frames)   # resize shorter side to 256, centre-crop 224
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import RandomResizedCrop

from jepa_vit.transforms import IMAGENET_MEAN, IMAGENET_STD, check_crop_scale, eval_resize

_MEAN = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1, 1)
_STD = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1, 1)


def check_aspect(_inst: Any, attr: Any, value: tuple[float, float]) -> None:
    """attrs validator: ``aspect`` (crop width / height) is ``(lo, hi)`` with ``0 < lo <= hi``."""
    if len(value) != 2 or not 0.0 < value[0] <= value[1]:
        raise ValueError(f"{attr.name} must be (lo, hi) with 0 < lo <= hi, got {value!r}")


def check_flip(_inst: Any, attr: Any, value: float) -> None:
    """attrs validator: ``flip`` is a probability in [0, 1]."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attr.name} must be a probability in [0, 1], got {value!r}")


def check_resolution(_inst: Any, attr: Any, value: int) -> None:
    """attrs validator: ``resolution`` is a positive int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{attr.name} must be a positive int, got {value!r}")


def _named(name: str) -> Any:
    return types.SimpleNamespace(name=name)


def frames_to_tensor(frames: Any) -> torch.Tensor:
    """``[T, H, W, 3]`` uint8 / float frames (numpy or torch) -> float32 ``[T, 3, H, W]`` in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[-1] != 3:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"frames must be a [T, H, W, 3] array or tensor, got {shape}")
    x = x.permute(0, 3, 1, 2)
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    if not x.is_floating_point():
        raise ValueError(f"frames must be uint8 in [0, 255] or floating in [0, 1], got dtype {x.dtype}")
    return x.float()


def normalize_clip(x: torch.Tensor) -> torch.Tensor:
    """Float ``[T, 3, H, W]`` in [0, 1] -> ImageNet-normalised ``[3, T, H, W]`` (contiguous)."""
    return ((x.transpose(0, 1) - _MEAN) / _STD).contiguous()


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


class ClipToTensor:
    """Frames -> normalised ``[3, T, H, W]`` clip, no resizing (for frames already at resolution)."""

    def __call__(self, frames: Any) -> torch.Tensor:
        return normalize_clip(frames_to_tensor(frames))

    def __repr__(self) -> str:
        return "ClipToTensor()"


class TrainClipTransform:
    """One random resized crop shared by all frames, clip-level flip, resize, normalise.

    The crop box is drawn like torchvision's ``RandomResizedCrop`` (area fraction in
    ``crop_scale``, width/height ratio log-uniform in ``aspect``); then ``torch.rand(1) < flip``
    flips every frame. Both draws use torch's global RNG (the flip draw happens even when
    ``flip`` is 0 or 1, so the crop of a sample does not depend on ``flip``).
    """

    def __init__(
        self,
        resolution: int,
        crop_scale: tuple[float, float] = (0.3, 1.0),
        aspect: tuple[float, float] = (0.75, 1.35),
        flip: float = 0.5,
    ) -> None:
        check_resolution(None, _named("resolution"), resolution)
        check_crop_scale(None, _named("crop_scale"), tuple(crop_scale))
        check_aspect(None, _named("aspect"), tuple(aspect))
        check_flip(None, _named("flip"), flip)
        self.resolution, self.flip = int(resolution), float(flip)
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))
        self.aspect = (float(aspect[0]), float(aspect[1]))

    def __call__(self, frames: Any) -> torch.Tensor:
        x = frames_to_tensor(frames)
        top, left, h, w = RandomResizedCrop.get_params(x, list(self.crop_scale), list(self.aspect))
        x = x[..., top : top + h, left : left + w]
        if bool(torch.rand(1) < self.flip):
            x = x.flip(-1)
        return normalize_clip(_resize(x, (self.resolution, self.resolution)))

    def __repr__(self) -> str:
        return (
            f"TrainClipTransform(resolution={self.resolution}, crop_scale={self.crop_scale}, "
            f"aspect={self.aspect}, flip={self.flip})"
        )


class EvalClipTransform:
    """Resize the shorter side to :func:`~jepa_vit.transforms.eval_resize`, centre-crop, normalise."""

    def __init__(self, resolution: int) -> None:
        check_resolution(None, _named("resolution"), resolution)
        self.resolution = int(resolution)

    def __call__(self, frames: Any) -> torch.Tensor:
        x = frames_to_tensor(frames)
        h, w = x.shape[-2:]
        short = eval_resize(self.resolution)
        size = (short, max(int(short * w / h), short)) if h <= w else (max(int(short * h / w), short), short)
        x = _resize(x, size)
        r = self.resolution
        top, left = int(round((size[0] - r) / 2.0)), int(round((size[1] - r) / 2.0))
        return normalize_clip(x[..., top : top + r, left : left + r])

    def __repr__(self) -> str:
        return f"EvalClipTransform(resolution={self.resolution})"


def train_clip_transform(
    resolution: int,
    crop_scale: tuple[float, float] = (0.3, 1.0),
    aspect: tuple[float, float] = (0.75, 1.35),
    flip: float = 0.5,
) -> TrainClipTransform:
    """The V-JEPA train transform (see :class:`TrainClipTransform`)."""
    return TrainClipTransform(resolution, crop_scale, aspect, flip)


def eval_clip_transform(resolution: int) -> EvalClipTransform:
    """The eval transform; e.g. ``eval_clip_transform(224)`` resizes to 256 and crops 224 x 224."""
    return EvalClipTransform(resolution)


def clip_to_tensor() -> ClipToTensor:
    """Frames -> normalised clip without resizing."""
    return ClipToTensor()


__all__ = [
    "ClipToTensor",
    "EvalClipTransform",
    "TrainClipTransform",
    "check_aspect",
    "check_flip",
    "check_resolution",
    "clip_to_tensor",
    "eval_clip_transform",
    "frames_to_tensor",
    "normalize_clip",
    "train_clip_transform",
]
