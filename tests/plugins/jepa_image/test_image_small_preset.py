"""The ``small`` preset on a real image folder layout, and the probe's data checked before training."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from jepa_core import cli


def _write_images(folder, n: int, seed: int, side: int = 28) -> None:
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        pixels = (torch.rand(side, side, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels, mode="L").save(folder / f"{i:03d}.png")  # grey, like Fashion-MNIST


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("small")
    for k, cls in enumerate(("0-bag", "1-coat", "2-dress")):
        _write_images(root / "train" / cls, 12, seed=k)
        _write_images(root / "val" / cls, 4, seed=10 + k)
    return root


BASE = ["train", "--plugin", "image", "--preset", "small", "--set", "train.num_workers=0", "--set", "train.device=cpu"]


def test_small_preset_trains_on_grey_class_folders_and_probes_the_val_folder(class_folders, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(
        BASE
        + [
            "--data",
            str(class_folders / "train"),
            "--set",
            f"data.val_root={class_folders / 'val'}",
            "--set",
            "train.batch_size=12",
            "--set",
            "train.epochs=1",
            "--set",
            "probe.epochs=2",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "grid (8, 8)" in text  # 32 px, patch 4
    probe = json.loads((out / "probe.json").read_text())
    assert set(probe) == {"trained", "random_init"}
    assert probe["trained"]["num_val"] == 12 and probe["trained"]["num_classes"] == 3


def test_small_preset_holds_out_a_tenth_without_a_val_folder(class_folders, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(
        BASE
        + [
            "--data",
            str(class_folders / "train"),
            "--set",
            "train.batch_size=8",
            "--set",
            "train.max_steps=1",
            "--set",
            "probe.epochs=1",
            "--set",
            "probe.compare_random_init=false",
            "--out",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    probe = json.loads((out / "probe.json").read_text())
    assert probe["trained"]["num_val"] == round(36 * 0.1)


def test_probe_on_a_flat_unlabelled_folder_fails_before_training(tmp_path, capsys):
    _write_images(tmp_path / "flat", 8, seed=0)
    out = tmp_path / "run"
    rc = cli.main(
        BASE
        + [
            "--data",
            str(tmp_path / "flat"),
            "--set",
            "data.val_fraction=0.25",
            "--set",
            "train.batch_size=4",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "probe.enabled=true needs class labels" in err and "label -1" in err
    assert not (out / "checkpoints").exists()  # nothing trained


def test_probe_without_a_val_split_fails_before_training(class_folders, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(
        BASE
        + [
            "--data",
            str(class_folders / "train"),
            "--set",
            "data.val_fraction=0",
            "--set",
            "train.batch_size=4",
            "--out",
            str(out),
        ]
    )
    assert rc == 2
    assert "val split needs data.val_root or data.val_fraction > 0" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_flat_folder_trains_when_the_probe_is_off(tmp_path, capsys):
    _write_images(tmp_path / "flat", 8, seed=0)
    rc = cli.main(
        BASE
        + [
            "--data",
            str(tmp_path / "flat"),
            "--set",
            "probe.enabled=false",
            "--set",
            "train.batch_size=4",
            "--set",
            "train.max_steps=1",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert any((tmp_path / "run" / "checkpoints").iterdir())
