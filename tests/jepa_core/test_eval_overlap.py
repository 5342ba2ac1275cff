"""An evaluation whose val files are also its train files says so (its val numbers would be read on
training data); separate folders, a seeded holdout and datasets without files are quiet."""

from __future__ import annotations

import os
import warnings

import pytest

from jepa_core.cli import main
from jepa_core.eval.overlap import shared_samples, warn_shared_samples
from tests.jepa_core.test_eval_classes import _class_folders


def _files(*paths: str):
    return type("Files", (), {"samples": [(p, 0) for p in paths]})()


def test_shared_files_are_counted_through_links(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"")
    os.symlink(tmp_path / "a.png", tmp_path / "link.png")
    train = _files(str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    val = _files(str(tmp_path / "link.png"), str(tmp_path / "c.png"))
    assert shared_samples(train, val) == (1, 2, str(tmp_path / "a.png"))
    assert shared_samples(train, _files(str(tmp_path / "c.png"))) == (0, 1, None)
    assert shared_samples(train, object()) == (0, 0, None)  # no file list: not checked
    with pytest.warns(RuntimeWarning, match=r"^1 of the 2 val samples of 'x' are also train samples \(e\.g\. "):
        warn_shared_samples(train, val, what="'x'")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_shared_samples(train, _files(str(tmp_path / "c.png")), what="'x'")


def test_eval_with_the_train_folder_as_val_warns(tiny_image_run, tmp_path, capsys):
    _class_folders(tmp_path / "train", {"circle": 6, "square": 6})
    argv = ["eval", "knn", "--checkpoint", str(tiny_image_run), "--train", str(tmp_path / "train"), "--k", "3"]
    with pytest.warns(RuntimeWarning, match=r"12 of the 12 val samples of dataset 'image_folder' are also train"):
        assert main([*argv, "--val", str(tmp_path / "train")]) == 0
    _class_folders(tmp_path / "val", {"circle": 2, "square": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main([*argv, "--val", str(tmp_path / "val")]) == 0
    capsys.readouterr()


def test_video_clips_list_their_files_as_samples():
    from jepa_video.clips import ClipDataset

    clips = [("a.mp4", 0), ("b.mp4", 1)]
    assert ClipDataset(None, clips=clips).samples == clips


def test_online_evaluation_on_the_training_folder_warns_before_training(tmp_path):
    from jepa_core.config import apply_overrides
    from jepa_core.preflight import online_eval_subsets
    from jepa_core.registry import build_registry

    _class_folders(tmp_path / "data", {"circle": 6, "square": 6})
    registry = build_registry()
    base = [f"data.root={tmp_path / 'data'}", "data.val_fraction=0.25"]
    cfg = apply_overrides(registry.preset("image", "small").build(), base, registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert online_eval_subsets(cfg, registry, print) is not None  # a seeded holdout: disjoint
    same = apply_overrides(cfg, [f"data.val_root={tmp_path / 'data'}"], registry)
    with pytest.warns(RuntimeWarning, match=r"\(the online evaluation\) are also train samples"):
        online_eval_subsets(same, registry, print)
