"""Video masking: V-JEPA's 3-D multi-block masker on a ``(t, gh, gw)`` token grid.

Tokens are flattened row-major, so token ``(ti, hi, wi)`` has index ``(ti * gh + hi) * gw + wi``.
The masker follows the V-JEPA recipe (Bardes et al., 2024): one block generator per *mask
config*; a config places ``num_blocks`` (possibly overlapping) 3-D blocks per clip, its TARGET is
the union of those blocks and its CONTEXT the complement of the union. The default configs are
V-JEPA's short-range mask (8 blocks of spatial scale 0.15) and long-range mask (2 blocks of
spatial scale 0.7), both spanning the whole clip in time (temporal scale 1.0), so the blocks are
spatial "tubes". The masker returns one :class:`~jepa_core.interfaces.MaskSet` per config, in
config order, each with ``M = 1`` target set (the union).

Example::

    masker = MultiBlock3DMasker(MultiBlock3DConfig())
    short, long = masker(8, (8, 14, 14), torch.Generator().manual_seed(0))
    short.context.shape, short.targets.shape  # ([8, Nc_0], [8, 1, Nt_0])
    long.context.shape, long.targets.shape    # ([8, Nc_1], [8, 1, Nt_1]), Nt_1 > Nt_0 typically

The config is kept flat (parallel tuples, one entry per mask config) because the run-config
system (:mod:`jepa_core.config`) stores plain values and tuples, not nested records; use
:meth:`MultiBlock3DConfig.from_mask_configs` / :meth:`MultiBlock3DConfig.mask_configs` to work
with one :class:`MaskConfig3D` record per config.
"""

from __future__ import annotations

import math
import operator
import types
from typing import Any

import attrs
import torch

from jepa_core.errors import MaskingError
from jepa_core.interfaces import MaskSet
from jepa_core.masking import (
    MAX_SIZE_ROUNDS,
    area_range,
    aspect_range,
    at_least,
    block_size,
    pair,
    random_subset,
    round_half_up,
    scale_range,
)
from jepa_core.specs import Example, MaskerSpec

# ---------------------------------------------------------------------- validators


def _pairs(value: Any) -> tuple[tuple[float, float], ...]:
    """``[[lo, hi], ...]`` (e.g. from JSON) -> a tuple of float pairs; one bare pair is NOT accepted."""
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"expected a tuple of (lo, hi) pairs, one per mask config, got {value!r}")
    return tuple(pair(v) for v in value)


def _ints(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"num_blocks must be a tuple of ints, one per mask config, got {value!r}")
    return tuple(value)


def _each(check: Any) -> Any:
    """Run an item validator on every entry of a per-config tuple, naming the entry (``field[i]``)."""

    def run(inst: Any, attr: attrs.Attribute, value: tuple[Any, ...]) -> None:
        for i, item in enumerate(value):
            check(inst, types.SimpleNamespace(name=f"{attr.name}[{i}]"), item)

    return run


# ------------------------------------------------------------------------- configs


@attrs.frozen
class MaskConfig3D:
    """One mask config: ``num_blocks`` blocks per clip, their union is the target.

    ``spatial_scale`` is the (lo, hi) range of one block's share of the ``gh * gw`` frame area,
    ``temporal_scale`` the range of its share of the ``t`` frames, ``aspect`` the range of its
    ``h / w`` ratio.

    >>> MaskConfig3D(num_blocks=2, spatial_scale=(0.7, 0.7)).temporal_scale
    (1.0, 1.0)
    """

    num_blocks: int = attrs.field(default=8, validator=at_least(1))
    spatial_scale: tuple[float, float] = attrs.field(default=(0.15, 0.15), converter=pair, validator=scale_range)
    temporal_scale: tuple[float, float] = attrs.field(default=(1.0, 1.0), converter=pair, validator=scale_range)
    aspect: tuple[float, float] = attrs.field(default=(0.75, 1.5), converter=pair, validator=aspect_range)


@attrs.frozen
class MultiBlock3DConfig:
    """Options of :class:`MultiBlock3DMasker` (defaults = the V-JEPA short- + long-range recipe).

    Entry ``k`` of ``num_blocks``, ``spatial_scale``, ``temporal_scale`` and ``aspect`` together
    form mask config ``k`` (see :class:`MaskConfig3D`); all four tuples must have the same length.
    ``min_keep`` is the fewest context tokens a clip may keep (clips below it are redrawn);
    ``max_tries`` bounds the position redraws per block size.

    >>> MultiBlock3DConfig().mask_configs()[1]
    MaskConfig3D(num_blocks=2, spatial_scale=(0.7, 0.7), temporal_scale=(1.0, 1.0), aspect=(0.75, 1.5))
    """

    num_blocks: tuple[int, ...] = attrs.field(default=(8, 2), converter=_ints, validator=_each(at_least(1)))
    spatial_scale: tuple[tuple[float, float], ...] = attrs.field(
        default=((0.15, 0.15), (0.7, 0.7)), converter=_pairs, validator=_each(scale_range)
    )
    temporal_scale: tuple[tuple[float, float], ...] = attrs.field(
        default=((1.0, 1.0), (1.0, 1.0)), converter=_pairs, validator=_each(scale_range)
    )
    aspect: tuple[tuple[float, float], ...] = attrs.field(
        default=((0.75, 1.5), (0.75, 1.5)), converter=_pairs, validator=_each(aspect_range)
    )
    min_keep: int = attrs.field(default=10, validator=at_least(1))
    max_tries: int = attrs.field(default=200, validator=at_least(1))

    def __attrs_post_init__(self) -> None:
        lengths = (len(self.num_blocks), len(self.spatial_scale), len(self.temporal_scale), len(self.aspect))
        if lengths[0] < 1 or len(set(lengths)) != 1:
            raise ValueError(
                "num_blocks, spatial_scale, temporal_scale and aspect must each have one entry per mask config "
                f"(equal lengths, at least 1), got lengths {lengths}"
            )

    def mask_configs(self) -> tuple[MaskConfig3D, ...]:
        """One :class:`MaskConfig3D` per mask config, in order."""
        return tuple(
            MaskConfig3D(n, s, t, a)
            for n, s, t, a in zip(self.num_blocks, self.spatial_scale, self.temporal_scale, self.aspect, strict=True)
        )

    @classmethod
    def from_mask_configs(cls, *configs: MaskConfig3D, min_keep: int = 10, max_tries: int = 200) -> MultiBlock3DConfig:
        """The flat config of ``configs`` (in order).

        >>> MultiBlock3DConfig.from_mask_configs(MaskConfig3D(num_blocks=1)).num_blocks
        (1,)
        """
        return cls(
            num_blocks=tuple(c.num_blocks for c in configs),
            spatial_scale=tuple(c.spatial_scale for c in configs),
            temporal_scale=tuple(c.temporal_scale for c in configs),
            aspect=tuple(c.aspect for c in configs),
            min_keep=min_keep,
            max_tries=max_tries,
        )


# ------------------------------------------------------------------- helpers


def _grid3d(grid: tuple[int, ...]) -> tuple[int, int, int]:
    """``(t, gh, gw)``; a 2-D grid ``(gh, gw)`` is taken as a single frame (``t = 1``)."""
    try:
        dims = tuple(operator.index(d) for d in grid)
    except TypeError:
        dims = ()
    if len(dims) == 2:
        dims = (1, *dims)
    if len(dims) != 3 or min(dims) < 1:
        raise MaskingError(
            "the multiblock3d masker needs a 3-D token grid (t, gh, gw) of positive ints (a 2-D grid (gh, gw) "
            f"is taken as t = 1), got {grid!r}."
        )
    return dims  # type: ignore[return-value]


def _frames(scale: float, t: int) -> int:
    """Block length in frames: ``max(1, round(scale * t))`` (at most ``t`` as ``scale <= 1``)."""
    return min(max(1, round_half_up(scale * t)), t)


def _union_masks(
    starts: tuple[torch.Tensor, torch.Tensor, torch.Tensor], size: tuple[int, int, int], grid: tuple[int, int, int]
) -> torch.Tensor:
    """Union of ``t x h x w`` blocks at corners ``starts`` (each ``[B, K]``) -> bool ``[B, t * gh * gw]``."""
    axes = []
    for start, length, extent in zip(starts, size, grid, strict=True):
        pos = torch.arange(extent)
        axes.append((pos >= start[..., None]) & (pos < start[..., None] + length))  # [B, K, extent]
    in_t, in_h, in_w = axes
    spatial = (in_h[..., :, None] & in_w[..., None, :]).flatten(2)  # [B, K, gh * gw]
    # Token (ti, p) is covered iff some block k holds frame ti and spatial position p: a 0/1 matmul.
    hits = torch.bmm(in_t.transpose(1, 2).float(), spatial.float())  # [B, t, gh * gw], counts <= K
    return (hits > 0.5).flatten(1)  # [B, N] bool


# ---------------------------------------------------------------------- masker


class MultiBlock3DMasker:
    """V-JEPA 3-D multi-block masking: per mask config, the union of its blocks is the target.

    For each mask config, in order, one block size ``(t, h, w)`` is drawn per batch (shared by
    all clips): spatial scale ``s ~ U(spatial_scale)``, temporal scale ``r ~ U(temporal_scale)``
    and, from an independent number, ``log(aspect) ~ U(log lo, log hi)`` (log-uniform, so h/w and
    w/h are treated alike); ``h = round(sqrt(s * gh * gw * aspect))``,
    ``w = round(sqrt(s * gh * gw / aspect))`` (half up, clamped to ``[1, gh]`` / ``[1, gw]``) and
    ``t = max(1, round(r * T))``. Per clip, ``num_blocks`` block corners are drawn uniformly over
    every valid position (blocks may overlap). TARGET = union of the blocks, CONTEXT = every other
    token.

    A clip whose context keeps fewer than ``min_keep`` tokens gets new positions (up to
    ``max_tries`` times); then the batch gets a new size (sizes that cannot leave ``min_keep``
    tokens are redrawn at once); after a few sizes fail a :class:`MaskingError` names the grid
    and the config. A config that can never leave ``min_keep`` tokens fails before any drawing.

    Context and target sets are cut to the batch's shortest one by keeping a uniformly random
    subset of each clip's tokens (sorted ascending), so clips with a larger union lose random
    target tokens, not the last ones in raster order.

    Returns a tuple of :class:`MaskSet`, one per config in config order (a 1-tuple for one
    config): ``context [B, Nc_k]``, ``targets [B, 1, Nt_k]`` (long). A 2-D grid ``(gh, gw)``
    is treated as one frame. All randomness comes from ``generator``.

    >>> sets = MultiBlock3DMasker(MultiBlock3DConfig(min_keep=2))(2, (2, 4, 4), torch.Generator().manual_seed(0))
    >>> len(sets), sets[0].targets.shape[:2]
    (2, torch.Size([2, 1]))
    """

    def __init__(self, cfg: MultiBlock3DConfig = MultiBlock3DConfig()) -> None:
        self.cfg = cfg

    @property
    def num_mask_sets(self) -> int:
        """Number of mask sets per batch (one per mask config; a predictor learns one mask token each)."""
        return len(self.cfg.num_blocks)

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> tuple[MaskSet, ...]:
        sets = []
        for union in self.target_masks(batch_size, grid, generator):  # [B, N] each
            context_mask = ~union
            context = random_subset(context_mask, int(context_mask.sum(dim=1).min()), generator)  # [B, Nc]
            targets = random_subset(union, int(union.sum(dim=1).min()), generator)  # [B, Nt]
            sets.append(MaskSet(context=context, targets=targets[:, None, :]))  # targets [B, 1, Nt]
        return tuple(sets)

    def target_masks(
        self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator
    ) -> tuple[torch.Tensor, ...]:
        """The untruncated target unions, bool ``[B, N]`` per config (the context is the complement).

        ``__call__`` draws these first (consuming ``generator`` identically), then truncates.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise MaskingError(f"the multiblock3d masker needs batch_size >= 1, got {batch_size!r}.")
        dims = _grid3d(grid)
        configs = self.cfg.mask_configs()
        for k, mc in enumerate(configs):
            self._check_feasible(k, mc, dims)
        return tuple(self._union(k, mc, batch_size, dims, generator) for k, mc in enumerate(configs))

    # ------------------------------------------------------------- feasibility

    def _fail(self, k: int, mc: MaskConfig3D, grid: tuple[int, int, int], reason: str) -> MaskingError:
        return MaskingError(
            f"the multiblock3d masker cannot keep min_keep={self.cfg.min_keep} context tokens on grid {grid} "
            f"with mask config {k} (num_blocks={mc.num_blocks}, spatial_scale={mc.spatial_scale}, "
            f"temporal_scale={mc.temporal_scale}, aspect={mc.aspect}): {reason}; lower masker.min_keep or "
            "shrink that config's scales."
        )

    def _check_feasible(self, k: int, mc: MaskConfig3D, grid: tuple[int, int, int]) -> None:
        # Blocks may overlap, so the smallest union is ONE block (all blocks at the same corner).
        t, gh, gw = grid
        area = area_range(mc.spatial_scale, mc.aspect, (gh, gw), False)[0]
        volume = _frames(mc.temporal_scale[0], t) * area
        if t * gh * gw - volume < self.cfg.min_keep:
            raise self._fail(k, mc, grid, f"even the smallest block ({volume} tokens) leaves fewer of {t * gh * gw}")

    # ------------------------------------------------------------------ drawing

    def _size(self, mc: MaskConfig3D, grid: tuple[int, int, int], generator: torch.Generator) -> tuple[int, int, int]:
        u_s, u_a, u_t = torch.rand(3, generator=generator).tolist()
        s = mc.spatial_scale[0] + u_s * (mc.spatial_scale[1] - mc.spatial_scale[0])
        log_lo, log_hi = math.log(mc.aspect[0]), math.log(mc.aspect[1])
        ar = math.exp(log_lo + u_a * (log_hi - log_lo))
        r = mc.temporal_scale[0] + u_t * (mc.temporal_scale[1] - mc.temporal_scale[0])
        h, w = block_size(s, ar, grid[1:], False)
        return _frames(r, grid[0]), h, w

    def _corners(
        self,
        batch_size: int,
        num_blocks: int,
        size: tuple[int, int, int],
        grid: tuple[int, int, int],
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Block corners ``(t0, top, left)``, each ``[B, K]``, uniform over every valid (inclusive) position."""
        shape = (batch_size, num_blocks)
        return tuple(  # type: ignore[return-value]
            torch.randint(0, g - s + 1, shape, generator=generator) for s, g in zip(size, grid, strict=True)
        )

    def _union(
        self, k: int, mc: MaskConfig3D, batch_size: int, grid: tuple[int, int, int], generator: torch.Generator
    ) -> torch.Tensor:
        n = math.prod(grid)
        for _ in range(MAX_SIZE_ROUNDS):
            # A size that cannot leave min_keep tokens even with all blocks stacked is redrawn at once.
            for _ in range(self.cfg.max_tries):
                size = self._size(mc, grid, generator)
                if n - math.prod(size) >= self.cfg.min_keep:
                    break
            else:
                raise self._fail(
                    k, mc, grid, f"{self.cfg.max_tries} block sizes in a row were too large to leave enough tokens"
                )
            union = self._place(mc.num_blocks, batch_size, size, grid, generator)
            if union is not None:
                return union
        raise self._fail(
            k,
            mc,
            grid,
            f"{MAX_SIZE_ROUNDS} block sizes each failed {self.cfg.max_tries} position draws "
            "(the blocks cover too much of the grid)",
        )

    def _place(
        self,
        num_blocks: int,
        batch_size: int,
        size: tuple[int, int, int],
        grid: tuple[int, int, int],
        generator: torch.Generator,
    ) -> torch.Tensor | None:
        """Target unions ``[B, N]`` with every clip keeping ``min_keep`` context tokens; None on failure.

        Clips that fail get fresh positions; the others keep theirs.
        """
        union = _union_masks(self._corners(batch_size, num_blocks, size, grid, generator), size, grid)  # [B, N]
        for _ in range(self.cfg.max_tries):
            valid = (~union).sum(dim=1) >= self.cfg.min_keep  # [B]
            if bool(valid.all()):
                return union
            fresh = _union_masks(self._corners(batch_size, num_blocks, size, grid, generator), size, grid)
            union = torch.where(valid[:, None], union, fresh)
        return None


# ----------------------------------------------------------------------- specs


def masker_specs() -> list[MaskerSpec]:
    """The video plugin's maskers, for its ``jepa_maskers`` hook.

    >>> [s.name for s in masker_specs()]
    ['multiblock3d']
    """
    return [
        MaskerSpec(
            name="multiblock3d",
            config_type=MultiBlock3DConfig,
            build=MultiBlock3DMasker,
            description=(
                "V-JEPA 3-D multi-block masking: per mask config (default short-range 8 x 0.15 and long-range "
                "2 x 0.7 tubes) the union of its blocks is the target, the rest the context; one mask set per config"
            ),
            example=lambda: Example(options=MultiBlock3DConfig(min_keep=2), grid=(2, 4, 4)),
        ),
    ]
