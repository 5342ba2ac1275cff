"""Bad data: unreadable or truncated images are skipped and counted (console, TensorBoard
``data/bad_samples``); too many stop the run naming examples; empty, missing or mis-sized data
is one clear sentence with exit code 2 and no traceback. Uses the image plugin's
``image_folder`` dataset with a tiny ViT on a folder of tiny PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from jepa_core.checkpoint import latest_checkpoint
from jepa_core.cli import main
from jepa_core.data import KeyedDataset
from jepa_core.errors import BadSampleError, DataError

TINY = [
    "encoder.size=tiny",
    "encoder.depth=1",
    "encoder.patch_size=8",
    "encoder.img_size=32",
    "data.resolution=32",
    "predictor.depth=1",
    "predictor.embed_dim=48",
    "train.batch_size=4",
    "train.micro_batch_size=none",
    "train.num_workers=0",
    "train.precision=fp32",
    "train.device=cpu",
    "masker.min_keep=2",
    "train.epochs=1",
    "train.log_every=1",
]


def train(data: Path, out: Path, *extra: str) -> list[str]:
    sets = [arg for item in [*TINY, *extra] for arg in ("--set", item)]
    return [
        "--no-autoload",
        "-p",
        "jepa_image.plugin",
        "train",
        "--plugin",
        "image",
        "--preset",
        "vith14",
        "--data",
        str(data),
        "--out",
        str(out),
        *sets,
    ]


def make_images(
    folder: Path, n: int, size: tuple[int, int] = (20, 24), bad: dict[int, str] | None = None
) -> list[Path]:
    """``n`` random PNGs; ``bad`` maps an index to 'garbage' or 'truncated'."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"img{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
        kind = (bad or {}).get(i)
        if kind == "garbage":
            path.write_bytes(b"this is not a png")
        elif kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        paths.append(path)
    return paths


def _bad_sample_scalars(tb_dir: Path) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    return [e.value for e in acc.Scalars("data/bad_samples")]


def test_corrupt_images_are_skipped_counted_and_logged(tmp_path, capsys):
    # image 0 is corrupt too: the start-up shape check must skip it like training does
    paths = make_images(tmp_path / "data", 16, bad={0: "garbage", 5: "truncated"})
    rc = main(train(tmp_path / "data", tmp_path / "run", "train.max_bad_fraction=0.2"))
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert f"unreadable image '{paths[0]}'" in out and f"unreadable image '{paths[5]}': OSError" in out
    assert "skipped 2 unreadable samples (2 of 16 samples drawn;" in out
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step_00000004.pt"
    assert _bad_sample_scalars(tmp_path / "run" / "tensorboard")[-1] == 2


def test_too_many_bad_images_stop_with_exit_2_naming_an_example(tmp_path, capsys):
    paths = make_images(tmp_path / "data", 16, bad={2: "garbage", 7: "truncated", 11: "garbage"})
    rc = main(train(tmp_path / "data", tmp_path / "run", "train.max_bad_fraction=0.1"))
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(
        "error: 3 of 16 samples drawn were unreadable (18.8%), more than train.max_bad_fraction=0.1; e.g. "
    )
    assert any(f"'{p}'" in err for p in (paths[2], paths[7], paths[11]))
    assert "Traceback" not in err


def test_all_images_unreadable_is_one_sentence(tmp_path, capsys):
    make_images(tmp_path / "data", 8, bad={i: "garbage" for i in range(8)})
    rc = main(train(tmp_path / "data", tmp_path / "run"))
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: 8 consecutive samples from index 0 are unreadable, e.g. unreadable image")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("empty", "error: no images found in '{data}'; accepted extensions are"),
        ("only_text", "error: no images found in '{data}'; accepted extensions are"),
        ("missing", "error: data path '{data}' does not exist; pass a folder of images or of class sub-folders."),
        ("a_file", "error: data path '{data}' is not a directory; pass a folder of images or of class sub-folders."),
    ],
)
def test_missing_or_empty_data_is_one_sentence(tmp_path, capsys, setup, expected):
    data = tmp_path / "data"
    if setup in ("empty", "only_text"):
        data.mkdir()
    if setup == "only_text":
        (data / "notes.txt").write_text("no images here")
    if setup == "a_file":
        data.write_text("not a folder")
    rc = main(train(data, tmp_path / "run"))
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(expected.format(data=data))
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # stopped before any work


def test_images_smaller_than_the_patch_grid_are_upsampled_and_train(tmp_path, capsys):
    make_images(tmp_path / "data", 8, size=(5, 3))  # 5x3 pixels vs a 4x4 grid of 8-pixel patches
    rc = main(train(tmp_path / "data", tmp_path / "run"))
    assert rc == 0, capsys.readouterr().err
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step_00000002.pt"


def test_data_that_cannot_match_the_encoder_input_is_one_sentence(tmp_path, capsys):
    make_images(tmp_path / "data", 8)
    rc = main(train(tmp_path / "data", tmp_path / "run", "data.resolution=48"))
    err = capsys.readouterr().err
    assert rc == 2
    assert err == (
        "error: dataset 'image_folder' yields inputs of shape (3, 48, 48) but encoder 'vit' expects "
        "(3, 32, 32); make the data and encoder sizes agree (data.resolution=48, encoder.img_size=32).\n"
    )


def test_data_on_a_preset_of_generated_samples_names_the_switch_to_a_folder(tmp_path, capsys):
    """``--data`` on the demo (generated shapes) was 'unknown config key data.root'; it now names the
    folder dataset and the demo's settings that dataset needs, and that command trains."""
    for kind in ("a", "b"):
        make_images(tmp_path / "data" / kind, 10)
    base = ["--no-autoload", "-p", "jepa_image.plugin", "train", "--plugin", "image", "--preset", "demo"]
    base += ["--data", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    assert main(base) == 2
    err = capsys.readouterr().err
    fix = "--set data.name=image_folder --set data.resolution=64 --set data.val_fraction=0.1"
    assert err == (
        "error: --data sets data.root, but dataset 'synthetic_shapes' of image/demo generates its samples and "
        f"reads no folder; add {fix} to train this recipe on a folder.\n"
    )
    assert not (tmp_path / "run").exists()
    small = ["encoder.depth=1", "train.batch_size=4", "train.max_steps=1", "train.eval_every=0", "train.device=cpu"]
    rc = main([*base, *fix.split(), *[a for s in small for a in ("--set", s)]])
    assert rc == 0, capsys.readouterr().err
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step_00000001.pt"


def test_a_probe_without_a_val_split_names_the_probe(tmp_path, capsys):
    make_images(tmp_path / "data", 8)
    rc = main(train(tmp_path / "data", tmp_path / "run", "data.val_fraction=0", "probe.enabled=true"))
    assert rc == 2
    assert capsys.readouterr().err == (
        "error: a val split needs data.val_root or data.val_fraction > 0; neither is set (the end-of-run "
        "probe, probe.enabled=true, reads the val split; set probe.enabled=false to train without it).\n"
    )


def test_fewer_images_than_one_batch_is_one_sentence(tmp_path, capsys):
    make_images(tmp_path / "data", 3)
    rc = main(train(tmp_path / "data", tmp_path / "run"))
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(
        "error: the training split of dataset 'image_folder' has 3 samples, fewer than one global batch of 4"
    )
    make_images(tmp_path / "more", 4)  # one batch of 4 in all, 3 once a quarter is held out for val
    rc = main(train(tmp_path / "more", tmp_path / "run2", "data.val_fraction=0.25"))
    assert rc == 2
    assert capsys.readouterr().err == (
        "error: the training split of dataset 'image_folder' has 3 samples after data.val_fraction=0.25 held out "
        "the val split, fewer than one global batch of 4; lower train.batch_size to at most 3.\n"
    )


class _Flaky(torch.utils.data.Dataset):
    def __init__(self, bad: set[int]) -> None:
        self.bad = bad

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int):
        if i in self.bad:
            raise BadSampleError(f"sample {i} is corrupt")
        if i == 5:
            raise ValueError("a bug, not bad data")
        return torch.full((2,), float(i)), i


def test_keyed_dataset_substitutes_the_next_readable_sample_and_reports(tmp_path):
    ds = KeyedDataset(_Flaky({1, 2}), seed=0)
    x, y, where, bad = ds[(0, 3, 0, 1)]
    assert y == 3 and torch.equal(x, torch.full((2,), 3.0)) and where == (0, 3, 0)
    assert bad == ("sample 1 is corrupt", "sample 2 is corrupt")
    with pytest.raises(ValueError, match="a bug"):  # only BadSampleError is skipped
        ds[(0, 0, 0, 5)]
    with pytest.raises(DataError, match="6 consecutive samples from index 0 are unreadable"):
        KeyedDataset(_Flaky({0, 1, 2, 3, 4, 5}), seed=0)[(0, 0, 0, 0)]


def test_bad_fraction_counts_each_file_once_and_is_checked_at_the_epoch_end(tmp_path, capsys):
    # 6 consecutive unreadable images of 64 (9.4% > 1%): drawing img10 also tries img11..img15, but
    # each file counts once, and the epoch-end check stops the run whatever step the last one came in.
    make_images(tmp_path / "data", 64, size=(8, 8), bad={i: "garbage" for i in range(10, 16)})
    rc = main(
        train(
            tmp_path / "data",
            tmp_path / "run",
            "train.batch_size=8",
            "train.log_every=100",
            "train.max_bad_fraction=0.01",
        )
    )
    out, err = capsys.readouterr()
    assert rc == 2, out + err
    assert err.startswith(
        "error: 6 of 64 samples drawn were unreadable (9.4%), more than train.max_bad_fraction=0.01; "
        "e.g. unreadable image '"
    )
    assert err.count("\n") == 1
    assert sorted(
        line.split(": ", 1)[1].split("'")[1] for line in out.splitlines() if line.startswith("skipped sample")
    ) == [str(tmp_path / "data" / f"img{i:02d}.png") for i in range(10, 16)]
    # the epoch's training is kept: its checkpoint is written before the limit stops the run
    kept = latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert kept is not None and kept.name == "step_00000008.pt", kept


def test_a_non_utf8_file_name_prints_escaped_on_a_strict_console(tmp_path, capsys):
    # pytest's captured stdout is strict UTF-8, like PYTHONIOENCODING=utf-8
    make_images(tmp_path / "data", 15)
    import os

    with open(os.path.join(os.fsencode(tmp_path / "data"), b"zz-\xff.png"), "wb") as f:
        f.write(b"not an image")
    rc = main(train(tmp_path / "data", tmp_path / "run", "train.max_bad_fraction=0.5"))
    out, err = capsys.readouterr()
    assert f"skipped sample 1: unreadable image '{tmp_path / 'data'}/zz-\\xff.png'" in out
    assert rc == 0, err
