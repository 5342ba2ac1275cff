"""Weighted k-NN classification."""

from __future__ import annotations

import pytest
import torch

from jepa_core.errors import ConfigError
from jepa_core.eval.knn import knn_classify, knn_scores


def test_knn_on_separable_clusters_is_near_perfect():
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(10, 32, generator=g), dim=1) * 5
    ty, vy = torch.arange(10).repeat(30), torch.arange(10).repeat(10)
    tx = centres[ty] + 0.5 * torch.randn(len(ty), 32, generator=g)
    vx = centres[vy] + 0.5 * torch.randn(len(vy), 32, generator=g)
    result = knn_classify(tx, ty, vx, vy, k=20)
    assert result.top1 >= 99.0 and result.top5 == 100.0
    assert (result.k, result.num_train, result.num_val, result.num_classes) == (20, 300, 100, 10)


def test_votes_are_weighted_by_exp_similarity_over_temperature():
    # one neighbour of class 0 almost identical to the query, two of class 1 less similar
    train_x = torch.tensor([[1.0, 0.05], [0.6, 0.8], [0.6, -0.8]])
    train_y = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.0]])
    sharp = knn_scores(train_x, train_y, query, k=3, temperature=0.05, num_classes=2)
    flat = knn_scores(train_x, train_y, query, k=3, temperature=100.0, num_classes=2)
    assert sharp.argmax().item() == 0  # the close neighbour dominates
    assert flat.argmax().item() == 1  # ~ majority vote
    sims = torch.nn.functional.normalize(train_x, dim=1) @ torch.tensor([1.0, 0.0])
    expected = torch.stack([(sims[0] / 0.05).exp(), ((sims[1:] / 0.05).exp()).sum()])
    assert torch.allclose(sharp[0], expected, rtol=1e-5)


def test_k_larger_than_bank_uses_all_and_bad_k_is_an_error():
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    assert knn_classify(x, y, x, y, k=50).k == 4
    with pytest.raises(ConfigError, match="--k must be >= 1, got 0"):
        knn_scores(x, y, x, k=0)


@pytest.mark.parametrize("temperature", [0.0, -0.1, float("nan"), float("inf")])
def test_a_temperature_that_is_not_a_finite_positive_number_is_an_error(temperature):
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    with pytest.raises(ConfigError, match="--temperature must be a finite number > 0"):
        knn_scores(x, y, x, k=2, temperature=temperature)
