"""The 2-D grid maskers of jepa_vit: multi-block statistics, invariants and errors; random masking."""

from __future__ import annotations

import functools
import math
import time

import pytest
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_vit.masks import MultiBlockConfig, MultiBlockMasker, RandomConfig, RandomMasker

GRID = (14, 14)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@functools.cache
def draws(reference: bool, grid: tuple[int, int] = GRID, batches: int = 300, batch: int = 8) -> tuple[MaskSet, ...]:
    masker = MultiBlockMasker(MultiBlockConfig(reference_sampling=reference))
    g = gen(0)
    return tuple(masker(batch, grid, g) for _ in range(batches))


def block_shape(idx: torch.Tensor, gw: int) -> tuple[int, int]:
    """(h, w) of the rectangle spanned by one target set, asserting it is a full block."""
    rows, cols = idx // gw, idx % gw
    h = int(rows.max() - rows.min() + 1)
    w = int(cols.max() - cols.min() + 1)
    assert h * w == idx.numel()
    return h, w


def check_invariants(masks: MaskSet, grid: tuple[int, int], min_keep: int) -> None:
    n = math.prod(grid)
    ctx, tgt = masks.context, masks.targets
    assert ctx.dtype == torch.long and tgt.dtype == torch.long
    assert ctx.dim() == 2 and tgt.dim() == 3 and ctx.shape[0] == tgt.shape[0]
    assert ctx.min() >= 0 and ctx.max() < n and tgt.min() >= 0 and tgt.max() < n
    assert ctx.shape[1] >= min_keep
    assert (ctx[:, 1:] > ctx[:, :-1]).all()  # sorted and unique
    for b in range(ctx.shape[0]):
        assert not set(ctx[b].tolist()) & set(tgt[b].flatten().tolist())
        shapes = {block_shape(t, grid[1]) for t in tgt[b]}
        assert len(shapes) == 1


# ------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_scale", (0.0, 0.2)),
        ("target_scale", (0.3, 0.2)),
        ("context_scale", (0.9, 1.2)),
        ("target_aspect_ratio", (0.0, 1.5)),
        ("context_aspect_ratio", (2.0, 1.0)),
        ("num_targets", 0),
        ("max_tries", 0),
    ],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field) as info:
        MultiBlockConfig(**{field: value})
    assert repr(value) in str(info.value)


def test_config_converts_lists_to_tuples():
    assert MultiBlockConfig(target_scale=[0.1, 0.2]).target_scale == (0.1, 0.2)


# ---------------------------------------------------------------- block statistics


def sizes(reference: bool) -> torch.Tensor:
    """Per-batch (h, w) of the target block, checking it is shared by every image."""
    out = []
    for masks in draws(reference):
        shapes = {block_shape(t, GRID[1]) for t in masks.targets.flatten(0, 1)}
        assert len(shapes) == 1
        out.append(shapes.pop())
    return torch.tensor(out, dtype=torch.float64)


def test_target_scale_and_aspect_in_range():
    cfg, n = MultiBlockConfig(), math.prod(GRID)
    for h, w in sizes(False).tolist():
        # The (scale, aspect) values that round to (h, w) must meet the configured ranges.
        scale_lo, scale_hi = (h - 0.5) * (w - 0.5) / n, (h + 0.5) * (w + 0.5) / n
        aspect_lo, aspect_hi = (h - 0.5) / (w + 0.5), (h + 0.5) / (w - 0.5)
        assert scale_lo <= cfg.target_scale[1] and scale_hi >= cfg.target_scale[0]
        assert aspect_lo <= cfg.target_aspect_ratio[1] and aspect_hi >= cfg.target_aspect_ratio[0]


def scale_aspect_correlation(reference: bool) -> float:
    hw = sizes(reference)
    scale, aspect = hw[:, 0] * hw[:, 1], hw[:, 0] / hw[:, 1]
    return float(torch.corrcoef(torch.stack([scale, aspect]))[0, 1])


def test_scale_and_aspect_independent_by_default():
    assert abs(scale_aspect_correlation(False)) < 0.15


def test_reference_sampling_correlates_scale_and_aspect():
    assert scale_aspect_correlation(True) > 0.4


# --------------------------------------------------------------------- invariants


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("grid", [(14, 14), (16, 16), (8, 8), (10, 12)])
def test_multiblock_invariants(reference, grid):
    cfg = MultiBlockConfig(reference_sampling=reference)
    masker, g = MultiBlockMasker(cfg), gen(1)
    for _ in range(20):
        masks = masker(8, grid, g)
        assert masks.targets.shape[:2] == (8, 4)
        check_invariants(masks, grid, cfg.min_keep)


def covered(reference: bool, part: str) -> torch.Tensor:
    seen = torch.zeros(math.prod(GRID), dtype=torch.bool)
    for masks in draws(reference):
        seen[getattr(masks, part).flatten()] = True
    return seen.view(GRID)


def test_every_cell_reachable_by_default():
    assert covered(False, "context").all()
    assert covered(False, "targets").all()


def test_reference_sampling_never_covers_last_row_and_column():
    seen = covered(True, "targets")
    assert not seen[-1, :].any() and not seen[:, -1].any()
    assert seen[:-1, :-1].all()


def test_context_truncation_is_a_random_subset():
    # Full-grid context: the kept set is the complement of the targets, known from outside.
    cfg = MultiBlockConfig(context_scale=(1.0, 1.0), min_keep=4)
    masker, g = MultiBlockMasker(cfg), gen(2)
    truncated = raster_first = 0
    for _ in range(30):
        masks = masker(8, (8, 8), g)
        for ctx, tgt in zip(masks.context, masks.targets, strict=True):
            kept = sorted(set(range(64)) - set(tgt.flatten().tolist()))
            if len(kept) > ctx.numel():
                truncated += 1
                raster_first += kept[: ctx.numel()] == ctx.tolist()
    assert truncated > 50
    assert raster_first < truncated / 4


def test_min_keep_and_non_overlapping_targets():
    cfg = MultiBlockConfig(min_keep=30, allow_target_overlap=False, target_scale=(0.1, 0.15))
    masker, g = MultiBlockMasker(cfg), gen(3)
    for _ in range(20):
        masks = masker(8, (14, 14), g)
        check_invariants(masks, (14, 14), 30)
        for row in masks.targets:
            assert row.flatten().unique().numel() == row.numel()


def test_deterministic_for_a_seed():
    masker = MultiBlockMasker(MultiBlockConfig())
    a, b, c = masker(8, GRID, gen(5)), masker(8, GRID, gen(5)), masker(8, GRID, gen(6))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    assert not (a.context.shape == c.context.shape and torch.equal(a.context, c.context))


# ------------------------------------------------------------------------- errors


# 4x4 targets on a full 8x8 context: min_keep=16 needs the target blocks to pile up.
STACKED = {"target_scale": (0.25, 0.25), "target_aspect_ratio": (1.0, 1.0), "context_scale": (1.0, 1.0), "min_keep": 16}


@pytest.mark.parametrize(
    ("kwargs", "grid", "needle"),
    [
        ({"min_keep": 10}, (4, 4), "min_keep=10"),
        ({"min_keep": 400}, (14, 14), "min_keep=400"),
        ({"min_keep": 10, "reference_sampling": True}, (4, 4), "min_keep=10"),
        # These pass the up-front checks; the bounded retries give up instead.
        (dict(STACKED, num_targets=20), (8, 8), "min_keep=16"),
        (dict(STACKED, num_targets=12, reference_sampling=True), (8, 8), "min_keep=16"),
        (
            {
                "num_targets": 4,
                "target_scale": (0.24, 0.25),
                "allow_target_overlap": False,
                "min_keep": 0,
                "reference_sampling": True,
            },
            (8, 8),
            "num_targets=4",
        ),
    ],
)
def test_impossible_config_fails_fast(kwargs, grid, needle):
    masker = MultiBlockMasker(MultiBlockConfig(**kwargs))
    start = time.perf_counter()
    with pytest.raises(MaskingError, match=needle) as info:
        masker(8, grid, gen(0))
    assert time.perf_counter() - start < 2.0  # a hang guard, not a speed target
    assert f"{grid[0]}x{grid[1]}" in str(info.value)


# ------------------------------------------------------------------------- random


def check_invariants_flat(masks: MaskSet, n: int) -> None:
    ctx, tgt = masks.context, masks.targets
    assert ctx.dtype == tgt.dtype == torch.long
    assert ctx.min() >= 0 and ctx.max() < n and tgt.min() >= 0 and tgt.max() < n
    assert (ctx[:, 1:] > ctx[:, :-1]).all() and (tgt[..., 1:] > tgt[..., :-1]).all()
    for c, t in zip(ctx, tgt, strict=True):
        assert not set(c.tolist()) & set(t.flatten().tolist())


@pytest.mark.parametrize("grid", [(14, 14), (5, 5)])
def test_random_masker_ratio_and_complement(grid):
    n = math.prod(grid)
    masks = RandomMasker(RandomConfig())(8, grid, gen(0))
    assert masks.targets.shape == (8, 1, round(0.6 * n))
    assert masks.context.shape == (8, n - round(0.6 * n))
    check_invariants_flat(masks, n)
    for c, t in zip(masks.context, masks.targets, strict=True):
        assert sorted(c.tolist() + t[0].tolist()) == list(range(n))
    assert not torch.equal(masks.targets[0], masks.targets[1])


def test_random_masker_ratio_range_is_drawn_per_batch():
    masker = RandomMasker(RandomConfig(target_ratio=0.4, max_target_ratio=0.6))
    g = gen(3)
    counts = []
    for _ in range(60):
        m = masker(4, (10, 10), g)
        assert m.targets.shape[:2] == (4, 1) and m.context.shape[1] + m.targets.shape[2] == 100
        counts.append(m.targets.shape[2])
    assert min(counts) >= 40 and max(counts) <= 60 and len(set(counts)) > 8
    fixed = RandomMasker(RandomConfig(target_ratio=0.4))(4, (10, 10), gen(3))
    assert fixed.targets.shape[2] == 40
    with pytest.raises(ValueError, match=r"max_target_ratio must be in \[target_ratio, 1\)"):
        RandomConfig(target_ratio=0.5, max_target_ratio=0.4)
