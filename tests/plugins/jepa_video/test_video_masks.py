"""Video masker (V-JEPA 3-D multi-block): invariants, recipe statistics, errors, config round trip."""

from __future__ import annotations

import json
import math
import pickle
import types

import attrs
import pytest
import torch

from jepa_core import hookimpl
from jepa_core.config import apply_overrides, from_dict, load_config, save_config, set_value, to_dict
from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.registry import build_registry
from jepa_core.specs import Example, MaskerSpec
from jepa_core.testing import check_masker
from jepa_video.masks import (
    MaskConfig3D,
    MultiBlock3DConfig,
    MultiBlock3DMasker,
    masker_specs,
)
from tests import toy_seq_plugin

VIDEO = (8, 14, 14)  # the V-JEPA token grid: 16 frames / tubelet 2, 224 px / patch 16
SMALL = (4, 8, 8)
SHORT = MaskConfig3D(num_blocks=8, spatial_scale=(0.15, 0.15))
LONG = MaskConfig3D(num_blocks=2, spatial_scale=(0.7, 0.7))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_mask(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Index rows ``[B, K]`` -> bool membership ``[B, n]``."""
    return torch.zeros(idx.shape[0], n, dtype=torch.bool).scatter_(1, idx, True)


def box_shape(idx: torch.Tensor, grid: tuple[int, int, int]) -> tuple[int, int, int]:
    """(t, h, w) of the box spanned by one clip's target indices, asserting they fill it."""
    _, gh, gw = grid
    coords = (idx // (gh * gw), idx // gw % gh, idx % gw)
    size = tuple(int(c.max() - c.min() + 1) for c in coords)
    assert math.prod(size) == idx.numel()
    return size  # type: ignore[return-value]


def one(cfg: MaskConfig3D, **kw) -> MultiBlock3DMasker:
    return MultiBlock3DMasker(MultiBlock3DConfig.from_mask_configs(cfg, **kw))


# ------------------------------------------------------------------ shapes and sets


def test_shapes_dtypes_ranges_sorted():
    masker = MultiBlock3DMasker()
    n = math.prod(SMALL)
    sets = masker(6, SMALL, gen())
    assert isinstance(sets, tuple) and len(sets) == masker.num_mask_sets == 2
    for s in sets:
        assert isinstance(s, MaskSet)
        assert s.context.dtype == s.targets.dtype == torch.long
        assert s.context.ndim == 2 and s.context.shape[0] == 6 and s.context.shape[1] >= masker.cfg.min_keep
        assert s.targets.shape[:2] == (6, 1) and s.targets.shape[2] >= 1
        for idx in (s.context, s.targets[:, 0]):
            assert int(idx.min()) >= 0 and int(idx.max()) < n
            assert bool((idx[:, 1:] > idx[:, :-1]).all())  # strictly ascending: sorted, no duplicates


def test_single_config_returns_one_tuple():
    sets = one(SHORT)(3, SMALL, gen())
    assert isinstance(sets, tuple) and len(sets) == 1 and one(SHORT).num_mask_sets == 1


def test_untruncated_context_and_target_partition_the_grid():
    # batch_size 1: no batch minimum to cut to, so context and target are exactly complementary.
    n = math.prod(SMALL)
    for seed in range(10):
        for s in MultiBlock3DMasker()(1, SMALL, gen(seed)):
            ctx, tgt = as_mask(s.context, n), as_mask(s.targets[:, 0], n)
            assert not bool((ctx & tgt).any())
            assert bool((ctx | tgt).all())


def test_truncated_sets_stay_inside_the_untruncated_ones():
    masker, n = MultiBlock3DMasker(), math.prod(VIDEO)
    unions = masker.target_masks(8, VIDEO, gen(3))  # same generator stream as the call below
    sets = masker(8, VIDEO, gen(3))
    for union, s in zip(unions, sets, strict=True):
        ctx, tgt = as_mask(s.context, n), as_mask(s.targets[:, 0], n)
        assert not bool((ctx & tgt).any())
        assert bool((tgt <= union).all()) and bool((ctx <= ~union).all())
        assert s.targets.shape[2] == int(union.sum(1).min())
        assert s.context.shape[1] == int((~union).sum(1).min())


def test_truncation_keeps_a_random_subset_not_the_raster_first_tokens():
    masker, n, dropped_before_kept = MultiBlock3DMasker(), math.prod(SMALL), 0
    for seed in range(5):
        unions = masker.target_masks(8, SMALL, gen(seed))
        for union, s in zip(unions, masker(8, SMALL, gen(seed)), strict=True):
            kept = s.targets[:, 0]
            dropped = union & ~as_mask(kept, n)
            for b in range(8):
                lost = dropped[b].nonzero().flatten()
                dropped_before_kept += int(lost.numel() > 0 and lost.min() < kept[b].max())
    assert dropped_before_kept > 0  # raster-first truncation would only ever drop the last tokens


# ------------------------------------------------------------------ block geometry


def test_full_temporal_scale_gives_tubes():
    masker, (t, gh, gw) = MultiBlock3DMasker(), VIDEO
    for union in masker.target_masks(8, VIDEO, gen(2)):
        frames = union.view(8, t, gh * gw)
        assert bool((frames == frames[:, :1]).all())  # every spatial position: in all frames or none
    for s in masker(1, VIDEO, gen(4)):  # untruncated output: tubes as well
        frames = as_mask(s.targets[:, 0], t * gh * gw).view(1, t, gh * gw)
        assert bool((frames == frames[:, :1]).all())


def test_block_sizes_are_shared_by_the_batch_and_positions_differ():
    cfg = MaskConfig3D(num_blocks=1, spatial_scale=(0.1, 0.4), temporal_scale=(0.3, 0.7), aspect=(0.5, 2.0))
    masker, shapes = one(cfg), set()
    for seed in range(8):
        (s,) = masker(16, VIDEO, gen(seed))
        boxes = {box_shape(s.targets[b, 0], VIDEO) for b in range(16)}
        assert len(boxes) == 1  # one size per batch -> no truncation, every clip a full box
        shapes |= boxes
        assert len({tuple(s.targets[b, 0, :3].tolist()) for b in range(16)}) > 1  # per-clip positions
        ((t, h, w),) = boxes
        assert 2 <= t <= 6 and s.targets.shape[2] == t * h * w  # t = round(U(0.3, 0.7) * 8)
    assert len(shapes) > 1  # sizes are redrawn per batch


def test_aspect_ratio_goes_both_ways():
    masker, tall, wide = one(MaskConfig3D(num_blocks=1, spatial_scale=(0.2, 0.2), aspect=(0.5, 2.0))), 0, 0
    for seed in range(30):
        (s,) = masker(1, (1, 14, 14), gen(seed))
        _, h, w = box_shape(s.targets[0, 0], (1, 14, 14))
        tall, wide = tall + (h > w), wide + (w > h)
    assert tall > 3 and wide > 3


def test_two_d_grid_is_one_frame():
    a = MultiBlock3DMasker()(4, (8, 8), gen(7))
    b = MultiBlock3DMasker()(4, (1, 8, 8), gen(7))
    assert all(
        torch.equal(x.context, y.context) and torch.equal(x.targets, y.targets) for x, y in zip(a, b, strict=True)
    )


# ------------------------------------------------------------------ randomness


def test_deterministic_for_equal_seeds_and_different_otherwise():
    masker = MultiBlock3DMasker()
    a, b, c = (masker(4, SMALL, gen(s)) for s in (11, 11, 12))
    assert all(
        torch.equal(x.context, y.context) and torch.equal(x.targets, y.targets) for x, y in zip(a, b, strict=True)
    )
    assert any(
        x.targets.shape != y.targets.shape or not torch.equal(x.targets, y.targets) for x, y in zip(a, c, strict=True)
    )


def test_sets_follow_config_order_and_recipe_fractions():
    n = math.prod(VIDEO)

    def mean_fractions(masker: MultiBlock3DMasker) -> list[float]:
        g, sums = gen(0), [0.0] * masker.num_mask_sets
        for _ in range(20):
            for k, union in enumerate(masker.target_masks(8, VIDEO, g)):
                sums[k] += float(union.float().mean()) / 20
        return sums

    short, long = mean_fractions(MultiBlock3DMasker())
    assert 0.5 < short < 0.75 and 0.7 < long < 0.92 and short < long
    swapped = mean_fractions(MultiBlock3DMasker(MultiBlock3DConfig.from_mask_configs(LONG, SHORT)))
    assert swapped[0] > swapped[1]
    sets = MultiBlock3DMasker()(8, VIDEO, gen(1))
    assert sets[0].targets.shape[2] / n < sets[1].targets.shape[2] / n


# ------------------------------------------------------------------ errors


def test_impossible_configs_raise_masking_error():
    whole = MaskConfig3D(num_blocks=1, spatial_scale=(1.0, 1.0))
    with pytest.raises(MaskingError, match=r"grid \(2, 4, 4\) with mask config 0 .*spatial_scale=\(1.0, 1.0\)"):
        one(whole)(2, (2, 4, 4), gen())
    with pytest.raises(MaskingError, match="even the smallest block"):  # found before any drawing
        one(whole)(2, (2, 4, 4), None)  # type: ignore[arg-type]
    with pytest.raises(MaskingError, match="min_keep=40"):
        MultiBlock3DMasker(MultiBlock3DConfig(min_keep=40))(2, (2, 4, 4), gen())
    # Feasible only with all 8 blocks stacked on one corner: positions never fit -> error, not a hang.
    stacked = MaskConfig3D(num_blocks=8, spatial_scale=(0.45, 0.45), aspect=(1.0, 1.0))  # 4x4 blocks
    with pytest.raises(MaskingError, match=r"grid \(1, 6, 6\).*position draws"):
        one(stacked, min_keep=20, max_tries=50)(4, (1, 6, 6), gen())


def test_default_min_keep_on_a_tiny_grid():
    # (2, 4, 4) with two 0.7 tubes: only stacked 3x3 blocks leave 10 tokens; it is rare but possible.
    for s in MultiBlock3DMasker()(4, (2, 4, 4), gen()):
        assert s.context.shape[1] >= 10
    for s in MultiBlock3DMasker(MultiBlock3DConfig(min_keep=2))(4, (2, 4, 4), gen()):
        assert s.context.shape[1] >= 2


@pytest.mark.parametrize("grid", [(14,), (2, 2, 4, 4), (0, 4, 4), (2, -1, 4), 5])
def test_bad_grid(grid):
    with pytest.raises(MaskingError, match=r"3-D token grid \(t, gh, gw\)"):
        MultiBlock3DMasker()(2, grid, gen())


def test_bad_batch_size():
    with pytest.raises(MaskingError, match="batch_size >= 1"):
        MultiBlock3DMasker()(0, SMALL, gen())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_blocks": (0, 2)}, r"num_blocks\[0\] must be >= 1, got 0"),
        ({"num_blocks": 8}, "num_blocks must be a tuple of ints"),
        (
            {"spatial_scale": ((0.15, 0.15), (0.0, 0.7))},
            r"spatial_scale\[1\] must be \(lo, hi\) with 0 < lo <= hi <= 1",
        ),
        ({"spatial_scale": ((0.3, 0.2), (0.7, 0.7))}, r"spatial_scale\[0\] must be"),
        ({"temporal_scale": ((1.0, 1.2), (1.0, 1.0))}, r"temporal_scale\[0\] must be \(lo, hi\)"),
        ({"aspect": ((0.75, 1.5), (-1.0, 1.5))}, r"aspect\[1\] must be \(lo, hi\) with 0 < lo <= hi"),
        ({"aspect": ((0.75, 1.5), (1.0,))}, r"expected a \(lo, hi\) pair"),
        ({"num_blocks": (8,)}, r"equal lengths.*\(1, 2, 2, 2\)"),
        ({"num_blocks": (), "spatial_scale": (), "temporal_scale": (), "aspect": ()}, "at least 1"),
        ({"min_keep": 0}, "min_keep must be >= 1, got 0"),
        ({"max_tries": 0}, "max_tries must be >= 1, got 0"),
    ],
)
def test_bad_config_values(options, message):
    with pytest.raises(ValueError, match=message):
        MultiBlock3DConfig(**options)


def test_mask_config_records():
    cfg = MultiBlock3DConfig()
    assert cfg.mask_configs() == (SHORT, LONG)
    assert MultiBlock3DConfig.from_mask_configs(SHORT, LONG) == cfg
    assert SHORT.temporal_scale == (1.0, 1.0) and SHORT.aspect == (0.75, 1.5)
    with pytest.raises(ValueError, match=r"spatial_scale must be \(lo, hi\)"):
        MaskConfig3D(spatial_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="num_blocks must be >= 1"):
        MaskConfig3D(num_blocks=0)


# ------------------------------------------------------------------ kit, pickling, registry, config


def test_passes_the_conformance_kit():
    (spec,) = masker_specs()
    assert isinstance(spec, MaskerSpec) and spec.name == "multiblock3d" and spec.description
    example = spec.example()
    assert isinstance(example, Example) and example.grid == (2, 4, 4)
    check_masker(spec.build(example.options), example.grid, name="multiblock3d")
    check_masker(MultiBlock3DMasker(), VIDEO)
    check_masker(MultiBlock3DMasker(), (8, 8))  # 2-D grid = one frame


def test_picklable():
    masker = MultiBlock3DMasker(MultiBlock3DConfig(min_keep=3, max_tries=7))
    clone = pickle.loads(pickle.dumps(masker))
    assert clone.cfg == masker.cfg
    a, b = masker(4, SMALL, gen(9)), clone(4, SMALL, gen(9))
    assert all(
        torch.equal(x.context, y.context) and torch.equal(x.targets, y.targets) for x, y in zip(a, b, strict=True)
    )


@pytest.fixture
def registry():
    plugin = types.ModuleType("video_masks_only")

    @hookimpl
    def jepa_maskers():
        return masker_specs()

    plugin.jepa_maskers = jepa_maskers
    return build_registry(autoload=False, plugins=[toy_seq_plugin, plugin])


def test_run_config_round_trip(registry, tmp_path):
    cfg = set_value(toy_seq_plugin.toy_config(), "masker.name", "multiblock3d", registry)
    assert cfg.masker.options == MultiBlock3DConfig()
    cfg = apply_overrides(cfg, ["masker.num_blocks=4,1", "masker.min_keep=3"], registry)
    cfg = set_value(cfg, "masker.spatial_scale", [[0.1, 0.2], [0.5, 0.6]], registry)
    cfg = set_value(cfg, "masker.temporal_scale", ((0.5, 1.0), (1, 1)), registry)
    expected = MultiBlock3DConfig(
        num_blocks=(4, 1), spatial_scale=((0.1, 0.2), (0.5, 0.6)), temporal_scale=((0.5, 1.0), (1.0, 1.0)), min_keep=3
    )
    assert cfg.masker.options == expected
    data = json.loads(json.dumps(to_dict(cfg)))  # tuples come back as lists
    assert data["masker"]["spatial_scale"] == [[0.1, 0.2], [0.5, 0.6]]
    assert from_dict(data, registry) == cfg
    assert load_config(save_config(cfg, tmp_path / "config.json"), registry) == cfg
    assert attrs.asdict(from_dict(data, registry).masker.options) == attrs.asdict(expected)
