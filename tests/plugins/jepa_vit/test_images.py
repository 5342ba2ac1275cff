"""Decoding image files: 8-bit RGB out, a broken file is a BadSampleError naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jepa_core.errors import BadSampleError
from jepa_vit.images import IMAGE_EXTENSIONS, load_8bit, load_rgb


def test_grey_and_16_bit_images_come_back_as_8_bit_rgb(tmp_path: Path) -> None:
    Image.new("L", (5, 4), 200).save(tmp_path / "grey.png")
    Image.fromarray(np.full((4, 5), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")
    for name in ("grey.png", "deep.png"):
        img = load_rgb(str(tmp_path / name))
        assert img.mode == "RGB" and img.size == (5, 4)
    assert np.asarray(load_rgb(str(tmp_path / "deep.png"))).max() == 255


def test_load_8bit_keeps_greyscale_files_on_one_channel(tmp_path: Path) -> None:
    Image.new("L", (5, 4), 200).save(tmp_path / "grey.png")
    Image.fromarray(np.full((4, 5), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")
    Image.new("RGB", (5, 4), (1, 2, 3)).save(tmp_path / "colour.png")
    grey, deep, colour = (load_8bit(str(tmp_path / n)) for n in ("grey.png", "deep.png", "colour.png"))
    assert (grey.mode, deep.mode, colour.mode) == ("L", "L", "RGB")
    assert np.asarray(grey).max() == 200 and np.asarray(deep).max() == 255
    assert np.array_equal(np.asarray(grey.convert("RGB")), np.asarray(load_rgb(str(tmp_path / "grey.png"))))


def test_a_broken_file_is_a_bad_sample_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadSampleError, match="cut.jpg"):
        load_rgb(str(bad))
    with pytest.raises(BadSampleError, match="cut.jpg"):
        load_8bit(str(bad))
    assert ".jpg" in IMAGE_EXTENSIONS and all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)
