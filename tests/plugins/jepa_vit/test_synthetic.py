"""What the synthetic datasets share: run splits, balanced labels, per-sample generators."""

from __future__ import annotations

import types

import numpy as np
import pytest

from jepa_vit.synthetic import SyntheticDataset, synthetic_split


def test_run_splits_map_to_stored_splits_and_augmentation() -> None:
    cfg = types.SimpleNamespace(num_train=8, num_val=3, augment=True)
    assert synthetic_split(cfg, "train") == (8, "train", True)
    assert synthetic_split(cfg, "train_eval") == (8, "train", False)
    assert synthetic_split(cfg, "val") == (3, "val", False)
    assert synthetic_split(types.SimpleNamespace(num_train=8, num_val=3, augment=False), "train")[2] is False
    with pytest.raises(ValueError, match="split must be one of"):
        synthetic_split(cfg, "test")


def test_samples_are_pure_functions_of_seed_split_and_index() -> None:
    class Noise(SyntheticDataset):
        noun = "noises"

    train, again, val = (Noise(6, num_classes=4, seed=1, split=s) for s in ("train", "train", "val"))
    assert len(train) == 6 and [train.label(i) for i in range(6)] == [0, 1, 2, 3, 0, 1]
    draw = lambda ds, i: ds.sample_rng(i).random(4)  # noqa: E731
    np.testing.assert_array_equal(draw(train, 2), draw(again, 2))
    assert not np.array_equal(draw(train, 2), draw(val, 2))
    assert not np.array_equal(draw(train, 2), draw(train, 3))
    with pytest.raises(IndexError, match="index 6 out of range for 6 noises"):
        train.sample_rng(6)
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        Noise(6, num_classes=4, seed=1, split="train_eval")
