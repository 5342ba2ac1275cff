"""jepa_core.masking: the helpers every built-in masker uses (block geometry, random subsets)."""

from __future__ import annotations

import math

import pytest
import torch

from jepa_core.masking import area_range, block_indices, block_masks, block_size, random_subset, raster_first


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize(
    ("scale", "aspect", "grid"),
    [((0.15, 0.2), (0.75, 1.5), (14, 14)), ((0.85, 1.0), (1.0, 1.0), (16, 16)), ((0.05, 0.6), (0.3, 3.0), (7, 11))],
)
def testarea_range_matches_dense_sampling(reference, scale, aspect, grid):
    s_values = torch.linspace(scale[0], scale[1], 101).tolist()
    a_values = torch.linspace(aspect[0], aspect[1], 401).tolist()
    areas = [math.prod(block_size(s, a, grid, reference)) for s in s_values for a in a_values]
    assert area_range(scale, aspect, grid, reference) == (min(areas), max(areas))


def _topk_rule(mask: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """The plain rule: one key per entry, the ``size`` smallest keys among the True entries, sorted."""
    keys = torch.rand(mask.shape, generator=generator).masked_fill_(~mask, 2.0)
    return keys.topk(size, dim=-1, largest=False).indices.sort(dim=-1).values


@pytest.mark.parametrize("shape", [(16, 300), (3, 4, 12)])
def test_random_subset_is_the_plain_rule_on_both_fast_paths_and_any_leading_dims(shape):
    mask = torch.rand(shape, generator=gen(1)) < 0.6
    fewest = int(mask.sum(-1).min())
    for size in (1, fewest // 3, fewest - 1, fewest):  # keeps few (top-k) and keeps most (drop-k)
        got = random_subset(mask, size, gen(5))
        assert got.shape == (*shape[:-1], size) and torch.equal(got, _topk_rule(mask, size, gen(5)))
        assert bool(mask.gather(-1, got).all())  # only True entries


def test_random_subset_always_draws_the_same_amount_of_randomness():
    full = torch.ones(4, 10, dtype=torch.bool)
    a, b = gen(0), gen(0)
    random_subset(full, 10, a)  # nothing to cut, keys still drawn
    torch.rand(4, 10, generator=b)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def test_block_masks_indices_and_raster_first_agree():
    tops, lefts = torch.tensor([0, 2]), torch.tensor([1, 0])
    masks = block_masks(tops, lefts, 2, 3, (4, 5))  # [2, 20]
    idx = block_indices(tops, lefts, 2, 3, 5)  # [2, 6]
    assert masks.sum(1).tolist() == [6, 6]
    for m, i in zip(masks, idx, strict=True):
        assert m.nonzero().flatten().tolist() == i.tolist()
    assert raster_first(masks, 6).sort(-1).values.tolist() == idx.tolist()
    assert block_size(0.2, 1.0, (14, 14), False) == (6, 6) and math.prod(block_size(1.0, 1.0, (3, 3), True)) == 4
