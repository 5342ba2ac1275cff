"""Decoded images to 8 bits per channel, rescaling high bit depths (for any plugin that reads image files).

PIL's ``convert("RGB")`` clips a 16-bit greyscale image (mode ``I;16``) at 255 instead of
rescaling it, so a 16-bit PNG comes out almost white. :func:`to_rgb8` maps the full range of
such images onto 0-255. 16-bit colour PNGs are already reduced correctly by PIL (mode ``RGB``).
:func:`to_8bit` does the same but keeps greyscale images on one channel (mode ``L``), a third of
the pixels for every later resize or colour operation.

>>> from PIL import Image
>>> import numpy as np
>>> img = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))   # mode I;16
>>> np.asarray(to_rgb8(img))[0, :, 0].tolist()
[0, 128, 255]
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIXTEEN_BIT_MODES: tuple[str, ...] = ("I;16", "I;16L", "I;16B", "I;16N")
"""PIL modes of 16-bit unsigned greyscale pixels."""


def _grey_to_uint8(pixels: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(pixels * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _minmax(pixels: np.ndarray) -> np.ndarray:
    low, high = float(pixels.min()), float(pixels.max())
    return _grey_to_uint8(pixels - low, high - low) if high > low else np.zeros(pixels.shape, np.uint8)


def to_rgb8(img: Image.Image) -> Image.Image:
    """``img`` as an 8-bit RGB image, high-bit-depth greyscale rescaled to 0-255 (:func:`to_8bit`)."""
    out = to_8bit(img)
    return out if out.mode == "RGB" else out.convert("RGB")


def to_8bit(img: Image.Image) -> Image.Image:
    """``img`` as 8-bit greyscale (mode ``L``) when it is greyscale, else as 8-bit RGB.

    * ``L``: unchanged;
    * ``I;16*`` (16-bit PNG/TIFF): ``v * 255 / 65535``;
    * ``I`` (32-bit integers): read as 16-bit when it comes from a PNG or its values need more than
      8 bits and fit in 16, as 8-bit when they fit in 8, else stretched from its minimum to maximum;
    * ``F`` (32-bit floats): values in [0, 1] times 255, else stretched from minimum to maximum;
    * every other mode: PIL's ``convert("RGB")``.

    >>> to_8bit(Image.new("I;16", (2, 2), 65535)).mode, to_8bit(Image.new("P", (2, 2))).mode
    ('L', 'RGB')
    """
    mode = img.mode
    if mode == "L":
        return img
    if mode not in SIXTEEN_BIT_MODES and mode not in ("I", "F"):
        return img.convert("RGB")
    pixels = np.asarray(img, dtype=np.float64)
    if pixels.size == 0:
        return img.convert("L")
    low, high = float(pixels.min()), float(pixels.max())
    if mode in SIXTEEN_BIT_MODES:
        grey = _grey_to_uint8(pixels, 65535.0)
    elif mode == "I" and low >= 0 and high <= 65535 and (img.format == "PNG" or high > 255):
        grey = _grey_to_uint8(pixels, 65535.0)
    elif mode == "I" and low >= 0 and high <= 255:
        grey = pixels.astype(np.uint8)
    elif mode == "F" and low >= 0 and high <= 1:
        grey = _grey_to_uint8(pixels, 1.0)
    else:
        grey = _minmax(pixels)
    return Image.fromarray(grey, mode="L")
