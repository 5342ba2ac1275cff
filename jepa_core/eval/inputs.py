"""Checks of what a probe or k-NN is handed from code: features and labels that fit each other.

Each evaluation (:func:`~jepa_core.eval.knn.knn_classify`,
:func:`~jepa_core.eval.probe.lbfgs_probe`, :func:`~jepa_core.eval.probe.linear_probe`,
:func:`~jepa_core.eval.attentive.attentive_probe`) checks its inputs first, so a mismatch is one
:class:`~jepa_core.errors.DataError` naming the argument, not an index error deep inside, and
features that are not finite (an encoder that diverged) are refused instead of scoring at chance.

>>> x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 0, 1])
>>> check_split("the probe", ("train_x", x), ("train_y", y), ndim=2).tolist()
[0, 1, 0, 1, 0, 1]
>>> check_split("the probe", ("train_x", x), ("train_y", y[:3]), ndim=2)
Traceback (most recent call last):
...
jepa_core.errors.DataError: train_y must hold one label per row of train_x (6), but has shape (3,).
"""

from __future__ import annotations

import torch

from jepa_core.errors import DataError

SHAPES = {2: "[N, D]", 3: "[N, T, D]"}


def check_features(what: str, name: str, x: torch.Tensor, *, ndim: int) -> None:
    """``x`` is a non-empty, finite ``ndim``-D float tensor (``[N, D]`` features, ``[N, T, D]`` tokens)."""
    if not isinstance(x, torch.Tensor) or x.ndim != ndim:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise DataError(f"{what} needs {name} of shape {SHAPES[ndim]}, but it has shape {shape}.")
    if 0 in x.shape:
        raise DataError(f"{what} needs at least one sample and one feature, but {name} has shape {tuple(x.shape)}.")
    if x.is_complex() or not x.is_floating_point():
        raise DataError(f"{what} needs floating-point {name}, but it has dtype {x.dtype}.")
    finite = torch.isfinite(x).reshape(len(x), -1).all(1)  # [N]
    if not bool(finite.all()):
        rows = (~finite).nonzero().flatten()
        raise DataError(
            f"{name} holds non-finite values in {len(rows)} of its {len(x)} rows (e.g. row {int(rows[0])}); "
            "features of an encoder that diverged cannot be evaluated."
        )


def check_labels(name: str, labels: torch.Tensor, features: str, n: int) -> torch.Tensor:
    """``labels`` as a long tensor of ``n`` class indices ``>= 0``, one per row of ``features``."""
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise DataError(f"{name} must hold one label per row of {features} ({n}), but has shape {tuple(labels.shape)}.")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise DataError(f"{name} must hold integer class labels, but has dtype {labels.dtype}.")
    if bool((labels < 0).any()):
        raise DataError(f"{name} has negative labels (e.g. {int(labels.min())}); class labels must be >= 0.")
    return labels.long()


def check_split(what: str, features: tuple[str, torch.Tensor], labels: tuple[str, torch.Tensor], *, ndim: int):
    """:func:`check_features` and :func:`check_labels` of one split; returns the labels as long."""
    check_features(what, features[0], features[1], ndim=ndim)
    return check_labels(labels[0], labels[1], features[0], len(features[1]))


def check_widths(train: tuple[str, torch.Tensor], val: tuple[str, torch.Tensor]) -> None:
    """The two splits' features have the same width (the last dimension)."""
    if train[1].shape[-1] != val[1].shape[-1]:
        raise DataError(
            f"{val[0]} have width {val[1].shape[-1]} but {train[0]} have width {train[1].shape[-1]}; both must "
            "come from the same encoder."
        )
