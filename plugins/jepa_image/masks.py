"""Image maskers: I-JEPA multi-block masking and the paper's Table-6 alternatives.

Every masker is a picklable object built from its frozen config record and called as
``masker(batch_size, grid, generator) -> MaskSet`` on a 2-D token grid ``(gh, gw)``; token
indices are row-major (``row * gw + col``). All randomness comes from ``generator``. The
multi-block and random maskers, shared with the audio plugin, live in :mod:`jepa_vit.masks`
(re-exported here); the rasterized and block maskers are the image plugin's own.

Example::

    masker = RasterizedMasker(RasterizedConfig())
    masks = masker(8, (14, 14), torch.Generator().manual_seed(0))
    masks.context.shape, masks.targets.shape  # ([8, 49], [8, 3, 49]): one quadrant is the context
"""

from __future__ import annotations

import math

import attrs
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.masking import (
    area_range,
    aspect_range,
    at_least,
    block_indices,
    block_masks,
    block_size,
    grid2d,
    pair,
    random_subset,
    raster_first,
    unit,
)
from jepa_core.specs import Example, MaskerSpec
from jepa_vit.masks import MultiBlockConfig, MultiBlockMasker, RandomConfig, RandomMasker

__all__ = [
    "BlockConfig",
    "BlockMasker",
    "MultiBlockConfig",
    "MultiBlockMasker",
    "RandomConfig",
    "RandomMasker",
    "RasterizedConfig",
    "RasterizedMasker",
    "masker_specs",
]

# ------------------------------------------------------------------------- configs


@attrs.frozen
class RasterizedConfig:
    """Options of :class:`RasterizedMasker` (none: the four quadrants are fixed)."""


@attrs.frozen
class BlockConfig:
    """Options of :class:`BlockMasker`: one target block of ``target_scale``, aspect ratio in range.

    >>> BlockConfig().target_scale
    0.6
    """

    target_scale: float = attrs.field(default=0.6, validator=unit)
    aspect_ratio: tuple[float, float] = attrs.field(default=(0.75, 1.5), converter=pair, validator=aspect_range)
    max_tries: int = attrs.field(default=200, validator=at_least(1))


# -------------------------------------------------------------------- Table 6


class RasterizedMasker:
    """Quadrant masking: per image one random quadrant is the context, the other 3 the targets.

    Quadrants split the grid at ``gh // 2`` and ``gw // 2``. On odd grids the quadrants differ in
    size, so every target set is cut to the smallest quadrant's size (a uniformly random subset)
    and context sets to the batch's shortest one (likewise random); indices come back sorted.
    Targets are the three non-context quadrants in raster order of the quadrants.

    >>> RasterizedMasker()(2, (4, 4), torch.Generator().manual_seed(0)).targets.shape
    torch.Size([2, 3, 4])
    """

    # Row q lists the three target quadrants when quadrant q is the context.
    _OTHERS = torch.tensor([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])

    def __init__(self, cfg: RasterizedConfig = RasterizedConfig()) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        gh, gw = grid2d(grid, "rasterized")
        if gh < 2 or gw < 2:
            raise MaskingError(f"the rasterized masker needs a grid of at least 2x2 for 4 quadrants, got {gh}x{gw}.")
        rows = (torch.arange(gh) >= gh // 2).long()
        cols = (torch.arange(gw) >= gw // 2).long()
        quadrant = (rows[:, None] * 2 + cols[None, :]).flatten()  # [N], 0..3 in raster order
        chosen = torch.randint(0, 4, (batch_size,), generator=generator)
        context_mask = quadrant == chosen[:, None]
        target_mask = quadrant == self._OTHERS[chosen][..., None]  # [B, 3, N]
        smallest = (gh // 2) * (gw // 2)
        targets = random_subset(target_mask, smallest, generator)
        context = random_subset(context_mask, int(context_mask.sum(dim=1).min()), generator)
        return MaskSet(context=context, targets=targets)


class BlockMasker:
    """One target block (M = 1) of ``target_scale`` of the grid; the context is its complement.

    The block size is drawn once per batch (aspect ratio log-uniform in ``aspect_ratio``, as in
    :class:`MultiBlockMasker`), its position per image over every valid corner; a size covering
    the whole grid is redrawn (up to ``max_tries``), so the context is never empty.

    >>> BlockMasker()(2, (10, 10), torch.Generator().manual_seed(0)).targets.shape[:2]
    torch.Size([2, 1])
    """

    def __init__(self, cfg: BlockConfig = BlockConfig()) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        gh, gw = grid2d(grid, "block")
        scale = (self.cfg.target_scale, self.cfg.target_scale)
        if area_range(scale, self.cfg.aspect_ratio, (gh, gw), False)[0] >= gh * gw:
            raise MaskingError(
                f"the block masker's target_scale={self.cfg.target_scale} covers the whole {gh}x{gw} grid, "
                "leaving no context; lower masker.target_scale."
            )
        h, w = self._size((gh, gw), generator)
        tops = torch.randint(0, gh - h + 1, (batch_size,), generator=generator)
        lefts = torch.randint(0, gw - w + 1, (batch_size,), generator=generator)
        target_mask = block_masks(tops, lefts, h, w, (gh, gw))
        context = raster_first(~target_mask, gh * gw - h * w).sort(dim=-1).values
        targets = block_indices(tops, lefts, h, w, gw)[:, None, :]
        return MaskSet(context=context, targets=targets)

    def _size(self, grid: tuple[int, int], generator: torch.Generator) -> tuple[int, int]:
        log_lo, log_hi = (math.log(a) for a in self.cfg.aspect_ratio)
        for _ in range(self.cfg.max_tries):
            v = torch.rand(1, generator=generator).item()
            h, w = block_size(self.cfg.target_scale, math.exp(log_lo + v * (log_hi - log_lo)), grid, False)
            if h * w < grid[0] * grid[1]:
                return h, w
        raise MaskingError(
            f"the block masker drew only whole-grid blocks on grid {grid[0]}x{grid[1]} with "
            f"target_scale={self.cfg.target_scale}; lower masker.target_scale."
        )


# ----------------------------------------------------------------------- specs


def masker_specs() -> list[MaskerSpec]:
    """The image plugin's maskers, for its ``jepa_maskers`` hook.

    >>> [s.name for s in masker_specs()]
    ['multiblock', 'rasterized', 'block', 'random']
    """
    return [
        MaskerSpec(
            name="multiblock",
            config_type=MultiBlockConfig,
            build=MultiBlockMasker,
            description="I-JEPA multi-block masking: M target blocks, one context block minus the targets",
            example=lambda: Example(options=MultiBlockConfig(), grid=(14, 14)),
        ),
        MaskerSpec(
            name="rasterized",
            config_type=RasterizedConfig,
            build=RasterizedMasker,
            description="one random quadrant is the context, the other three are targets (Table 6)",
            example=lambda: Example(options=RasterizedConfig(), grid=(5, 6)),
        ),
        MaskerSpec(
            name="block",
            config_type=BlockConfig,
            build=BlockMasker,
            description="one target block of scale 0.6, the context is its complement (Table 6)",
            example=lambda: Example(options=BlockConfig(), grid=(10, 10)),
        ),
        MaskerSpec(
            name="random",
            config_type=RandomConfig,
            build=RandomMasker,
            description="a random 60% of the tokens is the target, the rest the context (Table 6)",
            example=lambda: Example(options=RandomConfig(), grid=(5, 5)),
        ),
    ]
