"""High-bit-depth images decode to correctly rescaled 8-bit RGB (PIL's own convert clips a
16-bit greyscale PNG at 255), checked against images with known pixel values."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from jepa_core.imaging import to_rgb8

GRADIENT = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)  # 0 .. 65472


def _png16(path: Path, pixels: np.ndarray, color_type: int) -> Path:
    """A 16-bit PNG written byte by byte (PIL cannot write 16-bit colour): 0 grey, 2 RGB."""
    h, w = pixels.shape[:2]
    raw = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )
    return path


def _expected(values: np.ndarray) -> np.ndarray:
    return np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)


def test_16_bit_grey_png_is_rescaled_not_saturated(tmp_path):
    path = _png16(tmp_path / "grey16.png", GRADIENT, color_type=0)
    with Image.open(path) as img:
        img.load()
        assert img.mode.startswith("I")  # what PIL's convert("RGB") clips: 99.6% of pixels would be 255
        rgb = np.asarray(to_rgb8(img))
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    for c in range(3):
        assert np.array_equal(rgb[..., c], _expected(GRADIENT))
    assert (rgb == 255).mean() < 0.01


def test_16_bit_colour_png_keeps_its_channels(tmp_path):
    pixels = np.stack([GRADIENT, 65535 - GRADIENT, GRADIENT // 2], axis=-1)
    with Image.open(_png16(tmp_path / "rgb16.png", pixels, color_type=2)) as img:
        img.load()
        rgb = np.asarray(to_rgb8(img)).astype(int)
    assert np.abs(rgb - _expected(pixels).astype(int)).max() <= 1  # PIL keeps the high byte: within one level


def test_32_bit_integer_and_float_images(tmp_path):
    wide = Image.fromarray(np.arange(16, dtype=np.int32).reshape(4, 4) * 1_000_000)  # mode I beyond 16 bits
    got = np.asarray(to_rgb8(wide))[..., 0]
    assert got[0, 0] == 0 and got[-1, -1] == 255 and np.all(np.diff(got.ravel().astype(int)) >= 0)
    small = Image.fromarray(np.array([[0, 100, 255]], dtype=np.int32))  # mode I holding 8-bit values
    assert np.asarray(to_rgb8(small))[0, :, 0].tolist() == [0, 100, 255]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))  # mode F in [0, 1]
    assert np.asarray(to_rgb8(unit))[0, :, 0].tolist() == [0, 128, 255]


def test_8_bit_images_are_unchanged(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(to_rgb8(Image.fromarray(pixels))), pixels)
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert np.array_equal(np.asarray(to_rgb8(Image.fromarray(grey)))[..., 1], grey)


def test_the_image_folder_dataset_reads_16_bit_pngs_rescaled(tmp_path):
    from jepa_image.folder import ImageFolderDataset

    _png16((tmp_path / "a").mkdir() or tmp_path / "a" / "x.png", GRADIENT, color_type=0)
    _png16((tmp_path / "b").mkdir() or tmp_path / "b" / "y.png", GRADIENT, color_type=0)
    img, label = ImageFolderDataset(tmp_path)[0]
    assert label == 0 and np.array_equal(np.asarray(img)[..., 0], _expected(GRADIENT))
