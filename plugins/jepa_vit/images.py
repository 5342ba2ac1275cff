"""Decoding image files (the image plugin's folders and the video plugin's frame folders).

Example::

    if name.lower().endswith(IMAGE_EXTENSIONS):
        img = load_rgb(path)          # 8-bit RGB PIL image; a broken file is a BadSampleError
        img = load_8bit(path)         # the same, but a greyscale file stays one channel (mode L)
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from jepa_core.errors import BadSampleError
from jepa_core.imaging import to_8bit, to_rgb8

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def load_rgb(path: str) -> Image.Image:
    """Fully decode ``path`` as an 8-bit RGB PIL image (16-bit and other high-bit-depth images
    rescaled, :func:`jepa_core.imaging.to_rgb8`); any failure is a :class:`BadSampleError`."""
    return _decode(path, to_rgb8)


def load_8bit(path: str) -> Image.Image:
    """Fully decode ``path`` as an 8-bit PIL image, mode ``L`` for greyscale files and ``RGB`` for
    the rest (:func:`jepa_core.imaging.to_8bit`); any failure is a :class:`BadSampleError`."""
    return _decode(path, to_8bit)


def _decode(path: str, to_8_bits: Callable[[Image.Image], Image.Image]) -> Image.Image:
    try:
        with Image.open(path) as img:
            img.load()  # decode now: PIL opens lazily, a truncated file fails only here
            return to_8_bits(img)
    except Exception as err:  # noqa: BLE001 - any decoder failure means this one file is bad
        raise BadSampleError(f"unreadable image '{path}': {type(err).__name__}: {err}") from err
