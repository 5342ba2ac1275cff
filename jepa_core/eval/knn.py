"""Weighted k-nearest-neighbour classification on frozen features (common SSL practice).

Features are L2-normalised; each query takes its ``k`` most cosine-similar training samples,
neighbour ``i`` votes for its class with weight ``exp(sim_i / temperature)`` (Wu et al. 2018,
as used by DINO, with ``k=20`` and ``temperature=0.07``), and the class scores rank the
predictions (top-1, and top-5 when there are more than 5 classes).

Example::

    result = knn_classify(train_x, train_y, val_x, val_y, k=20)
    result.top1, result.top5                                       # percent
"""

from __future__ import annotations

import math

import attrs
import torch
import torch.nn.functional as F

from jepa_core.errors import ConfigError
from jepa_core.eval.inputs import check_split, check_widths
from jepa_core.eval.probe import top1_top5


@attrs.frozen
class KnnResult:
    """Accuracy (%) of the k-NN classifier on the val features."""

    top1: float
    top5: float | None
    k: int
    temperature: float
    num_train: int
    num_val: int
    num_classes: int


@torch.no_grad()
def knn_scores(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    query_x: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """Class scores ``[Q, C]``: temperature-weighted votes of each query's ``k`` nearest neighbours.

    ``k`` larger than the training set uses every training sample.
    """
    if k < 1:
        raise ConfigError(f"--k must be >= 1, got {k}.")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"--temperature must be a finite number > 0, got {temperature}.")
    num_classes = int(train_y.max()) + 1 if num_classes is None else num_classes
    bank = F.normalize(train_x.float(), dim=1)
    k = min(k, len(bank))
    out = []
    for i in range(0, len(query_x), batch_size):
        q = F.normalize(query_x[i : i + batch_size].float().to(bank.device), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # [b, k]
        weights = (sim / temperature).exp()
        scores = torch.zeros(len(q), num_classes, device=bank.device)
        scores.scatter_add_(1, train_y.to(bank.device)[idx], weights)
        out.append(scores)
    return torch.cat(out)


def knn_classify(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    batch_size: int = 1024,
) -> KnnResult:
    """k-NN top-1 / top-5 accuracy (%) of ``val`` against the ``train`` bank (see module docstring)."""
    train_y = check_split("k-NN", ("train_x", train_x), ("train_y", train_y), ndim=2)
    val_y = check_split("k-NN", ("val_x", val_x), ("val_y", val_y), ndim=2)
    check_widths(("train_x", train_x), ("val_x", val_x))
    num_classes = int(max(train_y.max(), val_y.max())) + 1
    scores = knn_scores(
        train_x, train_y, val_x, k=k, temperature=temperature, num_classes=num_classes, batch_size=batch_size
    ).cpu()
    top1, top5 = top1_top5(scores, val_y)
    return KnnResult(top1, top5, min(k, len(train_x)), temperature, len(train_x), len(val_x), num_classes)
