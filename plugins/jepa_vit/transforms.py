"""Pixel statistics and crop options shared by the image and video transforms.

Images and clips are normalised with the ImageNet mean and standard deviation (per RGB
channel, on values in [0, 1]); train crops cover a fraction ``crop_scale = (lo, hi)`` of the
input's area.

Example::

    @attrs.frozen
    class MyDataConfig:
        crop_scale: tuple[float, float] = attrs.field(default=(0.3, 1.0), validator=check_crop_scale)

    T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
"""

from __future__ import annotations

from typing import Any

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def check_crop_scale(_inst: Any, attr: Any, value: tuple[float, float]) -> None:
    """attrs validator: ``crop_scale`` is ``(lo, hi)`` with ``0 < lo <= hi <= 1``."""
    if len(value) != 2 or not 0.0 < value[0] <= value[1] <= 1.0:
        raise ValueError(f"{attr.name} must be (lo, hi) with 0 < lo <= hi <= 1, got {value!r}")
