"""Maskers on a 2-D token grid shared by the image and audio plugins: I-JEPA multi-block masking
and random masking.

Every masker is a picklable object built from its frozen config record and called as
``masker(batch_size, grid, generator) -> MaskSet`` on a 2-D token grid ``(gh, gw)`` (an image's
rows x columns, a spectrogram's time x frequency patches); token indices are row-major
(``row * gw + col``). All randomness comes from ``generator``. The image plugin registers them
as ``multiblock`` and ``random``; the audio curriculum runs the multi-block masker as one of
its kinds.

Example::

    masker = MultiBlockMasker(MultiBlockConfig())
    masks = masker(8, (14, 14), torch.Generator().manual_seed(0))
    masks.context.shape, masks.targets.shape  # ([8, Nc], [8, 4, Nt])
"""

from __future__ import annotations

import math

import attrs
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.masking import (
    MAX_SIZE_ROUNDS,
    area_range,
    aspect_range,
    at_least,
    block_indices,
    block_masks,
    block_size,
    grid2d,
    keep_valid,
    open_unit,
    pair,
    random_subset,
    raster_first,
    round_half_up,
    scale_range,
)

# ------------------------------------------------------------------------- configs


@attrs.frozen
class MultiBlockConfig:
    """Options of :class:`MultiBlockMasker` (defaults = the I-JEPA recipe).

    >>> MultiBlockConfig(num_targets=2).target_scale
    (0.15, 0.2)
    """

    num_targets: int = attrs.field(default=4, validator=at_least(1))
    target_scale: tuple[float, float] = attrs.field(default=(0.15, 0.2), converter=pair, validator=scale_range)
    target_aspect_ratio: tuple[float, float] = attrs.field(default=(0.75, 1.5), converter=pair, validator=aspect_range)
    context_scale: tuple[float, float] = attrs.field(default=(0.85, 1.0), converter=pair, validator=scale_range)
    context_aspect_ratio: tuple[float, float] = attrs.field(default=(1.0, 1.0), converter=pair, validator=aspect_range)
    min_keep: int = attrs.field(default=10, validator=at_least(0))
    allow_target_overlap: bool = True
    max_tries: int = attrs.field(default=200, validator=at_least(1))
    reference_sampling: bool = False


@attrs.frozen
class RandomConfig:
    """Options of :class:`RandomMasker`: the fraction of tokens that become the target, or with
    ``max_target_ratio`` a fraction drawn per batch from ``[target_ratio, max_target_ratio]``
    (Audio-JEPA: 0.4-0.6).

    >>> RandomConfig().target_ratio
    0.6
    """

    target_ratio: float = attrs.field(default=0.6, validator=open_unit)
    max_target_ratio: float | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        hi = self.max_target_ratio
        if hi is not None and not (0.0 < hi < 1.0 and hi >= self.target_ratio):
            raise ValueError(
                f"max_target_ratio must be in [target_ratio, 1) = [{self.target_ratio}, 1) or None, got {hi!r}"
            )


# ---------------------------------------------------------------------- multi-block


class MultiBlockMasker:
    """I-JEPA multi-block masking: M target blocks and one context block minus the targets.

    Per batch, one target block size and one context block size are drawn (shared by all
    images, so target sets have equal length): scale ~ U(scale range) and, independently,
    log(aspect) ~ U(log lo, log hi) (log-uniform, so h/w and w/h are treated alike);
    ``h = round(sqrt(scale * N * aspect))``, ``w = round(sqrt(scale * N / aspect))``, clamped to
    the grid. Per image, block top-left corners are uniform over every valid position, last
    row/column included (with ``allow_target_overlap=False`` each target is placed in turn,
    uniformly over the corners that keep it clear of the earlier ones). An image whose context
    keeps fewer than ``min_keep`` tokens (or whose targets could not be kept disjoint) gets new
    positions, up to ``max_tries`` times; then the batch gets new sizes; after a few sizes fail
    so a :class:`MaskingError` is raised. Sizes whose target block is below ``min_keep`` are
    redrawn. Context sets are cut to the batch's shortest one by keeping a uniformly random
    subset, returned sorted.

    ``reference_sampling=True`` reproduces the reference collator's known defects on purpose
    (for comparison runs only): one uniform number drives both scale and aspect ratio (linear
    in both, so they are perfectly correlated); blocks are kept smaller than the grid and their
    top/left are drawn with an exclusive upper bound, so the last row and column are never
    covered; context sets are truncated to their raster-first indices. It still errors after
    bounded tries instead of spinning.

    >>> m = MultiBlockMasker(MultiBlockConfig(num_targets=2))
    >>> m(3, (14, 14), torch.Generator().manual_seed(0)).targets.shape[:2]
    torch.Size([3, 2])
    """

    def __init__(self, cfg: MultiBlockConfig = MultiBlockConfig()) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        grid2 = grid2d(grid, "multiblock")
        self.check_feasible(grid2)
        failed: set[tuple[tuple[int, int], tuple[int, int]]] = set()
        for _ in range(self.cfg.max_tries):
            t_hw, c_hw = self._sample_sizes(grid2, generator)
            if (t_hw, c_hw) in failed or not self._sizes_feasible(t_hw, c_hw, grid2):
                continue
            masks = self._place(batch_size, grid2, t_hw, c_hw, generator)
            if masks is not None:
                return masks
            failed.add((t_hw, c_hw))
            if len(failed) >= MAX_SIZE_ROUNDS:
                break
        raise MaskingError(
            f"the multiblock masker found no valid masks on grid {grid2[0]}x{grid2[1]} with "
            f"target_scale={self.cfg.target_scale}, context_scale={self.cfg.context_scale}, "
            f"num_targets={self.cfg.num_targets} and min_keep={self.cfg.min_keep} after bounded retries; "
            "lower masker.min_keep or masker.num_targets, shrink masker.target_scale or enlarge "
            "masker.context_scale."
        )

    # ---------------------------------------------------------------- sizes

    def check_feasible(self, grid: tuple[int, int]) -> None:
        """Raise at once for configurations no draw can satisfy."""
        cfg = self.cfg
        gh, gw = grid
        n = gh * gw
        if cfg.reference_sampling and min(grid) < 2:
            raise MaskingError(f"reference_sampling needs a grid of at least 2x2, got {gh}x{gw}.")
        ref = cfg.reference_sampling
        t_min, t_max = area_range(cfg.target_scale, cfg.target_aspect_ratio, grid, ref)
        _, c_max = area_range(cfg.context_scale, cfg.context_aspect_ratio, grid, ref)
        removed = cfg.num_targets * t_min if not cfg.allow_target_overlap else t_min
        reason = None
        if t_max < cfg.min_keep:
            reason = f"target blocks hold at most {t_max} tokens"
        elif not cfg.allow_target_overlap and removed > n:
            reason = f"{cfg.num_targets} disjoint target blocks of at least {t_min} tokens exceed {n} tokens"
        elif min(c_max, n - removed) < cfg.min_keep:
            reason = f"a context set can keep at most {max(min(c_max, n - removed), 0)} tokens"
        if reason is not None:
            raise MaskingError(
                f"the multiblock masker cannot satisfy min_keep={cfg.min_keep} on grid {gh}x{gw} with "
                f"target_scale={cfg.target_scale}, context_scale={cfg.context_scale} and "
                f"num_targets={cfg.num_targets}: {reason}; lower masker.min_keep or change the scales."
            )

    def _sample_sizes(
        self, grid: tuple[int, int], generator: torch.Generator
    ) -> tuple[tuple[int, int], tuple[int, int]]:
        cfg = self.cfg
        target = self._one_size(cfg.target_scale, cfg.target_aspect_ratio, grid, generator)
        context = self._one_size(cfg.context_scale, cfg.context_aspect_ratio, grid, generator)
        return target, context

    def _one_size(
        self,
        scale: tuple[float, float],
        aspect: tuple[float, float],
        grid: tuple[int, int],
        generator: torch.Generator,
    ) -> tuple[int, int]:
        if self.cfg.reference_sampling:
            u = torch.rand(1, generator=generator).item()
            s = scale[0] + u * (scale[1] - scale[0])
            ar = aspect[0] + u * (aspect[1] - aspect[0])
        else:
            u, v = torch.rand(2, generator=generator).tolist()
            s = scale[0] + u * (scale[1] - scale[0])
            log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
            ar = math.exp(log_lo + v * (log_hi - log_lo))
        return block_size(s, ar, grid, self.cfg.reference_sampling)

    def _sizes_feasible(self, t_hw: tuple[int, int], c_hw: tuple[int, int], grid: tuple[int, int]) -> bool:
        cfg = self.cfg
        t_area = t_hw[0] * t_hw[1]
        removed = t_area if cfg.allow_target_overlap else cfg.num_targets * t_area
        kept_bound = min(c_hw[0] * c_hw[1], grid[0] * grid[1] - removed)
        if t_area < cfg.min_keep or kept_bound < cfg.min_keep:
            return False
        if cfg.allow_target_overlap:
            return True
        # At most floor(span / h) * floor(span / w) disjoint h x w blocks fit in the reachable span.
        cap = 1 if cfg.reference_sampling else 0
        fits = ((grid[0] - cap) // t_hw[0]) * ((grid[1] - cap) // t_hw[1])
        return cfg.num_targets <= fits

    # ------------------------------------------------------------ positions

    def _positions(
        self, shape: tuple[int, ...], hw: tuple[int, int], grid: tuple[int, int], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Inclusive range [0, g - size]; the reference draws from [0, g - size) instead.
        extra = 0 if self.cfg.reference_sampling else 1
        tops = torch.randint(0, grid[0] - hw[0] + extra, shape, generator=generator)
        lefts = torch.randint(0, grid[1] - hw[1] + extra, shape, generator=generator)
        return tops, lefts

    def _disjoint_positions(
        self, batch_size: int, hw: tuple[int, int], grid: tuple[int, int], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Target corners ``[B, M]`` placed one by one, each uniform over the corners free of the others.

        An image with no free corner left gets an overlapping block, which :meth:`_evaluate` rejects.
        """
        extra = 0 if self.cfg.reference_sampling else 1
        rows = torch.arange(grid[0] - hw[0] + extra)
        cols = torch.arange(grid[1] - hw[1] + extra)
        blocked = torch.zeros(batch_size, rows.numel(), cols.numel(), dtype=torch.bool)
        tops, lefts = [], []
        for _ in range(self.cfg.num_targets):
            keys = torch.rand(blocked.shape, generator=generator).masked_fill_(blocked, -1.0)
            pick = keys.flatten(1).argmax(dim=1)
            top, left = pick // cols.numel(), pick % cols.numel()
            near_rows = (rows - top[:, None]).abs() < hw[0]
            near_cols = (cols - left[:, None]).abs() < hw[1]
            blocked |= near_rows[:, :, None] & near_cols[:, None, :]
            tops.append(top)
            lefts.append(left)
        return torch.stack(tops, dim=1), torch.stack(lefts, dim=1)

    def _draw(
        self,
        batch_size: int,
        grid: tuple[int, int],
        t_hw: tuple[int, int],
        c_hw: tuple[int, int],
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Block corners for a batch: target tops/lefts ``[B, M]``, context tops/lefts ``[B]``."""
        if self.cfg.allow_target_overlap:
            t_top, t_left = self._positions((batch_size, self.cfg.num_targets), t_hw, grid, generator)
        else:
            t_top, t_left = self._disjoint_positions(batch_size, t_hw, grid, generator)
        c_top, c_left = self._positions((batch_size,), c_hw, grid, generator)
        return t_top, t_left, c_top, c_left

    def _place(
        self,
        batch_size: int,
        grid: tuple[int, int],
        t_hw: tuple[int, int],
        c_hw: tuple[int, int],
        generator: torch.Generator,
    ) -> MaskSet | None:
        """Place blocks per image, redrawing invalid images; None if some image never fits."""
        corners = self._draw(batch_size, grid, t_hw, c_hw, generator)
        for attempt in range(self.cfg.max_tries):
            kept, valid = self._evaluate(corners, grid, t_hw, c_hw)
            if bool(valid.all()):
                return self._finish(corners, kept, grid, t_hw, generator)
            if attempt + 1 < self.cfg.max_tries:  # redraw the invalid images, keep the valid ones
                fresh = self._draw(batch_size, grid, t_hw, c_hw, generator)
                corners = tuple(keep_valid(old, new, valid) for old, new in zip(corners, fresh, strict=True))
        return None

    def _evaluate(
        self,
        corners: tuple[torch.Tensor, ...],
        grid: tuple[int, int],
        t_hw: tuple[int, int],
        c_hw: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context-minus-targets masks ``[B, N]`` and per-image validity ``[B]``."""
        t_top, t_left, c_top, c_left = corners
        targets = block_masks(t_top, t_left, *t_hw, grid).any(dim=1)
        kept = block_masks(c_top, c_left, *c_hw, grid) & ~targets
        valid = kept.sum(dim=1) >= self.cfg.min_keep
        if not self.cfg.allow_target_overlap:
            valid &= ~_targets_overlap(t_top, t_left, t_hw)
        return kept, valid

    def _finish(
        self,
        corners: tuple[torch.Tensor, ...],
        kept: torch.Tensor,
        grid: tuple[int, int],
        t_hw: tuple[int, int],
        generator: torch.Generator,
    ) -> MaskSet:
        size = int(kept.sum(dim=1).min())
        if self.cfg.reference_sampling:
            context = raster_first(kept, size)
        else:
            context = random_subset(kept, size, generator)
        targets = block_indices(corners[0], corners[1], *t_hw, grid[1])
        return MaskSet(context=context, targets=targets)


def _targets_overlap(tops: torch.Tensor, lefts: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Whether any two equal-size blocks of an image overlap: ``[B, M]`` corners -> ``[B]``."""
    rows_hit = (tops[:, :, None] - tops[:, None, :]).abs() < hw[0]
    cols_hit = (lefts[:, :, None] - lefts[:, None, :]).abs() < hw[1]
    hit = rows_hit & cols_hit
    hit &= ~torch.eye(tops.shape[1], dtype=torch.bool)
    return hit.flatten(1).any(dim=1)


# ------------------------------------------------------------------------- random


class RandomMasker:
    """A uniformly random ``target_ratio`` of the tokens per image is the target (M = 1).

    The context is the complement; both are sorted. The target holds ``round(ratio * N)`` tokens;
    with ``max_target_ratio`` the ratio is drawn once per batch, uniformly in the range.

    >>> RandomMasker()(2, (5, 5), torch.Generator().manual_seed(0)).targets.shape
    torch.Size([2, 1, 15])
    """

    def __init__(self, cfg: RandomConfig = RandomConfig()) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        gh, gw = grid2d(grid, "random")
        n = gh * gw
        lo, hi = self.cfg.target_ratio, self.cfg.max_target_ratio
        for ratio in (lo, hi) if hi is not None else (lo,):
            count = round_half_up(ratio * n)
            if not 0 < count < n:
                raise MaskingError(
                    f"the random masker's target ratio {ratio} gives {count} of {n} tokens "
                    f"on grid {gh}x{gw}; both the target and the context need at least one token."
                )
        ratio = lo if hi is None else lo + (hi - lo) * torch.rand(1, generator=generator).item()
        num_targets = round_half_up(ratio * n)
        order = torch.rand(batch_size, n, generator=generator).argsort(dim=1)
        targets = order[:, :num_targets].sort(dim=1).values
        context = order[:, num_targets:].sort(dim=1).values
        return MaskSet(context=context, targets=targets[:, None, :])
