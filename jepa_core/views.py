"""Token-dropping views for multi-view objectives, over any token grid (core masker ``token_views``).

LeVJEPA makes a sample's views by keeping random subsets of its tokens instead of cropping
pixels, so the same objective works for images, video and spectrograms. Each view of each sample
keeps its own uniformly drawn subset: ``global_views`` views keep ``global_keep`` of the tokens,
``local_views`` views keep ``local_keep`` (at least one token each)::

    masker = TokenViewsMasker(TokenViewsConfig(global_views=2, local_views=2))
    views = masker(64, (8, 14, 14), torch.Generator().manual_seed(0))
    [k.shape for k in views.keep]        # [64, 784] twice, then [64, 392] twice

``layout="band"`` keeps instead a contiguous band of whole slices along the grid's first axis
(time for video, rows for images), ``round(keep * grid[0])`` slices (at least one) at a uniformly
drawn start per view and sample: a temporal crop on video, so the views of a moving object
differ in where it is and agree on how it moves::

    masker = TokenViewsMasker(TokenViewsConfig(layout="band"))
    [k.shape for k in masker(64, (4, 4, 4), torch.Generator().manual_seed(0)).keep]
    # [64, 32] twice (2 of 4 time slices), then [64, 16] twice (1 slice)

``layout="block"`` keeps one rectangle over the grid's last two axes (height and width; the
whole of any leading axis, so a spatial tube on video), as close to square as the grid allows
and as close to ``keep`` of those tokens as a rectangle can be, at a uniformly drawn position per
view and sample: token-level crops, local views seeing one region of what the global views see::

    masker = TokenViewsMasker(TokenViewsConfig(layout="block"))
    [k.shape for k in masker(64, (4, 4), torch.Generator().manual_seed(0)).keep]
    # [64, 9] twice (3 x 3 of 4 x 4 tokens for keep 0.6), then [64, 4] twice (2 x 2)
"""

from __future__ import annotations

import math

import attrs
import torch

from jepa_core.interfaces import TokenViews
from jepa_core.masking import random_subset
from jepa_core.validators import non_negative, positive


def _keep_fraction(_inst: object, attr: attrs.Attribute, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{attr.name} must be in (0, 1], got {value!r}")


LAYOUTS = ("scattered", "band", "block")


def _layout(_inst: object, attr: attrs.Attribute, value: str) -> None:
    if value not in LAYOUTS:
        raise ValueError(f"{attr.name} must be one of {', '.join(LAYOUTS)}, got {value!r}")


def _at_least_two_views(inst: TokenViewsConfig, _attr: attrs.Attribute, _value: int) -> None:
    if inst.global_views + inst.local_views < 2:
        raise ValueError(
            f"a multi-view objective needs at least 2 views, got global_views={inst.global_views} + "
            f"local_views={inst.local_views}"
        )


@attrs.frozen(kw_only=True)
class TokenViewsConfig:
    """How many global and local views, the fraction of tokens each keeps, and how the kept
    tokens lie on the grid (``scattered`` anywhere, one ``band`` of first-axis slices, or one
    ``block`` over the last two axes)."""

    global_views: int = attrs.field(default=2, validator=positive)
    local_views: int = attrs.field(default=2, validator=[non_negative, _at_least_two_views])
    global_keep: float = attrs.field(default=0.6, validator=_keep_fraction)
    local_keep: float = attrs.field(default=0.25, validator=_keep_fraction)
    layout: str = attrs.field(default="scattered", validator=_layout)


class TokenViewsMasker:
    """See the module docstring; returns :class:`~jepa_core.interfaces.TokenViews`."""

    def __init__(self, cfg: TokenViewsConfig = TokenViewsConfig()) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> TokenViews:
        fractions = [self.cfg.global_keep] * self.cfg.global_views + [self.cfg.local_keep] * self.cfg.local_views
        if self.cfg.layout == "band":
            keep = tuple(_band(batch_size, grid, f, generator) for f in fractions)
        elif self.cfg.layout == "block":
            keep = tuple(_block(batch_size, grid, f, generator) for f in fractions)
        else:
            n = math.prod(grid)
            everything = torch.ones(batch_size, n, dtype=torch.bool)
            keep = tuple(random_subset(everything, _count(f, n), generator) for f in fractions)  # each [B, size]
        return TokenViews(keep=keep, num_global=self.cfg.global_views)


def _count(fraction: float, n: int) -> int:
    return max(1, min(n, round(fraction * n)))


def _band(batch_size: int, grid: tuple[int, ...], fraction: float, generator: torch.Generator) -> torch.Tensor:
    """``[B, slices * per_slice]`` sorted indices of a contiguous band of first-axis slices."""
    slices, per_slice = _count(fraction, grid[0]), math.prod(grid[1:])
    start = torch.randint(0, grid[0] - slices + 1, (batch_size, 1), generator=generator)  # [B, 1]
    return start * per_slice + torch.arange(slices * per_slice)


def _block(batch_size: int, grid: tuple[int, ...], fraction: float, generator: torch.Generator) -> torch.Tensor:
    """``[B, lead * h * w]`` sorted indices of an ``h x w`` rectangle over the last two axes (a
    run of ``w`` tokens on a one-axis grid), repeated over the leading axes."""
    height, width = (1, grid[0]) if len(grid) == 1 else grid[-2:]
    lead = math.prod(grid[:-2])
    wanted = fraction * height * width
    h = min(height, max(1, round(math.sqrt(wanted))))
    w = min(width, max(1, round(wanted / h)))
    top = torch.randint(0, height - h + 1, (batch_size, 1, 1), generator=generator)
    left = torch.randint(0, width - w + 1, (batch_size, 1, 1), generator=generator)
    cells = (top + torch.arange(h).view(1, h, 1)) * width + left + torch.arange(w).view(1, 1, w)  # [B, h, w]
    offsets = torch.arange(lead).view(1, lead, 1) * (height * width)
    return (offsets + cells.flatten(1).unsqueeze(1)).flatten(1)  # [B, lead * h * w]
