"""Helpers for masker authors: validators, 2-D block geometry and random subsets of index sets.

The built-in maskers of every modality use these (the 2-D multi-block and random maskers of
``jepa_vit.masks``, the image Table-6 maskers, the video 3-D multi-block masker, the audio
time-frequency curriculum); third-party maskers may too.
Token grids are row-major, index tensors ``torch.long``; randomness comes from a
``torch.Generator`` passed in, never the global RNG.

Example::

    h, w = block_size(scale=0.2, aspect=1.0, grid=(14, 14), reference=False)      # (6, 6)
    keep = block_masks(tops, lefts, h, w, (14, 14))                                # [B, 196] bool
    context = random_subset(~keep, size=120, generator=g)                          # [B, 120] sorted
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import attrs
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet

# A relative nudge to evaluate block sizes just either side of a rounding breakpoint.
EPS = 1e-9
# How many block sizes may fail placement (each after ``max_tries`` position draws) before a
# masker gives up with a MaskingError.
MAX_SIZE_ROUNDS = 3

# ---------------------------------------------------------------------- validators


def scale_range(_inst: Any, attr: attrs.Attribute, value: tuple[float, float]) -> None:
    lo, hi = value
    if not (0.0 < lo <= 1.0 and 0.0 < hi <= 1.0) or lo > hi:
        raise ValueError(f"{attr.name} must be (lo, hi) with 0 < lo <= hi <= 1, got {value!r}")


def aspect_range(_inst: Any, attr: attrs.Attribute, value: tuple[float, float]) -> None:
    lo, hi = value
    if not (lo > 0.0 and hi > 0.0) or lo > hi or not math.isfinite(hi):
        raise ValueError(f"{attr.name} must be (lo, hi) with 0 < lo <= hi, got {value!r}")


def at_least(minimum: int) -> Any:
    def check(_inst: Any, attr: attrs.Attribute, value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attr.name} must be >= {minimum}, got {value!r}")

    return check


def open_unit(_inst: Any, attr: attrs.Attribute, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{attr.name} must be in (0, 1), got {value!r}")


def unit(_inst: Any, attr: attrs.Attribute, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{attr.name} must be in (0, 1], got {value!r}")


def pair(value: Any) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"expected a (lo, hi) pair, got {value!r}")
    return (float(value[0]), float(value[1]))


def grid2d(grid: tuple[int, ...], name: str) -> tuple[int, int]:
    if len(grid) != 2 or any(int(d) < 1 for d in grid):
        raise MaskingError(f"the {name} masker needs a 2-D token grid (gh, gw) of positive sizes, got {tuple(grid)}.")
    return int(grid[0]), int(grid[1])


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def block_size(scale: float, aspect: float, grid: tuple[int, int], reference: bool) -> tuple[int, int]:
    """Block ``(h, w)`` covering ``scale`` of the grid with ``h / w ~ aspect``, clamped to the grid.

    The reference behaviour keeps ``h < gh`` and ``w < gw`` (its exclusive top/left draw needs it).

    >>> block_size(0.2, 1.0, (14, 14), False)
    (6, 6)
    """
    gh, gw = grid
    n = gh * gw
    h = round_half_up(math.sqrt(scale * n * aspect))
    w = round_half_up(math.sqrt(scale * n / aspect))
    cap = 1 if reference else 0
    return min(max(h, 1), gh - cap), min(max(w, 1), gw - cap)


@functools.lru_cache(maxsize=256)
def area_range(
    scale: tuple[float, float], aspect: tuple[float, float], grid: tuple[int, int], reference: bool
) -> tuple[int, int]:
    """Exact (min, max) block area over every ``(scale, aspect)`` in the ranges.

    h and w grow with scale, so the extremes sit at the scale ends; along the aspect axis both are
    piecewise constant, so evaluating each side of every rounding breakpoint covers every piece.

    >>> area_range((0.15, 0.2), (0.75, 1.5), (4, 4), False)
    (2, 4)
    """
    n = grid[0] * grid[1]
    areas = []
    for s in scale:
        points = {aspect[0], aspect[1]}
        for k in range(max(grid) + 1):
            edge = (k + 0.5) ** 2
            for ar in (edge / (s * n), s * n / edge):
                points.update((ar * (1 - EPS), ar * (1 + EPS)))
        for ar in points:
            if aspect[0] <= ar <= aspect[1]:
                h, w = block_size(s, ar, grid, reference)
                areas.append(h * w)
    return min(areas), max(areas)


def block_masks(tops: torch.Tensor, lefts: torch.Tensor, h: int, w: int, grid: tuple[int, int]) -> torch.Tensor:
    """Boolean masks ``[..., gh * gw]`` of ``h x w`` blocks at ``tops`` / ``lefts`` ``[...]``."""
    rows = torch.arange(grid[0])
    cols = torch.arange(grid[1])
    in_rows = (rows >= tops[..., None]) & (rows < tops[..., None] + h)
    in_cols = (cols >= lefts[..., None]) & (cols < lefts[..., None] + w)
    return (in_rows[..., :, None] & in_cols[..., None, :]).flatten(-2)


def block_indices(tops: torch.Tensor, lefts: torch.Tensor, h: int, w: int, gw: int) -> torch.Tensor:
    """Sorted row-major indices ``[..., h * w]`` of ``h x w`` blocks at ``tops`` / ``lefts``."""
    rows = tops[..., None] + torch.arange(h)
    cols = lefts[..., None] + torch.arange(w)
    return (rows[..., :, None] * gw + cols[..., None, :]).flatten(-2)


def random_subset(mask: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` indices drawn uniformly without replacement from each row's True entries, sorted.

    ``mask [..., N]`` (bool); every row must hold at least ``size`` True entries. The rule: one
    uniform key per entry, keep the ``size`` smallest keys among the True entries. One
    ``torch.rand`` of ``mask``'s shape is drawn on every call, so callers' random streams do not
    depend on the mask. When most of a row is kept it finds the dropped entries instead, and it
    orders the result with ``nonzero`` rather than a sort.

    >>> random_subset(torch.tensor([[True, False, True, True]]), 2, torch.Generator().manual_seed(0)).shape
    torch.Size([1, 2])
    """
    lead, n = mask.shape[:-1], mask.shape[-1]
    flat = mask.reshape(-1, n)  # [R, N]
    keys = torch.rand(flat.shape, generator=generator)
    keys.masked_fill_(~flat, 2.0)  # entries outside the mask sort last
    if size <= n - size:
        picked = keys.topk(size, dim=1, largest=False, sorted=False).indices  # [R, size]
        keep = torch.zeros_like(flat).scatter_(1, picked, True)
    else:
        dropped = keys.topk(n - size, dim=1, largest=True, sorted=False).indices  # [R, n - size]
        keep = torch.ones_like(flat).scatter_(1, dropped, False)
    # exactly `size` True per row; nonzero lists them row by row in ascending order (cheaper than a sort)
    return keep.nonzero()[:, 1].view(*lead, size)


def raster_first(mask: torch.Tensor, size: int) -> torch.Tensor:
    """The first ``size`` True indices of each row of ``mask [B, N]`` in raster order."""
    return mask.to(torch.uint8).argsort(dim=-1, descending=True, stable=True)[..., :size]


def keep_valid(old: torch.Tensor, new: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    mask = valid.view(-1, *([1] * (old.dim() - 1)))
    return torch.where(mask, old, new)


def random_masks(batch_size: int, grid: Sequence[int], generator: torch.Generator, num_targets: int = 2) -> MaskSet:
    """Valid masks on any ``grid`` without a masker: ``num_targets`` disjoint random target sets
    and the remaining tokens as context (sorted); used to check predictors and target providers.

    >>> random_masks(2, (4, 4), torch.Generator().manual_seed(0)).targets.shape
    torch.Size([2, 2, 4])
    """
    n = math.prod(int(g) for g in grid)
    if n < num_targets + 1:
        raise ValueError(f"grid {tuple(grid)} has {n} tokens, too few for {num_targets} targets and a context")
    nt = max(1, n // (2 * num_targets))
    perm = torch.stack([torch.randperm(n, generator=generator) for _ in range(batch_size)])
    targets = perm[:, : num_targets * nt].reshape(batch_size, num_targets, nt)
    context = perm[:, num_targets * nt :].sort(dim=1).values
    return MaskSet(context=context, targets=targets)
