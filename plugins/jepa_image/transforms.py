"""Image transforms of the I-JEPA recipe (torchvision v1 API).

Training uses only RandomResizedCrop (scale (0.3, 1.0), bicubic): no flips, colour jitter or
blur. The v1 transforms draw their randomness from torch's global RNG, which the core loader
seeds per sample, so a resumed run sees exactly the same crops.

Example::

    tf = train_transform(224)
    x = tf(pil_image)          # float tensor [3, 224, 224], ImageNet-normalised
"""

from __future__ import annotations

from typing import Any

from torchvision import transforms as T

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_BICUBIC = T.InterpolationMode.BICUBIC


def check_crop_scale(_inst: Any, attr: Any, value: tuple[float, float]) -> None:
    """attrs validator: ``crop_scale`` is ``(lo, hi)`` with ``0 < lo <= hi <= 1``."""
    if len(value) != 2 or not 0.0 < value[0] <= value[1] <= 1.0:
        raise ValueError(f"{attr.name} must be (lo, hi) with 0 < lo <= hi <= 1, got {value!r}")


def tensor_transform() -> T.Compose:
    """PIL image -> normalised float tensor, no resizing (for images already at resolution)."""
    return T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_transform(resolution: int, crop_scale: tuple[float, float] = (0.3, 1.0)) -> T.Compose:
    """RandomResizedCrop(resolution, crop_scale, bicubic) + ToTensor + Normalize."""
    return T.Compose(
        [
            T.RandomResizedCrop(resolution, scale=tuple(crop_scale), interpolation=_BICUBIC),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(resolution: int) -> T.Compose:
    """Resize the shorter side to ``int(resolution * 256 / 224)``, center-crop, normalise.

    Example: ``eval_transform(224)`` resizes to 256 and crops the central 224 x 224.
    """
    return T.Compose(
        [
            T.Resize(int(resolution * 256 / 224), interpolation=_BICUBIC),
            T.CenterCrop(resolution),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
