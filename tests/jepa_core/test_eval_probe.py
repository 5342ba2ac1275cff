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
