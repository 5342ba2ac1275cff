"""Low-shot subsets: exactly K per class, the fraction protocol, seeding."""

from __future__ import annotations

import pytest
import torch

from jepa_core.errors import ConfigError, DataError
from jepa_core.eval.lowshot import class_counts, fraction_counts, fraction_subset, per_class_subset

LABELS = torch.cat([torch.full((n,), c) for c, n in enumerate([30, 12, 7, 55])])[
    torch.randperm(104, generator=torch.Generator().manual_seed(0))
]


def test_per_class_subset_has_exactly_k_of_each_class_and_is_reproducible():
    idx = per_class_subset(LABELS, 5, seed=1)
    assert class_counts(LABELS[idx]) == {0: 5, 1: 5, 2: 5, 3: 5}
    assert len(set(idx.tolist())) == 20
    assert torch.equal(idx, per_class_subset(LABELS, 5, seed=1))
    assert not torch.equal(idx, per_class_subset(LABELS, 5, seed=2))


def test_per_class_subset_refuses_more_than_a_class_has():
    with pytest.raises(DataError, match="--labels-per-class 8 is more than class 2 has \\(7"):
        per_class_subset(LABELS, 8)
    with pytest.raises(ConfigError, match="got 0"):
        per_class_subset(LABELS, 0)


def test_fraction_subset_counts_round_per_class_with_at_least_one():
    assert fraction_counts(LABELS, 0.1) == {0: 3, 1: 1, 2: 1, 3: 6}  # 3.0, 1.2, 0.7 -> 1, 5.5 -> 6
    idx = fraction_subset(LABELS, 0.1, seed=0)
    assert class_counts(LABELS[idx]) == {0: 3, 1: 1, 2: 1, 3: 6}
    assert torch.equal(idx, fraction_subset(LABELS, 0.1, seed=0))
    assert class_counts(LABELS[fraction_subset(LABELS, 0.01)]) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert len(fraction_subset(LABELS, 1.0)) == len(LABELS)


def test_fraction_one_percent_of_a_balanced_set():
    labels = torch.arange(1000) % 10  # 100 per class
    assert class_counts(labels[fraction_subset(labels, 0.01)]) == {c: 1 for c in range(10)}
    assert class_counts(labels[fraction_subset(labels, 0.05)]) == {c: 5 for c in range(10)}


def test_bad_fraction_and_unlabelled_samples_are_errors():
    with pytest.raises(ConfigError, match="got 1.5"):
        fraction_subset(LABELS, 1.5)
    with pytest.raises(DataError, match="unlabelled"):
        per_class_subset(torch.tensor([0, 1, -1]), 1)
