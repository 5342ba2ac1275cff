"""Evaluations refuse fewer than two classes (one class would score 100%) and warn when a class
has fewer than five training samples."""

from __future__ import annotations

import pytest
import torch

from jepa_core.cli import main
from jepa_core.errors import DataError
from jepa_core.eval.classes import check_dataset_classes, check_label_counts


def test_fewer_than_two_classes_is_refused():
    with pytest.raises(
        DataError,
        match=r"^the train set has 1 class, but an evaluation needs at least 2 "
        r"\(one sub-folder per class\); add classes or evaluate on other data\.$",
    ):
        check_label_counts(torch.zeros(10, dtype=torch.long), what="the train set")
    with pytest.raises(DataError, match="has 0 classes"):
        check_label_counts(torch.full((4,), -1), what="the train set")
    with pytest.raises(DataError, match="'x' has 1 class"):
        check_dataset_classes(type("D", (), {"classes": ["cat"]})(), what="'x'")
    check_dataset_classes(type("Flat", (), {"classes": []})(), what="'x'")  # unlabelled: reported elsewhere


def test_few_samples_per_class_warn_and_enough_do_not(recwarn):
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 7)
    with pytest.warns(
        RuntimeWarning,
        match=r"^1 of 3 classes in the train set have fewer than 5 samples \(e\.g\. "
        r"class 1: 3\); the accuracy will be noisy\.$",
    ):
        check_label_counts(labels, what="the train set")
    recwarn.clear()
    check_label_counts(labels, what="the train set", warn_few=False)
    check_label_counts(torch.tensor([0] * 5 + [1] * 5), what="the train set")
    assert not recwarn.list


def _class_folders(root, classes: dict[str, int]) -> None:
    from jepa_image.synthetic import SyntheticShapesDataset

    ds = SyntheticShapesDataset(max(classes.values()), resolution=32, num_classes=2)
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            ds.image(i).save(root / name / f"{i}.png")


def test_eval_on_one_class_exits_2_before_extracting(tiny_image_run, tmp_path, capsys):
    _class_folders(tmp_path / "train", {"circle": 6})
    _class_folders(tmp_path / "val", {"circle": 3})
    rc = main(
        [
            "eval",
            "linear-probe",
            "--checkpoint",
            str(tiny_image_run),
            "--train",
            str(tmp_path / "train"),
            "--val",
            str(tmp_path / "val"),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 2 and "top-1" not in out
    assert err == (
        "error: the train set of dataset 'image_folder' has 1 class, but an evaluation needs at least 2 "
        "(one sub-folder per class); add classes or evaluate on other data.\n"
    )


def test_eval_with_few_samples_per_class_warns(tiny_image_run, tmp_path, capsys):
    _class_folders(tmp_path / "train", {"circle": 3, "square": 6})
    _class_folders(tmp_path / "val", {"circle": 2, "square": 2})
    with pytest.warns(
        RuntimeWarning,
        match=r"1 of 2 classes in the train set of dataset 'image_folder' have fewer "
        r"than 5 samples \(e\.g\. class 0: 3\)",
    ):
        rc = main(
            [
                "eval",
                "knn",
                "--checkpoint",
                str(tiny_image_run),
                "--train",
                str(tmp_path / "train"),
                "--val",
                str(tmp_path / "val"),
                "--k",
                "3",
            ]
        )
    assert rc == 0 and "k-NN (k=3, T=0.07) (target encoder): top-1" in capsys.readouterr().out


def test_end_of_run_probe_on_one_class_is_refused_before_training(tmp_path, capsys):
    _class_folders(tmp_path / "data", {"circle": 8})
    rc = main(
        [
            "train",
            "--plugin",
            "image",
            "--preset",
            "demo",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "run"),
            "--set",
            "data.name=image_folder",
            "--set",
            "data.val_fraction=0.25",
            "--set",
            "probe.enabled=true",
            "--set",
            "train.batch_size=4",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "has 1 class, but an evaluation needs at least 2" in err and "probe.enabled=true" in err
    assert not (tmp_path / "run").exists()
