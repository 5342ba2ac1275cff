"""Linear probes on frozen features: AdamW mini-batches, or full-batch L-BFGS with the L2 penalty
chosen by cross-validation on the training labels.

Example::

    result = linear_probe(train_x, train_y, val_x, val_y, epochs=100)
    result.top1, result.top5                                          # percent
    result = lbfgs_probe(train_x, train_y, val_x, val_y)               # L2 chosen on train folds
    result.l2                                                          # the penalty it chose
    idx = per_class_subset(train_y, 10, seed=0)                        # low-shot (lowshot.py)
    linear_probe(train_x[idx], train_y[idx], val_x, val_y)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import torch
import torch.nn.functional as F

from jepa_core.errors import ConfigError
from jepa_core.eval.inputs import check_split, check_widths

L2_GRID: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
"""The L2 penalties :func:`lbfgs_probe` chooses among (on the mean cross-entropy's scale)."""

LBFGS_MAX_ITER = 1000
"""The most L-BFGS iterations of one fit; :data:`LBFGS_TOLERANCE` ends it earlier. Features of a
network at random init are strongly correlated and converge slowly: on all of Fashion-MNIST
(60,000 x 256 features of `lejepa_small`'s ViT, L2 1e-4) 100 iterations left the random init's
probe at 75.2% where it converges to 78.6-78.7% (about 360-650 iterations), while the trained
encoder's probe had converged (87.5-87.6%), so a 100-iteration cap flattered the gain over
random init by 3.5 points."""

LBFGS_TOLERANCE = 1e-6
"""An L-BFGS fit stops once the objective (or every weight) changes by less than this between
iterations. Measured on the features above: 1e-6 stops within 0.1 point of the fully converged
probe's top-1 (trained encoder after 224 iterations, random init 522, the 784 raw pixels 634) in
63-80% of the time 1e-7 takes; 1e-5 stops within 0.1 point there too, but short of the optimum
on more slowly converging features."""


@attrs.frozen
class ProbeResult:
    top1: float
    top5: float | None
    num_train: int
    num_val: int
    num_classes: int
    l2: float | None = None  # the L-BFGS probe's penalty (chosen or given); None for AdamW


def _standardised(train_x: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """``train_x`` and ``others`` standardised with the train mean and std (std 1 for one sample)."""
    train_x = train_x.float()
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True).clamp_min(1e-6) if len(train_x) > 1 else torch.ones_like(mean)
    return [(x.float() - mean) / std for x in (train_x, *others)]


def top1_top5(scores: torch.Tensor, labels: torch.Tensor) -> tuple[float, float | None]:
    """Top-1 and top-5 accuracy (%) of class ``scores [N, C]``; top-5 is None for 5 classes or fewer.

    >>> top1_top5(torch.eye(3), torch.tensor([0, 1, 1]))
    (66.66666865348816, None)
    """
    top1 = (scores.argmax(1) == labels).float().mean().item() * 100
    if scores.shape[1] <= 5:
        return top1, None
    top5 = (scores.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item() * 100
    return top1, top5


def fit_lbfgs(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    *,
    l2: float,
    steps: int = LBFGS_MAX_ITER,
    tolerance: float = LBFGS_TOLERANCE,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Weights ``[D, C]`` and bias ``[C]`` of a multinomial logistic regression on (standardised)
    ``x``, fitted by full-batch L-BFGS from zero (deterministic) for at most ``steps`` iterations,
    fewer once it converges (``tolerance``); loss = mean cross-entropy + ``l2`` * sum of squared
    weights. None when the line search overflows on extreme features.

    >>> x = torch.tensor([[-1.0], [1.0]]); w, b = fit_lbfgs(x, torch.tensor([0, 1]), 2, l2=0.0)
    >>> (x @ w + b).argmax(1).tolist()
    [0, 1]
    """
    w = torch.zeros(x.shape[1], num_classes, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=steps,
        history_size=10,
        line_search_fn="strong_wolfe",
        tolerance_change=tolerance,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + l2 * w.square().sum()
        loss.backward()
        return loss

    try:
        with torch.enable_grad():
            opt.step(closure)
    except RuntimeError:
        return None
    return w.detach(), b.detach()


def stratified_folds(labels: torch.Tensor, folds: int, *, seed: int = 0) -> torch.Tensor:
    """The fold (``0 .. folds-1``) of each sample: every class's samples, in a seeded order, dealt
    round-robin, so each fold holds about ``1/folds`` of every class.

    >>> stratified_folds(torch.tensor([0, 0, 1, 1]), 2, seed=0).sort().values.tolist()
    [0, 0, 1, 1]
    """
    g = torch.Generator().manual_seed(seed)
    fold = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique():
        members = (labels == c).nonzero().flatten()
        fold[members[torch.randperm(len(members), generator=g)]] = torch.arange(len(members)) % folds
    return fold


def choose_l2(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    grid: Sequence[float] = L2_GRID,
    folds: int = 5,
    steps: int = LBFGS_MAX_ITER,
    seed: int = 0,
) -> float:
    """The penalty of ``grid`` with the best mean held-out top-1 over ``folds`` stratified folds of
    the training set alone (ties go to the larger penalty). ConfigError when a class has fewer
    samples than ``folds`` or ``grid`` is empty."""
    if not grid:
        raise ConfigError("the L2 grid of the L-BFGS probe is empty; give at least one penalty.")
    if folds < 2:
        raise ConfigError(f"the L-BFGS probe's cross-validation needs at least 2 folds, got {folds}.")
    counts = torch.bincount(y)
    fewest = int(counts[counts > 0].min())
    if fewest < folds:
        raise ConfigError(
            f"a class has {fewest} training samples, fewer than the {folds} cross-validation folds "
            "that choose the L-BFGS probe's L2 penalty; give --l2 or use more labels."
        )
    num_classes = int(y.max()) + 1
    fold = stratified_folds(y, folds, seed=seed)
    scores = []
    for l2 in grid:
        correct = 0
        for k in range(folds):
            held = fold == k
            tx, hx = _standardised(x[~held], x[held])
            fitted = fit_lbfgs(tx, y[~held], num_classes, l2=l2, steps=steps)
            if fitted is not None:
                correct += int(((hx @ fitted[0] + fitted[1]).argmax(1) == y[held]).sum())
        scores.append(correct)
    best = max(scores)
    return max(l2 for l2, score in zip(grid, scores, strict=True) if score == best)


def lbfgs_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    l2: float | None = None,
    grid: Sequence[float] = L2_GRID,
    folds: int = 5,
    steps: int = LBFGS_MAX_ITER,
    seed: int = 0,
) -> ProbeResult:
    """Val top-1/top-5 (%) of a multinomial logistic regression on standardised features, fitted
    by full-batch L-BFGS on all of the training set; ``l2=None`` chooses the penalty with
    :func:`choose_l2` on the training set (the val set never takes part in the choice).

    >>> x = torch.cat([torch.randn(50, 4) + 3, torch.randn(50, 4) - 3]); y = torch.arange(100) // 50
    >>> lbfgs_probe(x, y, x, y).top1
    100.0
    """
    train_y = check_split("the linear probe", ("train_x", train_x), ("train_y", train_y), ndim=2).cpu()
    val_y = check_split("the linear probe", ("val_x", val_x), ("val_y", val_y), ndim=2).cpu()
    check_widths(("train_x", train_x), ("val_x", val_x))
    train_x, val_x = train_x.float().cpu(), val_x.float().cpu()
    if l2 is None:
        l2 = choose_l2(train_x, train_y, grid=grid, folds=folds, steps=steps, seed=seed)
    if not (math.isfinite(l2) and l2 >= 0):
        raise ConfigError(f"the L-BFGS probe's L2 penalty must be a finite number >= 0, got {l2}.")
    num_classes = int(max(int(train_y.max()), int(val_y.max()))) + 1
    tx, vx = _standardised(train_x, val_x)
    fitted = fit_lbfgs(tx, train_y, num_classes, l2=l2, steps=steps)
    if fitted is None:
        return ProbeResult(float("nan"), None, len(tx), len(vx), num_classes, l2)
    top1, top5 = top1_top5(vx @ fitted[0] + fitted[1], val_y)
    return ProbeResult(top1, top5, len(tx), len(vx), num_classes, l2)


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> ProbeResult:
    """Train a linear classifier on standardised features with AdamW; report val top-1/top-5 (%).

    Features are standardised with the train mean/std; the head trains on ``device``.
    """
    train_y = check_split("the linear probe", ("train_x", train_x), ("train_y", train_y), ndim=2)
    val_y = check_split("the linear probe", ("val_x", val_x), ("val_y", val_y), ndim=2)
    check_widths(("train_x", train_x), ("val_x", val_x))
    tx, vx = (x.to(device) for x in _standardised(train_x, val_x))
    train_y, val_y = train_y.to(device), val_y.to(device)
    num_classes = int(max(train_y.max(), val_y.max())) + 1
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(tx.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=g)
        head.bias.zero_()
    head = head.to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, (len(tx) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    for _ in range(epochs):
        perm = torch.randperm(len(tx), generator=g).to(device)
        for i in range(0, len(tx), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(head(tx[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        logits = head(vx)
    top1, top5 = top1_top5(logits, val_y)
    return ProbeResult(top1, top5, len(tx), len(vx), num_classes)
