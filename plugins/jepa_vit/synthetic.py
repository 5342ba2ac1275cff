"""What the synthetic (file-free) datasets of the plugins share: splits, balanced labels and
per-sample random generators.

Sample ``i`` of a split is a pure function of ``(seed, split, i)``: it is drawn from
``numpy.random.default_rng((seed, SPLIT_IDS[split], i))`` and its label is ``i % num_classes``
(balanced). A config's ``train`` split holds ``num_train`` samples (augmented when ``augment``),
``train_eval`` the same samples without augmentation, ``val`` ``num_val`` held-out ones.

Example::

    class Noise(SyntheticDataset):
        noun = "noises"

        def __getitem__(self, index):
            return self.sample_rng(index).standard_normal(8), self.label(index)

    length, split, augment = synthetic_split(cfg, "train_eval")   # (cfg.num_train, "train", False)
    ds = Noise(length, num_classes=4, seed=0, split=split)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jepa_core.specs import SPLITS

SPLIT_IDS = {"train": 0, "val": 1}


def synthetic_split(cfg: Any, split: str) -> tuple[int, str, bool]:
    """``(length, stored split, augment)`` of a run split (``train``, ``train_eval`` or ``val``)
    for a config with ``num_train``, ``num_val`` and ``augment``; ValueError for another split.

    >>> import types
    >>> synthetic_split(types.SimpleNamespace(num_train=8, num_val=2, augment=True), "train")
    (8, 'train', True)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "val":
        return cfg.num_val, "val", False
    return cfg.num_train, "train", split == "train" and cfg.augment


class SyntheticDataset:
    """Base of a map-style synthetic dataset: ``length`` samples of split ``"train"`` or ``"val"``,
    labels ``index % num_classes``; a subclass draws sample ``index`` from :meth:`sample_rng` and
    names its samples in ``noun`` (for the out-of-range error)."""

    noun = "samples"

    def __init__(self, length: int, *, num_classes: int, seed: int, split: str) -> None:
        if split not in SPLIT_IDS:
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.length, self.num_classes, self.seed, self.split = length, num_classes, seed, split

    def __len__(self) -> int:
        return self.length

    def label(self, index: int) -> int:
        return index % self.num_classes

    def sample_rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``; IndexError outside ``[0, length)``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} {self.noun}")
        return np.random.default_rng((self.seed, SPLIT_IDS[self.split], index))
