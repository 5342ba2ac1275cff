"""Spectrogram maskers: A-JEPA's time-frequency-aware blocks and its masking curriculum.

Grid convention: a spectrogram ``[1, T, F]`` (time frames as the height, mel bins as the
width) cut into 16x16 patches gives the token grid ``(gt, gf)`` = (time patches, frequency
patches), e.g. ``(64, 8)`` for 1024 frames x 128 mels; token ``(ti, fi)`` has the row-major
index ``ti * gf + fi``. Every masker is a picklable object built from its frozen config record;
all randomness comes from the ``generator`` argument.

A-JEPA (Fei et al., 2023) masks with a CURRICULUM: each step uses EITHER I-JEPA's multi-block
masks (4 target blocks of scale 0.15-0.2, aspect 0.75-1.5) OR time-frequency-aware blocks (3
targets of scale 0.05-0.075), the probability of the second moving up over training; in both
cases the context is one block of scale 0.85-1.0 minus the targets.

- :class:`TimeFrequencyMasker` (``"tf_blocks"``) draws the time-frequency-aware targets alone.
  The paper does not pin their shape down; OUR INTERPRETATION is that each target is a STRIP,
  elongated along one axis, with area fraction in ``tf_scale`` of the grid (see the class).
- :class:`CurriculumMasker` (``"curriculum"``) is the curriculum: once per batch it picks the
  multi-block kind (:class:`jepa_vit.masks.MultiBlockMasker`, M = ``block_num_targets``) or the
  time-frequency kind (:class:`TimeFrequencyMasker`, M = ``tf_num_targets``) with the
  probability ``p = tf_prob[0] + (tf_prob[1] - tf_prob[0]) * progress`` of the latter. It takes
  ``progress`` (fraction of training done, 0..1) as an optional fourth argument, which the core's
  collate passes to maskers whose ``__call__`` has a ``progress`` parameter. M therefore changes
  from batch to batch (4 or 3 by default); the trainer and predictors take any M per batch
  (predictions and targets are ``[B * M, Nt, D]`` for the batch's own M).

Context blocks keep the GRID's aspect ratio: a context block of scale ``s`` is
``round(sqrt(s) * gt) x round(sqrt(s) * gf)`` patches. (I-JEPA's square context block, aspect
1, IS the grid's shape on a square image grid; on a ``(64, 8)`` spectrogram grid a square
block of scale 0.85 would be clamped to ``21 x 8``, a third of the grid.)

Audio-JEPA's random masking (a random 40-60% of the patches is the target, the rest the
context) is the image plugin's ``random`` masker (:class:`jepa_vit.masks.RandomMasker`), which
works on any 2-D grid, spectrogram grids included; the ``audiojepa_vitb16`` preset draws its
fraction per batch (:class:`jepa_vit.masks.RandomConfig`). It is not re-registered here.

Example::

    masker = CurriculumMasker(CurriculumConfig())
    g = torch.Generator().manual_seed(0)
    early = masker(8, (64, 8), g, progress=0.0)  # always multi-block: targets [8, 4, Nt]
    late = masker(8, (64, 8), g, progress=1.0)   # always TF strips:   targets [8, 3, 32]
    tf = TimeFrequencyMasker(TimeFrequencyConfig())(8, (64, 8), g)  # targets [8, 3, 32]
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.masking import (
    MAX_SIZE_ROUNDS,
    aspect_range,
    at_least,
    block_indices,
    block_masks,
    block_size,
    grid2d,
    keep_valid,
    pair,
    random_subset,
    round_half_up,
    scale_range,
)
from jepa_core.specs import Example, MaskerSpec
from jepa_vit.masks import MultiBlockConfig, MultiBlockMasker

# Slack when turning scale bounds into whole numbers of patches (0.075 * 64 is 4.8000000000000001).
_EPS = 1e-9

# ---------------------------------------------------------------------- validators


def _probability(_inst: Any, attr: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{attr.name} must be a probability in [0, 1], got {value!r}")


def _probability_pair(_inst: Any, attr: attrs.Attribute, value: tuple[float, float]) -> None:
    if not all(0.0 <= v <= 1.0 for v in value):
        raise ValueError(f"{attr.name} must be (start, end) probabilities, each in [0, 1], got {value!r}")


# ------------------------------------------------------------------------- configs


@attrs.frozen
class TimeFrequencyConfig:
    """Options of :class:`TimeFrequencyMasker` (defaults = A-JEPA's time-frequency-aware stage).

    ``num_targets`` strips per sample, each covering a fraction ``tf_scale`` (lo, hi) of the grid;
    ``time_strip_prob`` is the chance that a strip is a time strip rather than a frequency band;
    the context is one block of scale ``context_scale`` minus the targets and must keep at least
    ``min_keep`` tokens; ``max_tries`` bounds the redraws (positions per size, and sizes).

    >>> TimeFrequencyConfig().tf_scale
    (0.05, 0.075)
    """

    num_targets: int = attrs.field(default=3, validator=at_least(1))
    tf_scale: tuple[float, float] = attrs.field(default=(0.05, 0.075), converter=pair, validator=scale_range)
    context_scale: tuple[float, float] = attrs.field(default=(0.85, 1.0), converter=pair, validator=scale_range)
    time_strip_prob: float = attrs.field(default=0.5, validator=_probability)
    min_keep: int = attrs.field(default=10, validator=at_least(1))
    max_tries: int = attrs.field(default=200, validator=at_least(1))


@attrs.frozen
class CurriculumConfig:
    """Options of :class:`CurriculumMasker` (defaults = the A-JEPA curriculum), kept FLAT.

    ``block_*``: the multi-block kind (I-JEPA's ``num_targets``, ``target_scale``,
    ``target_aspect_ratio``); ``tf_*``: the time-frequency kind (see
    :class:`TimeFrequencyConfig`); ``context_scale``, ``min_keep`` and ``max_tries`` are shared by
    both kinds. ``tf_prob = (start, end)``: the probability of the time-frequency kind at the
    start and at the end of training, linear in between. The run-config system stores plain
    values and tuples only, hence no nested config records; :meth:`block_config` and
    :meth:`tf_config` build the two sub-maskers' records.

    >>> CurriculumConfig().tf_prob
    (0.0, 1.0)
    """

    block_num_targets: int = attrs.field(default=4, validator=at_least(1))
    block_scale: tuple[float, float] = attrs.field(default=(0.15, 0.2), converter=pair, validator=scale_range)
    block_aspect: tuple[float, float] = attrs.field(default=(0.75, 1.5), converter=pair, validator=aspect_range)
    tf_num_targets: int = attrs.field(default=3, validator=at_least(1))
    tf_scale: tuple[float, float] = attrs.field(default=(0.05, 0.075), converter=pair, validator=scale_range)
    tf_time_strip_prob: float = attrs.field(default=0.5, validator=_probability)
    context_scale: tuple[float, float] = attrs.field(default=(0.85, 1.0), converter=pair, validator=scale_range)
    tf_prob: tuple[float, float] = attrs.field(default=(0.0, 1.0), converter=pair, validator=_probability_pair)
    min_keep: int = attrs.field(default=10, validator=at_least(1))
    max_tries: int = attrs.field(default=200, validator=at_least(1))

    def block_config(self, grid: tuple[int, int]) -> MultiBlockConfig:
        """The multi-block kind's :class:`MultiBlockConfig` on ``grid`` (context aspect = the grid's).

        >>> CurriculumConfig().block_config((64, 8)).context_aspect_ratio
        (8.0, 8.0)
        """
        aspect = grid[0] / grid[1]
        return MultiBlockConfig(
            num_targets=self.block_num_targets,
            target_scale=self.block_scale,
            target_aspect_ratio=self.block_aspect,
            context_scale=self.context_scale,
            context_aspect_ratio=(aspect, aspect),
            min_keep=self.min_keep,
            allow_target_overlap=True,
            max_tries=self.max_tries,
        )

    def tf_config(self) -> TimeFrequencyConfig:
        """The time-frequency kind's :class:`TimeFrequencyConfig`."""
        return TimeFrequencyConfig(
            num_targets=self.tf_num_targets,
            tf_scale=self.tf_scale,
            context_scale=self.context_scale,
            time_strip_prob=self.tf_time_strip_prob,
            min_keep=self.min_keep,
            max_tries=self.max_tries,
        )


# ------------------------------------------------------------------- helpers


def _check_batch(batch_size: Any, name: str) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise MaskingError(f"the {name} masker needs an int batch_size >= 1, got {batch_size!r}.")


def strip_length(scale: float, extent: int, scale_range: tuple[float, float]) -> int:
    """Whole patches a time strip spans along an axis of ``extent`` patches for scale ``scale``.

    ``round(scale * extent)`` (half up), moved into the lengths whose fraction ``L / extent``
    lies in ``scale_range``; when no whole length does (too few patches), the rounded length,
    clamped to ``[1, extent]``.

    >>> strip_length(0.05, 64, (0.05, 0.075)), strip_length(0.075, 64, (0.05, 0.075))
    (4, 4)
    >>> strip_length(0.05, 8, (0.05, 0.075))  # no whole length fits 0.4..0.6 patches
    1
    """
    length = round_half_up(scale * extent)
    lo = max(1, math.ceil(scale_range[0] * extent - _EPS))
    hi = min(extent, math.floor(scale_range[1] * extent + _EPS))
    if lo <= hi:
        return min(max(length, lo), hi)
    return min(max(length, 1), extent)


def band_shape(area: int, grid: tuple[int, int]) -> tuple[int, int]:
    """``(time length, frequency width)`` of a frequency band of exactly ``area`` tokens.

    The width is the smallest divisor ``W <= gf`` of ``area`` whose length ``area / W`` fits the
    ``gt`` time patches (``W = 1`` whenever ``area <= gt``, as on usual spectrogram grids), so the
    band is as thin in frequency, hence as elongated along time, as the grid allows.

    >>> band_shape(32, (64, 8))
    (32, 1)
    """
    gt, gf = grid
    for width in range(1, gf + 1):
        if area % width == 0 and area // width <= gt:
            return area // width, width
    raise MaskingError(f"no frequency band of {area} tokens fits the {gt}x{gf} grid.")  # area > gt * gf


# ----------------------------------------------------------------- TF masker


class TimeFrequencyMasker:
    """Time-frequency-aware masking (A-JEPA, our interpretation): M strip targets, one context block minus them.

    Each target is a STRIP (OUR definition; the paper does not fix the shape):

    - a TIME STRIP, with probability ``time_strip_prob``: ALL ``gf`` frequency patches over
      ``L`` consecutive time patches (elongated along frequency), area fraction ``L / gt``;
    - otherwise a FREQUENCY BAND: ``W`` consecutive frequency patches over ``L_b`` consecutive
      time patches with the SAME area ``L * gf`` (elongated along time; a band over the whole time
      axis would hold ``1 / gf`` of the grid, 1/8 on a 128-mel grid, too large for
      ``tf_scale``, so its length is capped by the scale). ``W`` is the smallest width that fits
      (see :func:`band_shape`): on a ``(64, 8)`` grid a band is 32 time x 1 frequency patch.

    Sizes are drawn once per batch (shared by every sample, so target sets have equal length,
    as in I-JEPA): scale ``s ~ U(tf_scale)``, ``L = round(s * gt)`` moved into the lengths whose
    fraction ``L / gt`` lies in ``tf_scale`` (see :func:`strip_length`), so every target covers a
    fraction of the grid inside ``tf_scale``, unless the grid has too few time patches for any
    whole length to (then the nearest, at least one, e.g. 1/8 on an ``(8, 4)`` grid); the context
    block has scale ``s_c ~ U(context_scale)`` and the grid's aspect ratio (see the module
    docstring). Per sample, each target's kind and position are drawn independently (targets may
    overlap), uniformly over every valid position; the context block's position too.

    A sample whose context keeps fewer than ``min_keep`` tokens gets new positions, up to
    ``max_tries`` times; then the batch gets new sizes; after a few sizes fail, a
    :class:`MaskingError`. A config that can never keep ``min_keep`` tokens fails before any draw.
    Contexts are cut to the batch's shortest one by a uniformly random subset, returned sorted;
    target indices are sorted row-major per strip.

    Returns ``MaskSet(context [B, Nc], targets [B, num_targets, L * gf])``.

    >>> m = TimeFrequencyMasker(TimeFrequencyConfig())
    >>> m(2, (64, 8), torch.Generator().manual_seed(0)).targets.shape
    torch.Size([2, 3, 32])
    """

    def __init__(self, cfg: TimeFrequencyConfig = TimeFrequencyConfig()) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        _check_batch(batch_size, "tf_blocks")
        grid2 = grid2d(grid, "tf_blocks")
        self.check_feasible(grid2)
        for _ in range(MAX_SIZE_ROUNDS):
            sizes = self._sample_sizes(grid2, generator)
            masks = self._place(batch_size, grid2, sizes, generator)
            if masks is not None:
                return masks
        raise self._fail(
            grid2,
            f"{MAX_SIZE_ROUNDS} block sizes each failed {self.cfg.max_tries} position draws "
            "(the strips cover too much of the context block)",
        )

    # ---------------------------------------------------------------- sizes

    def _fail(self, grid: tuple[int, int], reason: str) -> MaskingError:
        cfg = self.cfg
        return MaskingError(
            f"the tf_blocks masker cannot keep min_keep={cfg.min_keep} context tokens on grid {grid[0]}x{grid[1]} "
            f"with tf_scale={cfg.tf_scale}, context_scale={cfg.context_scale} and num_targets={cfg.num_targets}: "
            f"{reason}; lower masker.min_keep, shrink masker.tf_scale or enlarge masker.context_scale."
        )

    def check_feasible(self, grid: tuple[int, int]) -> None:
        """Raise :class:`MaskingError` at once if no draw on ``grid`` can keep ``min_keep`` context tokens.

        The best case is the smallest strips all on one spot inside the largest context block.
        """
        cfg = self.cfg
        gt, gf = grid
        n = gt * gf
        area = strip_length(cfg.tf_scale[0], gt, cfg.tf_scale) * gf
        h, w = block_size(cfg.context_scale[1], gt / gf, grid, False)
        best = min(h * w, n - area)
        if best < cfg.min_keep:
            raise self._fail(grid, f"a context can keep at most {max(best, 0)} of {n} tokens")

    def _sample_sizes(
        self, grid: tuple[int, int], generator: torch.Generator
    ) -> tuple[int, tuple[int, int], tuple[int, int]]:
        """Time strip length, band ``(length, width)`` and context block ``(h, w)``, for one batch.

        Sizes that cannot keep ``min_keep`` tokens are redrawn (``max_tries`` times at most).
        """
        cfg = self.cfg
        gt, gf = grid
        for _ in range(cfg.max_tries):
            u, v = torch.rand(2, generator=generator).tolist()
            s = cfg.tf_scale[0] + u * (cfg.tf_scale[1] - cfg.tf_scale[0])
            s_c = cfg.context_scale[0] + v * (cfg.context_scale[1] - cfg.context_scale[0])
            length = strip_length(s, gt, cfg.tf_scale)
            c_hw = block_size(s_c, gt / gf, grid, False)
            if min(c_hw[0] * c_hw[1], gt * gf - length * gf) >= cfg.min_keep:
                return length, band_shape(length * gf, grid), c_hw
        raise self._fail(grid, f"{cfg.max_tries} size draws in a row could not keep enough tokens")

    # ------------------------------------------------------------ positions

    def _draw(
        self,
        batch_size: int,
        grid: tuple[int, int],
        sizes: tuple[int, tuple[int, int], tuple[int, int]],
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, ...]:
        """Per sample: kinds, strip tops, band tops/lefts ``[B, M]``; context top/left ``[B]``."""
        gt, gf = grid
        length, (b_len, b_width), (c_h, c_w) = sizes
        shape = (batch_size, self.cfg.num_targets)
        is_time = torch.rand(shape, generator=generator) < self.cfg.time_strip_prob
        s_top = torch.randint(0, gt - length + 1, shape, generator=generator)
        b_top = torch.randint(0, gt - b_len + 1, shape, generator=generator)
        b_left = torch.randint(0, gf - b_width + 1, shape, generator=generator)
        c_top = torch.randint(0, gt - c_h + 1, (batch_size,), generator=generator)
        c_left = torch.randint(0, gf - c_w + 1, (batch_size,), generator=generator)
        return is_time, s_top, b_top, b_left, c_top, c_left

    def _target_masks(
        self,
        corners: tuple[torch.Tensor, ...],
        grid: tuple[int, int],
        sizes: tuple[int, tuple[int, int], tuple[int, int]],
    ) -> torch.Tensor:
        """Boolean target masks ``[B, M, N]``."""
        is_time, s_top, b_top, b_left = corners[:4]
        length, (b_len, b_width), _ = sizes
        strips = block_masks(s_top, torch.zeros_like(s_top), length, grid[1], grid)
        bands = block_masks(b_top, b_left, b_len, b_width, grid)
        return torch.where(is_time[..., None], strips, bands)

    def _place(
        self,
        batch_size: int,
        grid: tuple[int, int],
        sizes: tuple[int, tuple[int, int], tuple[int, int]],
        generator: torch.Generator,
    ) -> MaskSet | None:
        """Place strips and context per sample, redrawing invalid samples; None if some never fits."""
        c_hw = sizes[2]
        corners = self._draw(batch_size, grid, sizes, generator)
        for attempt in range(self.cfg.max_tries):
            union = self._target_masks(corners, grid, sizes).any(dim=1)  # [B, N]
            kept = block_masks(corners[4], corners[5], *c_hw, grid) & ~union
            valid = kept.sum(dim=1) >= self.cfg.min_keep
            if bool(valid.all()):
                return self._finish(corners, kept, grid, sizes, generator)
            if attempt + 1 < self.cfg.max_tries:  # redraw the invalid samples, keep the valid ones
                fresh = self._draw(batch_size, grid, sizes, generator)
                corners = tuple(keep_valid(old, new, valid) for old, new in zip(corners, fresh, strict=True))
        return None

    def _finish(
        self,
        corners: tuple[torch.Tensor, ...],
        kept: torch.Tensor,
        grid: tuple[int, int],
        sizes: tuple[int, tuple[int, int], tuple[int, int]],
        generator: torch.Generator,
    ) -> MaskSet:
        is_time, s_top, b_top, b_left = corners[:4]
        length, (b_len, b_width), _ = sizes
        gf = grid[1]
        strips = block_indices(s_top, torch.zeros_like(s_top), length, gf, gf)  # [B, M, L * gf]
        bands = block_indices(b_top, b_left, b_len, b_width, gf)  # [B, M, L * gf] (same area)
        targets = torch.where(is_time[..., None], strips, bands)
        context = random_subset(kept, int(kept.sum(dim=1).min()), generator)
        return MaskSet(context=context, targets=targets)


# ----------------------------------------------------------- curriculum masker


class CurriculumMasker:
    """A-JEPA's masking curriculum: per batch, multi-block masks OR time-frequency strips.

    ``masker(batch_size, grid, generator, progress=0.0)``: ``progress`` in [0, 1] is the fraction
    of training done (values outside are clamped; the core passes it). ONCE PER BATCH (every
    sample gets the same kind, so shapes match) one uniform number ``u`` is drawn from
    ``generator``; the batch gets time-frequency strips (:class:`TimeFrequencyMasker`,
    M = ``tf_num_targets``) when ``u < p`` with the linear schedule
    ``p = tf_prob[0] + (tf_prob[1] - tf_prob[0]) * progress`` (:meth:`tf_probability`), else
    I-JEPA multi-block masks (:class:`jepa_vit.masks.MultiBlockMasker`, targets may overlap,
    M = ``block_num_targets``). ``u`` is drawn even when ``p`` is 0 or 1, so the generator is
    consumed alike at every progress. Both kinds share ``context_scale`` (a block with the grid's
    aspect ratio, minus the targets), ``min_keep`` and ``max_tries``.

    Both kinds are checked for feasibility on every call (a kind the schedule can reach), so a
    config whose late kind is impossible fails at the run's start-up check (``progress = 0``),
    not mid-run.

    >>> m = CurriculumMasker(CurriculumConfig())
    >>> g = torch.Generator().manual_seed(0)
    >>> m(2, (64, 8), g, progress=0.0).targets.shape[1], m(2, (64, 8), g, progress=1.0).targets.shape[1]
    (4, 3)
    """

    def __init__(self, cfg: CurriculumConfig = CurriculumConfig()) -> None:
        self.cfg = cfg
        self.tf_masker = TimeFrequencyMasker(cfg.tf_config())

    def tf_probability(self, progress: float) -> float:
        """The probability of the time-frequency kind at ``progress`` (clamped to [0, 1]).

        >>> CurriculumMasker(CurriculumConfig(tf_prob=(0.2, 0.6))).tf_probability(0.5)
        0.4
        """
        try:
            progress = float(progress)
        except (TypeError, ValueError):
            raise ValueError(f"progress must be a number in [0, 1], got {progress!r}") from None
        if not math.isfinite(progress):
            raise ValueError(f"progress must be a finite number in [0, 1], got {progress!r}")
        progress = min(max(progress, 0.0), 1.0)
        start, end = self.cfg.tf_prob
        return start + (end - start) * progress

    def block_masker(self, grid: tuple[int, int]) -> MultiBlockMasker:
        """The multi-block kind's masker on ``grid`` (its context block takes the grid's aspect ratio)."""
        return MultiBlockMasker(self.cfg.block_config(grid))

    def __call__(
        self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator, progress: float = 0.0
    ) -> MaskSet:
        p_tf = self.tf_probability(progress)
        _check_batch(batch_size, "curriculum")
        grid2 = grid2d(grid, "curriculum")
        block = self.block_masker(grid2)
        if min(self.cfg.tf_prob) < 1.0:
            self._block_feasible(block, grid2)
        if max(self.cfg.tf_prob) > 0.0:
            self._tf_feasible(grid2)
        use_tf = torch.rand(1, generator=generator).item() < p_tf
        if use_tf:
            return self._run(lambda: self.tf_masker(batch_size, grid2, generator), "time-frequency (tf_*)")
        return self._run(lambda: block(batch_size, grid2, generator), "multi-block (block_*)")

    def _block_feasible(self, block: MultiBlockMasker, grid: tuple[int, int]) -> None:
        self._run(lambda: block.check_feasible(grid), "multi-block (block_*)")

    def _tf_feasible(self, grid: tuple[int, int]) -> None:
        self._run(lambda: self.tf_masker.check_feasible(grid), "time-frequency (tf_*)")

    @staticmethod
    def _run(fn: Any, kind: str) -> Any:
        try:
            return fn()
        except MaskingError as err:
            raise MaskingError(f"the curriculum masker's {kind} kind failed: {err}") from err


# ----------------------------------------------------------------------- specs


def masker_specs() -> list[MaskerSpec]:
    """The audio plugin's maskers, for its ``jepa_maskers`` hook.

    >>> [s.name for s in masker_specs()]
    ['tf_blocks', 'curriculum']
    """
    return [
        MaskerSpec(
            name="tf_blocks",
            config_type=TimeFrequencyConfig,
            build=TimeFrequencyMasker,
            description=(
                "A-JEPA time-frequency-aware masking (our interpretation): 3 targets, each a time strip (all "
                "frequencies) or a frequency band (capped in time) covering 5-7.5% of the spectrogram, one "
                "context block minus the targets"
            ),
            example=lambda: Example(options=TimeFrequencyConfig(min_keep=2), grid=(8, 4)),
        ),
        MaskerSpec(
            name="curriculum",
            config_type=CurriculumConfig,
            build=CurriculumMasker,
            description=(
                "A-JEPA masking curriculum: per batch, I-JEPA multi-block masks or time-frequency strips, the "
                "strips' probability moving linearly from tf_prob[0] to tf_prob[1] over training"
            ),
            example=lambda: Example(options=CurriculumConfig(min_keep=2), grid=(8, 4)),
        ),
    ]
