"""Audio maskers (A-JEPA time-frequency strips and curriculum): invariants, strip shapes, schedule, errors."""

from __future__ import annotations

import functools
import json
import pickle

import attrs
import pytest
import torch

from jepa_audio.masks import (
    CurriculumConfig,
    CurriculumMasker,
    TimeFrequencyConfig,
    TimeFrequencyMasker,
    band_shape,
    masker_specs,
    strip_length,
)
from jepa_core.config import coerce_value, field_types
from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.specs import Example
from jepa_core.testing import check_masker

AUDIO = (64, 8)  # 1024 frames x 128 mels, 16x16 patches: (time patches, frequency patches)
SMALL = (16, 4)
TINY = (8, 4)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_mask(idx: torch.Tensor, n: int) -> torch.Tensor:
    """Index rows ``[B, K]`` -> bool membership ``[B, n]``."""
    return torch.zeros(idx.shape[0], n, dtype=torch.bool).scatter_(1, idx, True)


def rect(idx: torch.Tensor, grid: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, time length, frequency width) of one target, asserting it fills its bounding box."""
    gf = grid[1]
    ti, fi = idx // gf, idx % gf
    top, left = int(ti.min()), int(fi.min())
    h, w = int(ti.max()) - top + 1, int(fi.max()) - left + 1
    assert h * w == idx.numel() == idx.unique().numel(), f"target {idx.tolist()} is not a filled rectangle"
    return top, left, h, w


def check_invariants(masks: MaskSet, batch: int, grid: tuple[int, int], m: int) -> None:
    n = grid[0] * grid[1]
    assert isinstance(masks, MaskSet)
    assert masks.context.dtype == torch.long and masks.targets.dtype == torch.long
    assert masks.context.ndim == 2 and masks.context.shape[0] == batch and masks.context.shape[1] >= 1
    assert masks.targets.ndim == 3 and masks.targets.shape[:2] == (batch, m) and masks.targets.shape[2] >= 1
    for t in (masks.context, masks.targets):
        assert int(t.min()) >= 0 and int(t.max()) < n
    # context sorted and duplicate-free
    assert bool((masks.context[:, 1:] > masks.context[:, :-1]).all())
    in_ctx = as_mask(masks.context, n)
    in_tgt = as_mask(masks.targets.reshape(batch, -1), n)
    assert not bool((in_ctx & in_tgt).any()), "context and targets overlap"


# ------------------------------------------------------------------ time-frequency masker


@pytest.mark.parametrize("grid", [AUDIO, SMALL])
def test_tf_shapes_disjoint_and_strip_shapes(grid):
    gt, gf = grid
    n = gt * gf
    masker = TimeFrequencyMasker(TimeFrequencyConfig())
    kinds = {"time": 0, "band": 0}
    for seed in range(40):
        masks = masker(6, grid, gen(seed))
        check_invariants(masks, 6, grid, 3)
        nt = masks.targets.shape[2]
        assert 0.05 <= nt / n <= 0.075, f"target area fraction {nt / n} outside tf_scale"
        for b in range(6):
            for j in range(3):
                _, left, h, w = rect(masks.targets[b, j], grid)
                if w == gf and h * gf == nt and h < gf:  # time strip: all frequencies, short in time
                    kinds["time"] += 1
                    assert left == 0
                else:  # frequency band: thin in frequency, long in time
                    kinds["band"] += 1
                    assert h * w == nt and h > w and w < gf, (h, w)
    # both kinds appear, roughly half each (time_strip_prob = 0.5)
    total = kinds["time"] + kinds["band"]
    assert 0.35 < kinds["time"] / total < 0.65, kinds


def test_tf_documented_sizes_on_audio_grid():
    """(64, 8): a time strip is 4 time x 8 frequency patches, a band 32 time x 1 frequency patch."""
    for prob, shape in ((1.0, (4, 8)), (0.0, (32, 1))):
        masker = TimeFrequencyMasker(TimeFrequencyConfig(time_strip_prob=prob))
        for seed in range(10):
            masks = masker(4, AUDIO, gen(seed))
            for row in masks.targets.reshape(-1, masks.targets.shape[2]):
                assert rect(row, AUDIO)[2:] == shape


def test_tf_sizes_shared_per_batch_positions_per_sample():
    masker = TimeFrequencyMasker(TimeFrequencyConfig(time_strip_prob=0.0))
    masks = masker(16, AUDIO, gen(3))
    shapes = {rect(row, AUDIO)[2:] for row in masks.targets.reshape(-1, masks.targets.shape[2])}
    corners = {rect(row, AUDIO)[:2] for row in masks.targets.reshape(-1, masks.targets.shape[2])}
    assert len(shapes) == 1  # one size per batch
    assert len(corners) > 10  # positions differ per sample / target


def test_strip_length_and_band_shape_helpers():
    assert [strip_length(s, 64, (0.05, 0.075)) for s in (0.05, 0.06, 0.075)] == [4, 4, 4]
    assert strip_length(0.075, 128, (0.05, 0.075)) == 9 and strip_length(0.05, 128, (0.05, 0.075)) == 7
    assert strip_length(0.05, 8, (0.05, 0.075)) == 1  # no whole length fits: nearest, at least one
    assert band_shape(32, (64, 8)) == (32, 1)
    assert band_shape(128, (64, 32)) == (64, 2)
    assert band_shape(8, (2, 8)) == (2, 4)


def test_tf_tiny_grid_fallback_area():
    """(8, 4) has no whole time length in 5-7.5%: one time patch (1/8 of the grid)."""
    masks = TimeFrequencyMasker(TimeFrequencyConfig(min_keep=2))(4, TINY, gen(0))
    check_invariants(masks, 4, TINY, 3)
    assert masks.targets.shape[2] == 4


def test_tf_context_is_block_minus_targets_and_min_keep():
    cfg = TimeFrequencyConfig(min_keep=300)
    masks = TimeFrequencyMasker(cfg)(8, AUDIO, gen(1))
    assert masks.context.shape[1] >= 300
    # a context block with the grid's aspect: at scale >= 0.85 it spans >= 59 of 64 time patches
    for row in masks.context:
        assert int(row.max() // 8 - row.min() // 8) + 1 >= 59 - 1


@pytest.mark.parametrize("grid", [AUDIO, SMALL, TINY])
def test_tf_passes_check_masker(grid):
    check_masker(TimeFrequencyMasker(TimeFrequencyConfig(min_keep=2)), grid, name="tf_blocks")


def test_tf_deterministic_and_picklable():
    masker = TimeFrequencyMasker(TimeFrequencyConfig())
    a, b = masker(4, AUDIO, gen(7)), masker(4, AUDIO, gen(7))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    c = masker(4, AUDIO, gen(8))
    assert not (
        a.context.shape == c.context.shape and torch.equal(a.context, c.context) and torch.equal(a.targets, c.targets)
    )
    clone = pickle.loads(pickle.dumps(masker))
    d = clone(4, AUDIO, gen(7))
    assert torch.equal(a.context, d.context) and torch.equal(a.targets, d.targets)


def test_tf_ignores_global_rng():
    masker = TimeFrequencyMasker(TimeFrequencyConfig())
    torch.manual_seed(1)
    a = masker(4, AUDIO, gen(0))
    torch.manual_seed(2)
    b = masker(4, AUDIO, gen(0))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)


# ------------------------------------------------------------------------- curriculum


def test_curriculum_progress_endpoints_choose_one_kind():
    masker = CurriculumMasker(CurriculumConfig())
    for seed in range(30):
        early = masker(4, AUDIO, gen(seed), progress=0.0)
        late = masker(4, AUDIO, gen(seed), progress=1.0)
        check_invariants(early, 4, AUDIO, 4)
        check_invariants(late, 4, AUDIO, 3)
        assert early.targets.shape[1] == 4 and late.targets.shape[1] == 3
    # without progress (the plain protocol) = progress 0
    assert masker(4, AUDIO, gen(0)).targets.shape[1] == 4


def test_curriculum_midway_mixes_kinds_per_batch():
    masker = CurriculumMasker(CurriculumConfig())
    counts = {3: 0, 4: 0}
    for seed in range(200):
        masks = masker(2, SMALL, gen(seed), progress=0.5)
        counts[masks.targets.shape[1]] += 1  # one kind per batch: M is 3 or 4 for the whole batch
    assert 70 <= counts[3] <= 130, counts  # p = 0.5


def test_curriculum_tf_kind_is_tf_masker_output():
    """The TF kind's targets are the documented strips (all of one area, filled rectangles)."""
    masker = CurriculumMasker(CurriculumConfig())
    masks = masker(4, AUDIO, gen(0), progress=1.0)
    assert masks.targets.shape == (4, 3, 32)
    for row in masks.targets.reshape(-1, 32):
        assert rect(row, AUDIO)[2:] in {(4, 8), (32, 1)}


def test_curriculum_schedule():
    masker = CurriculumMasker(CurriculumConfig(tf_prob=(0.2, 0.6)))
    assert masker.tf_probability(0.0) == pytest.approx(0.2)
    assert masker.tf_probability(0.5) == pytest.approx(0.4)
    assert masker.tf_probability(1.0) == pytest.approx(0.6)
    assert masker.tf_probability(3.0) == pytest.approx(0.6)  # clamped
    down = CurriculumMasker(CurriculumConfig(tf_prob=(1.0, 0.0)))
    assert down(2, AUDIO, gen(0), progress=0.0).targets.shape[1] == 3
    assert down(2, AUDIO, gen(0), progress=1.0).targets.shape[1] == 4


def test_curriculum_block_kind_context_uses_grid_aspect():
    cfg = CurriculumConfig()
    block = cfg.block_config(AUDIO)
    assert block.context_aspect_ratio == (8.0, 8.0)
    assert (block.num_targets, block.target_scale, block.target_aspect_ratio) == (4, (0.15, 0.2), (0.75, 1.5))


@pytest.mark.parametrize("progress", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("grid", [AUDIO, SMALL, TINY])
def test_curriculum_passes_check_masker(grid, progress):
    masker = CurriculumMasker(CurriculumConfig(min_keep=2))
    check_masker(functools.partial(masker, progress=progress), grid, name=f"curriculum@{progress}")


def test_curriculum_deterministic_and_picklable():
    masker = CurriculumMasker(CurriculumConfig())
    clone = pickle.loads(pickle.dumps(masker))
    for seed in range(5):
        a = masker(4, AUDIO, gen(seed), progress=0.5)
        b = clone(4, AUDIO, gen(seed), progress=0.5)
        assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)


# ------------------------------------------------------------------------------- errors


def test_impossible_configs_raise_masking_error():
    with pytest.raises(MaskingError, match="min_keep=1000"):
        TimeFrequencyMasker(TimeFrequencyConfig(min_keep=1000))(2, AUDIO, gen())
    with pytest.raises(MaskingError, match="tf_blocks"):
        TimeFrequencyMasker(TimeFrequencyConfig(tf_scale=(1.0, 1.0), min_keep=1))(2, SMALL, gen())
    with pytest.raises(MaskingError, match="2-D token grid"):
        TimeFrequencyMasker(TimeFrequencyConfig())(2, (4, 64, 8), gen())
    with pytest.raises(MaskingError, match="batch_size"):
        TimeFrequencyMasker(TimeFrequencyConfig())(0, AUDIO, gen())
    # the curriculum checks the late (TF) kind even at progress 0, so the start-up check catches it
    bad_tf = CurriculumConfig(tf_scale=(1.0, 1.0), min_keep=1)
    with pytest.raises(MaskingError, match="time-frequency"):
        CurriculumMasker(bad_tf)(2, AUDIO, gen(), progress=0.0)
    with pytest.raises(MaskingError, match="multi-block"):
        CurriculumMasker(CurriculumConfig(min_keep=600))(2, AUDIO, gen(), progress=0.0)
    # a kind the schedule never reaches is not checked
    only_tf = CurriculumMasker(CurriculumConfig(tf_prob=(1.0, 1.0), block_scale=(1.0, 1.0)))
    assert only_tf(2, AUDIO, gen(), progress=0.0).targets.shape[1] == 3


def test_failing_placement_is_bounded():
    """min_keep just within the static bound: rare placements; the masker ends (result or MaskingError)."""
    masker = TimeFrequencyMasker(TimeFrequencyConfig(num_targets=6, min_keep=470, max_tries=5))
    try:
        masks = masker(8, AUDIO, gen(0))
    except MaskingError as err:
        assert "tf_blocks" in str(err)
    else:
        assert masks.context.shape[1] >= 470


@pytest.mark.parametrize(
    "cls, kwargs, field",
    [
        (TimeFrequencyConfig, {"num_targets": 0}, "num_targets"),
        (TimeFrequencyConfig, {"tf_scale": (0.1, 0.05)}, "tf_scale"),
        (TimeFrequencyConfig, {"tf_scale": (0.0, 0.05)}, "tf_scale"),
        (TimeFrequencyConfig, {"context_scale": (0.5, 1.5)}, "context_scale"),
        (TimeFrequencyConfig, {"time_strip_prob": 1.5}, "time_strip_prob"),
        (TimeFrequencyConfig, {"min_keep": 0}, "min_keep"),
        (TimeFrequencyConfig, {"max_tries": 0}, "max_tries"),
        (CurriculumConfig, {"tf_prob": (-0.1, 1.0)}, "tf_prob"),
        (CurriculumConfig, {"tf_prob": (0.0, 1.5)}, "tf_prob"),
        (CurriculumConfig, {"block_aspect": (0.0, 1.0)}, "block_aspect"),
        (CurriculumConfig, {"block_scale": (0.3, 0.2)}, "block_scale"),
        (CurriculumConfig, {"block_num_targets": 0}, "block_num_targets"),
        (CurriculumConfig, {"tf_num_targets": 0}, "tf_num_targets"),
        (CurriculumConfig, {"tf_time_strip_prob": -0.5}, "tf_time_strip_prob"),
    ],
)
def test_bad_values_raise_value_error(cls, kwargs, field):
    with pytest.raises(ValueError, match=field):
        cls(**kwargs)


def test_bad_progress_raises_value_error():
    masker = CurriculumMasker(CurriculumConfig())
    with pytest.raises(ValueError, match="progress"):
        masker(2, AUDIO, gen(), progress=float("nan"))
    with pytest.raises(ValueError, match="progress"):
        masker(2, AUDIO, gen(), progress="late")


# ----------------------------------------------------------------- specs and config


def test_masker_specs_examples_pass_check_masker():
    specs = masker_specs()
    assert [s.name for s in specs] == ["tf_blocks", "curriculum"]
    for spec in specs:
        example = spec.example()
        assert isinstance(example, Example) and example.grid == TINY and spec.description
        check_masker(spec.build(example.options), example.grid, name=spec.name)


@pytest.mark.parametrize("cls", [TimeFrequencyConfig, CurriculumConfig])
def test_configs_are_flat_and_round_trip_json(cls):
    cfg = cls()
    data = json.loads(json.dumps(attrs.asdict(cfg)))  # tuples come back as lists
    types_ = field_types(cls)
    values = {k: coerce_value(v, types_[k], f"masker.{k}") for k, v in data.items()}
    assert cls(**values) == cfg
    assert not any(attrs.has(type(v)) for v in attrs.asdict(cfg, recurse=False).values())
