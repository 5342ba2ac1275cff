"""Low-shot subsets of labelled training features: K per class, or a per-class fraction.

Example::

    idx = per_class_subset(train_y, 5, seed=0)           # exactly 5 samples of every class
    idx = fraction_subset(train_y, 0.01, seed=0)          # the paper's 1% protocol
    linear_probe(train_x[idx], train_y[idx], val_x, val_y)

Both return sorted indices into ``labels``; the choice depends only on ``(labels, seed)``.
``fraction_subset`` takes ``max(1, floor(fraction * n_c + 0.5))`` samples of each class ``c``
with ``n_c`` samples (at least one per class, rounded half up).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from jepa_core.errors import ConfigError, DataError
from jepa_core.folders import file_samples


def _classes(labels: torch.Tensor) -> list[int]:
    labels = torch.as_tensor(labels)
    if labels.numel() == 0:
        raise DataError("cannot choose a low-shot subset of an empty training set.")
    if bool((labels < 0).any()):
        raise DataError("the training set has unlabelled samples (label -1); low-shot subsets need class labels.")
    return sorted(int(c) for c in labels.unique().tolist())


def _pick(labels: torch.Tensor, counts: dict[int, int], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for c in sorted(counts):
        members = (labels == c).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=g)[: counts[c]]])
    return torch.cat(chosen).sort().values


def class_counts(labels: torch.Tensor) -> dict[int, int]:
    """``{class: number of samples}`` of ``labels``.

    >>> class_counts(torch.tensor([0, 1, 1]))
    {0: 1, 1: 2}
    """
    labels = torch.as_tensor(labels)
    return {c: int((labels == c).sum()) for c in _classes(labels)}


def per_class_subset(
    labels: torch.Tensor, k: int, *, seed: int = 0, class_names: Sequence[str] | None = None
) -> torch.Tensor:
    """Indices of exactly ``k`` samples of every class (seeded); DataError naming the smallest class
    (by ``class_names`` when given) if a class has fewer.

    >>> per_class_subset(torch.tensor([0, 0, 1, 1, 1]), 1, seed=0).shape
    torch.Size([2])
    """
    if k < 1:
        raise ConfigError(f"--labels-per-class must be >= 1, got {k}.")
    labels = torch.as_tensor(labels)
    counts = class_counts(labels)
    short = {c: n for c, n in counts.items() if n < k}
    if short:
        c, n = min(short.items(), key=lambda item: item[1])
        name = f"'{class_names[c]}'" if class_names is not None and c < len(class_names) else str(c)
        raise DataError(
            f"--labels-per-class {k} is more than class {name} has ({n} training samples); at most {n} fit every class."
        )
    return _pick(labels, {c: k for c in counts}, seed)


def fraction_counts(labels: torch.Tensor, fraction: float) -> dict[int, int]:
    """``{class: samples kept}`` for the fraction protocol: ``max(1, floor(fraction * n_c + 0.5))``."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"--label-fraction must be in (0, 1], got {fraction}.")
    return {c: max(1, math.floor(fraction * n + 0.5)) for c, n in class_counts(labels).items()}


def fraction_subset(labels: torch.Tensor, fraction: float, *, seed: int = 0) -> torch.Tensor:
    """Indices of a seeded per-class ``fraction`` of the samples, at least one per class.

    >>> len(fraction_subset(torch.arange(300) % 3, 0.01, seed=0))
    3
    """
    labels = torch.as_tensor(labels)
    return _pick(labels, fraction_counts(labels, fraction), seed)


def labels_before_reading(dataset: Any) -> torch.Tensor | None:
    """The labels of ``dataset`` known without reading a sample: those of its
    :func:`~jepa_core.folders.file_samples`; None for a dataset without them.

    A low-shot subset chosen on them is the one chosen on the extracted labels, so only the
    chosen samples need encoding.

    >>> class Folder:
    ...     samples = [("a/1.png", 0), ("b/2.png", 1)]
    >>> labels_before_reading(Folder())
    tensor([0, 1])
    """
    samples = file_samples(dataset)
    return None if samples is None else torch.tensor([label for _, label in samples], dtype=torch.long)
