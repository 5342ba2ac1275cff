"""Class-count checks shared by every evaluation (probes, k-NN; CLI and end-of-run).

With one class every prediction is right, so "top-1 100%" would mean nothing: an evaluation
refuses fewer than :data:`MIN_CLASSES` classes, and warns when a class has fewer than
:data:`FEW_SAMPLES` training samples (the accuracy is then mostly noise).

>>> check_dataset_classes(dataset, what="--train")      # doctest: +SKIP
>>> check_label_counts(torch.tensor([0, 0, 1, 1]), what="the train set", warn_few=False)
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from jepa_core.errors import DataError

MIN_CLASSES = 2
FEW_SAMPLES = 5


def _refuse(count: int, what: str) -> DataError:
    return DataError(
        f"{what} has {count} class{'es' if count != 1 else ''}, but an evaluation needs at least {MIN_CLASSES} "
        "(one sub-folder per class); add classes or evaluate on other data."
    )


def dataset_class_count(dataset: Any) -> int | None:
    """The number of classes ``dataset`` declares (``classes`` or ``num_classes``), or None.

    A flat folder (no classes, labels -1) is None: its missing labels are reported elsewhere.
    """
    classes = getattr(dataset, "classes", None)
    if classes:
        return len(classes)
    count = getattr(dataset, "num_classes", None)
    return int(count) if isinstance(count, int) else None


def check_dataset_classes(dataset: Any, *, what: str) -> None:
    """Before extracting features: :class:`DataError` when ``dataset`` declares fewer than 2 classes."""
    count = dataset_class_count(dataset)
    if count is not None and count < MIN_CLASSES:
        raise _refuse(count, what)


def check_label_counts(labels: torch.Tensor, *, what: str, warn_few: bool = True) -> None:
    """:class:`DataError` when ``labels`` hold fewer than 2 distinct classes; a warning (with
    ``warn_few``) when a present class has fewer than :data:`FEW_SAMPLES` samples."""
    known = labels[labels >= 0]
    counts = torch.bincount(known) if known.numel() else torch.zeros(0, dtype=torch.long)
    present = int((counts > 0).sum())
    if present < MIN_CLASSES:
        raise _refuse(present, what)
    few = [(c, int(n)) for c, n in enumerate(counts.tolist()) if 0 < n < FEW_SAMPLES]
    if warn_few and few:
        cls, n = few[0]
        warnings.warn(
            f"{len(few)} of {present} classes in {what} have fewer than {FEW_SAMPLES} samples "
            f"(e.g. class {cls}: {n}); the accuracy will be noisy.",
            RuntimeWarning,
            stacklevel=2,
        )
