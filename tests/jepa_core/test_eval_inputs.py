"""Features and labels handed to the k-NN and the probes from code are checked before any work."""

from __future__ import annotations

import pytest
import torch

from jepa_core.errors import DataError
from jepa_core.eval.attentive import attentive_probe
from jepa_core.eval.knn import knn_classify
from jepa_core.eval.probe import lbfgs_probe, linear_probe

X, Y = torch.randn(40, 8), torch.arange(40) % 4


def _knn(tx, ty, vx, vy):
    return knn_classify(tx, ty, vx, vy)


def _lbfgs(tx, ty, vx, vy):
    return lbfgs_probe(tx, ty, vx, vy, l2=1e-4)


def _adamw(tx, ty, vx, vy):
    return linear_probe(tx, ty, vx, vy, epochs=1)


def _nan_row(x: torch.Tensor, row: int) -> torch.Tensor:
    x = x.clone()
    x[row, 1] = float("nan")
    return x


CASES = [
    ((X, Y[:20], X, Y), r"^train_y must hold one label per row of train_x \(40\), but has shape \(20,\)\.$"),
    ((X, Y - 1, X, Y), r"^train_y has negative labels \(e\.g\. -1\); class labels must be >= 0\.$"),
    ((X, Y.float(), X, Y), r"^train_y must hold integer class labels, but has dtype torch\.float32\.$"),
    ((_nan_row(X, 7), Y, X, Y), r"^train_x holds non-finite values in 1 of its 40 rows \(e\.g\. row 7\); "),
    ((X, Y, _nan_row(X, 3), Y), r"^val_x holds non-finite values in 1 of its 40 rows \(e\.g\. row 3\); "),
    ((X, Y, X[:, :4], Y), r"^val_x have width 4 but train_x have width 8; both must come from the same encoder\.$"),
    ((X[:0], Y[:0], X, Y), r"needs at least one sample and one feature, but train_x has shape \(0, 8\)\.$"),
    ((X[:, None], Y, X, Y), r"needs train_x of shape \[N, D\], but it has shape \(40, 1, 8\)\.$"),
    ((X.long(), Y, X, Y), r"needs floating-point train_x, but it has dtype torch\.int64\.$"),
]


@pytest.mark.parametrize("evaluate", [_knn, _lbfgs, _adamw], ids=["knn", "lbfgs", "adamw"])
@pytest.mark.parametrize(("args", "message"), CASES)
def test_each_evaluation_names_the_bad_argument(evaluate, args, message):
    with pytest.raises(DataError, match=message):
        evaluate(*args)


def test_good_inputs_still_evaluate():
    assert _knn(X, Y, X, Y).top1 == 100.0
    assert _lbfgs(X, Y, X, Y).num_train == 40


def test_the_attentive_probe_refuses_non_finite_tokens():
    tokens = torch.randn(8, 4, 16)
    bad = tokens.clone()
    bad[2, 3, 0] = float("inf")
    with pytest.raises(DataError, match=r"^train_tokens holds non-finite values in 1 of its 8 rows \(e\.g\. row 2\)"):
        attentive_probe(bad, torch.arange(8) % 2, tokens, torch.arange(8) % 2, epochs=1)
