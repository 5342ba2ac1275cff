"""Tests of the image plugin's Table-6 maskers and masker specs (the multi-block and random
maskers: tests/plugins/jepa_vit/test_masks.py)."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.specs import MaskerSpec
from jepa_image.masks import (
    BlockConfig,
    BlockMasker,
    MultiBlockMasker,
    RandomConfig,
    RandomMasker,
    RasterizedConfig,
    RasterizedMasker,
    masker_specs,
)
from tests.plugins.jepa_vit.test_masks import block_shape, check_invariants_flat, gen


@pytest.mark.parametrize("masker", [MultiBlockMasker(), RasterizedMasker(), BlockMasker(), RandomMasker()])
def test_non_2d_grid_rejected(masker):
    with pytest.raises(MaskingError, match="2-D"):
        masker(2, (4, 4, 4), gen(0))


# ------------------------------------------------------------------------ Table 6


@pytest.mark.parametrize("grid", [(14, 14), (7, 9)])
def test_rasterized_quadrants(grid):
    masks = RasterizedMasker(RasterizedConfig())(16, grid, gen(0))
    n, smallest = math.prod(grid), (grid[0] // 2) * (grid[1] // 2)
    assert masks.targets.shape == (16, 3, smallest)
    check_invariants_flat(masks, n)
    lower, right = torch.arange(grid[0]) >= grid[0] // 2, torch.arange(grid[1]) >= grid[1] // 2
    quadrant = (lower[:, None] * 2 + right[None, :]).flatten()
    for ctx, tgt in zip(masks.context, masks.targets, strict=True):
        ctx_q = quadrant[ctx].unique()
        tgt_q = [quadrant[t].unique().tolist() for t in tgt]
        assert ctx_q.numel() == 1 and all(len(q) == 1 for q in tgt_q)
        assert sorted(sum(tgt_q, []) + ctx_q.tolist()) == [0, 1, 2, 3]
        if grid[0] % 2 == 0 and grid[1] % 2 == 0:  # even grids: the union is the whole grid
            assert sorted(ctx.tolist() + tgt.flatten().tolist()) == list(range(n))


def test_block_masker_is_one_block_and_its_complement():
    grid, n = (14, 14), 196
    masker, g = BlockMasker(BlockConfig()), gen(0)
    for _ in range(20):
        masks = masker(8, grid, g)
        assert masks.targets.shape[:2] == (8, 1)
        check_invariants_flat(masks, n)
        h, w = block_shape(masks.targets[0, 0], grid[1])
        assert abs(h * w / n - 0.6) < 0.1 and 0.6 <= h / w <= 1.8
        for c, t in zip(masks.context, masks.targets, strict=True):
            assert block_shape(t[0], grid[1]) == (h, w)
            assert sorted(c.tolist() + t[0].tolist()) == list(range(n))


def test_table6_impossible_configs():
    with pytest.raises(MaskingError, match="target_scale=1.0"):
        BlockMasker(BlockConfig(target_scale=1.0, aspect_ratio=(1.0, 1.0)))(2, (4, 4), gen(0))
    with pytest.raises(MaskingError, match="target ratio 0.99 gives 16 of 16 tokens"):
        RandomMasker(RandomConfig(target_ratio=0.99))(2, (4, 4), gen(0))
    with pytest.raises(MaskingError, match="1x4"):
        RasterizedMasker()(2, (1, 4), gen(0))


# ----------------------------------------------------------------- specs, pickling


def test_masker_specs():
    specs = masker_specs()
    assert [s.name for s in specs] == ["multiblock", "rasterized", "block", "random"]
    for spec in specs:
        assert isinstance(spec, MaskerSpec) and spec.description
        masks = spec.build(spec.config_type())(4, (8, 8), gen(0))
        assert isinstance(masks, MaskSet)


@pytest.mark.parametrize("spec", masker_specs(), ids=lambda s: s.name)
def test_maskers_pickle_round_trip(spec):
    masker = spec.build(spec.config_type())
    clone = pickle.loads(pickle.dumps(masker))
    a, b = masker(4, (14, 14), gen(9)), clone(4, (14, 14), gen(9))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
