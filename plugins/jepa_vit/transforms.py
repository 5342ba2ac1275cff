"""Pixel statistics and crop options shared by the image and video transforms.

Images and clips are normalised with the ImageNet mean and standard deviation (per RGB
channel, on values in [0, 1]); train crops cover a fraction ``crop_scale = (lo, hi)`` of the
input's area; evaluation resizes the shorter side to :func:`eval_resize` and reads its central
``resolution`` (a share ``EVAL_CROP`` of the side by default, ImageNet's 224 of 256).

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


EVAL_CROP = 224 / 256
"""The default central crop of evaluation inputs, as a fraction of the resized side (ImageNet's)."""


def check_eval_crop(_inst: Any, attr: Any, value: float) -> None:
    """attrs validator: an evaluation crop fraction is in ``(0, 1]``."""
    if not (isinstance(value, (int, float)) and 0 < value <= 1):
        raise ValueError(
            f"{attr.name} must be in (0, 1] (the central crop's share of the resized image), got {value!r}"
        )


def eval_resize(resolution: int, crop: float = EVAL_CROP) -> int:
    """The shorter side evaluation resizes to before cropping the central ``resolution``.

    >>> eval_resize(224), eval_resize(32), eval_resize(32, 1.0)
    (256, 36, 32)
    """
    return int(resolution / crop + 1e-6)
