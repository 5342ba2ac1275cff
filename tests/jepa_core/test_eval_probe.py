"""Linear probe on synthetic features (no encoder)."""

from __future__ import annotations

import torch

from jepa_core.eval.probe import linear_probe


def _clusters(n_per_class: int, num_classes: int, dim: int, seed: int, spread: float = 0.5):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, dim, generator=torch.Generator().manual_seed(123)) * 3
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    x = centres[y] + spread * torch.randn(len(y), dim, generator=g)
    return x, y


def test_probe_separates_linearly_separable_classes():
    tx, ty = _clusters(40, 8, 16, seed=0)
    vx, vy = _clusters(20, 8, 16, seed=1)
    result = linear_probe(tx, ty, vx, vy, epochs=5, lr=1e-2)
    assert result.top1 >= 95.0
    assert result.top5 is not None and result.top5 >= result.top1
    assert (result.num_train, result.num_val, result.num_classes) == (320, 160, 8)


def test_probe_on_random_labels_is_near_chance_and_has_no_top5_for_few_classes():
    tx, _ = _clusters(50, 4, 16, seed=0)
    vx, _ = _clusters(50, 4, 16, seed=1)
    g = torch.Generator().manual_seed(0)
    ty, vy = torch.randint(0, 4, (len(tx),), generator=g), torch.randint(0, 4, (len(vx),), generator=g)
    result = linear_probe(tx, ty, vx, vy, epochs=5)
    assert result.top1 < 60.0  # chance is 25%: the probe cannot invent structure
    assert result.top5 is None  # only 4 classes


def test_probe_accepts_one_sample_per_class_and_is_seeded():
    tx, ty = _clusters(1, 6, 8, seed=0, spread=0.1)
    vx, vy = _clusters(10, 6, 8, seed=1, spread=0.1)
    a = linear_probe(tx, ty, vx, vy, epochs=10, seed=3)
    b = linear_probe(tx, ty, vx, vy, epochs=10, seed=3)
    assert a == b
    assert a.top1 >= 90.0


def test_lbfgs_probe_chooses_its_penalty_on_the_train_folds_only():
    from jepa_core.eval.probe import L2_GRID, choose_l2, lbfgs_probe

    tx, ty = _clusters(30, 6, 32, seed=0, spread=4.0)  # overlapping classes: the penalty matters
    vx, vy = _clusters(30, 6, 32, seed=1, spread=4.0)
    chosen = choose_l2(tx, ty)
    result = lbfgs_probe(tx, ty, vx, vy)
    assert result.l2 == chosen and chosen in L2_GRID
    assert result.top5 is not None and result.top5 >= result.top1
    assert (result.num_train, result.num_val, result.num_classes) == (180, 180, 6)
    assert result == lbfgs_probe(tx, ty, vx, vy, l2=chosen)  # refit on all train samples
    # the val labels take no part in the choice: shuffling them leaves the penalty unchanged
    shuffled = vy[torch.randperm(len(vy), generator=torch.Generator().manual_seed(0))]
    assert lbfgs_probe(tx, ty, vx, shuffled).l2 == chosen


def test_cross_validation_picks_a_penalty_where_it_helps_and_none_where_it_hurts():
    from jepa_core.eval.probe import choose_l2

    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 4
    few_and_noisy = torch.randn(4, 30, generator=g)[y] * 0.5 + torch.randn(60, 30, generator=g)
    assert choose_l2(few_and_noisy, y, grid=(0.0, 1.0)) == 1.0  # no penalty overfits 48 samples in 30 dims
    y = torch.arange(100) % 2
    shared = 3.0 * torch.randn(100, generator=g)  # the label hides in the difference of two features
    correlated = torch.stack([y + shared, shared + 0.05 * torch.randn(100, generator=g)], dim=1)
    assert choose_l2(correlated, y, grid=(0.0, 10.0)) == 0.0  # a huge penalty cannot weigh them apart


def test_stratified_folds_deal_every_class_evenly():
    from jepa_core.eval.probe import stratified_folds

    labels = torch.arange(100) % 4
    fold = stratified_folds(labels, 5, seed=1)
    for k in range(5):
        assert torch.bincount(labels[fold == k], minlength=4).tolist() == [5, 5, 5, 5]
    assert torch.equal(fold, stratified_folds(labels, 5, seed=1))
    assert not torch.equal(fold, stratified_folds(labels, 5, seed=2))


def test_lbfgs_probe_refuses_too_few_samples_per_class_and_bad_penalties():
    import pytest

    from jepa_core.errors import ConfigError
    from jepa_core.eval.probe import choose_l2, lbfgs_probe

    tx, ty = _clusters(3, 4, 8, seed=0)
    with pytest.raises(ConfigError, match="a class has 3 training samples, fewer than the 5 cross-validation folds"):
        lbfgs_probe(tx, ty, tx, ty)
    assert lbfgs_probe(tx, ty, tx, ty, l2=1e-3).l2 == 1e-3  # a given penalty needs no folds
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=f"must be a finite number >= 0, got {bad}"):
            lbfgs_probe(tx, ty, tx, ty, l2=bad)
    with pytest.raises(ConfigError, match="at least 2 folds, got 1"):
        choose_l2(tx, ty, folds=1)
    with pytest.raises(ConfigError, match="grid of the L-BFGS probe is empty"):
        choose_l2(tx, ty, grid=())


def _correlated_features(n: int = 1000, num_classes: int = 10, seed: int = 0):
    """Features like a network's at random init: 128 strongly correlated squashed mixtures of 16
    latent factors that decide the class."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 16, generator=g)
    y = (z @ torch.randn(16, num_classes, generator=g)).argmax(1)
    mixing = torch.randn(16, 1, generator=g) + 0.3 * torch.randn(16, 128, generator=g)
    x = torch.tanh(z @ mixing)
    return (x - x.mean(0)) / x.std(0), y


def test_lbfgs_fit_runs_to_convergence_on_correlated_features():
    import torch.nn.functional as F

    from jepa_core.eval.probe import fit_lbfgs

    x, y = _correlated_features()

    def objective(**fit_options: float) -> float:
        w, b = fit_lbfgs(x, y, 10, l2=1e-4, **fit_options)
        return float(F.cross_entropy(x @ w + b, y) + 1e-4 * w.square().sum())

    converged = objective(steps=5000, tolerance=1e-12)
    assert objective(steps=100, tolerance=1e-12) > converged + 0.01  # 100 iterations are far from the optimum here
    # the default stops by convergence, not the cap
    assert objective(steps=1000, tolerance=1e-6) == objective(steps=5000, tolerance=1e-6)
    assert objective() < converged + 1e-3  # the defaults
