"""Training views drawn for a whole batch in a few tensor ops instead of image by image.

With ``data.batch_views=true`` an image dataset reads each sample as its 8-bit image resized to
``resolution`` x ``resolution`` (``[3, R, R]`` uint8, grey repeated) and the collate hands the
stacked batch to :class:`BatchViews`, which draws every view of every sample at once: random
resized crops (and flips) as one ``grid_sample`` per view, colour jitter,
greyscale and blur as per-sample factors, then the ImageNet normalisation. The options and
their meaning are those of :class:`~jepa_image.transforms.ImageAugmentConfig`, with these
differences from the per-image PIL pipeline:

* a crop is sampled bicubically from the resized image (no anti-aliasing when a crop shrinks by
  more than two), and a drawn crop wider or taller than the image is clipped to it;
* colour jitter applies its four adjustments in one random order per batch (the PIL pipeline
  draws an order per image);
* the randomness comes from the generator the collate seeds from the batch's position, so a run
  stays deterministic, independent of the worker count, and resumes exactly.

Example::

    >>> import torch
    >>> cfg = ImageAugmentConfig(resolution=8, multi_crop=True, local_crops=1, color_jitter=1.0)
    >>> views = BatchViews(cfg)(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.Generator().manual_seed(0))
    >>> [tuple(v.shape) for v in views]
    [(4, 3, 8, 8), (4, 3, 8, 8), (4, 3, 4, 4)]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import torch
import torch.nn.functional as F
import torchvision.transforms as T

from jepa_image.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    GreyToRGB,
    ImageAugmentConfig,
    blur_kernel_size,
    color_jitter_ranges,
    train_views,
)

__all__ = ["BatchViews", "batch_source_transform", "train_pipeline"]

_GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, as PIL's and torchvision's greyscale


def batch_source_transform(resolution: int) -> T.Compose:
    """PIL image -> ``[3, resolution, resolution]`` uint8 tensor: what :class:`BatchViews` crops from."""
    return T.Compose(
        [T.Resize((resolution, resolution), interpolation=T.InterpolationMode.BICUBIC), T.PILToTensor(), GreyToRGB()]
    )


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _coin(n: int, p: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def _grey(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` -> ``[B, 1, H, W]`` luma."""
    w = x.new_tensor(_GREY_WEIGHTS).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _all_grey(x: torch.Tensor) -> bool:
    """Whether every pixel of ``[B, 3, H, W]`` has three equal channels (e.g. grey images expanded to RGB)."""
    return torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``factor * x + (1 - factor) * other`` per sample, clipped to [0, 1] as torchvision does."""
    f = factor.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * other).clamp_(0, 1)


def _shift_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each sample's hue by ``shift[b]`` turns (RGB -> HSV -> RGB), elementwise: channel
    ``c = v - v s clamp(min(k, 4 - k), 0, 1)`` with ``k = (n + 6 h) mod 6``, ``n`` = 5, 3, 1 for R, G, B."""
    r, g, b = x.unbind(1)  # each [B, H, W]
    maxc = torch.maximum(torch.maximum(r, g), b)  # elementwise: a reduction over dim 1 is several times slower
    minc = torch.minimum(torch.minimum(r, g), b)
    delta = maxc - minc
    sat = torch.where(maxc > 0, delta / maxc.clamp_min(1e-12), torch.zeros_like(maxc))
    d = delta.clamp_min(1e-12)
    rc, gc, bc = (maxc - r) / d, (maxc - g) / d, (maxc - b) / d
    hue = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    h6 = torch.remainder(hue + shift.view(-1, 1, 1), 1.0).mul_(6.0)
    chroma = maxc * sat  # [B, H, W]
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
        channels.append(maxc - chroma * ramp)
    return torch.stack(channels, 1)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Blur sample ``b`` with a separable Gaussian of ``sigma[b]`` (reflect padding, as torchvision)."""
    n, c, h, w = x.shape
    half = kernel_size // 2
    pos = torch.arange(kernel_size, dtype=x.dtype) - half  # [K]
    k = torch.exp(-0.5 * (pos.view(1, -1) / sigma.view(-1, 1)) ** 2)  # [B, K]
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [B * C, K]
    y = F.pad(x.reshape(1, n * c, h, w), (half, half, half, half), mode="reflect")
    y = F.conv2d(y, k.view(n * c, 1, 1, kernel_size), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, kernel_size, 1), groups=n * c)
    return y.view(n, c, h, w)


@attrs.frozen
class BatchViews:
    """The training views of ``cfg`` for a batch of ``[B, 3, R, R]`` uint8 images (see the module docstring).

    Returns one normalised float view ``[B, 3, R, R]``, or with ``multi_crop`` a tuple of
    ``global_crops`` views at ``resolution`` then ``local_crops`` at ``local_size``. Picklable
    (DataLoader workers).
    """

    cfg: ImageAugmentConfig

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor | tuple[torch.Tensor, ...]:
        cfg = self.cfg
        x = images.float().div_(255.0)  # [B, 3, R, R]
        if not cfg.multi_crop:
            return self._view(x, cfg.resolution, cfg.crop_scale, generator)
        return tuple(self._view(x, cfg.resolution, cfg.crop_scale, generator) for _ in range(cfg.global_crops)) + tuple(
            self._view(x, cfg.local_size, cfg.local_crop_scale, generator) for _ in range(cfg.local_crops)
        )

    def _view(self, x: torch.Tensor, size: int, scale: tuple[float, float], g: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        n = x.shape[0]
        v = self._crop(x, size, scale, g)
        if cfg.color_jitter > 0:
            v = self._jitter(v, g)
        if cfg.grayscale > 0:
            grey = _coin(n, cfg.grayscale, g).view(-1, 1, 1, 1)
            v = torch.where(grey, _grey(v).expand_as(v), v)
        if cfg.blur > 0:
            apply = _coin(n, cfg.blur, g)
            sigma = _uniform(n, 0.1, 2.0, g)
            blurred = _gaussian_blur(v, sigma, blur_kernel_size(cfg.resolution))
            v = torch.where(apply.view(-1, 1, 1, 1), blurred, v)
        mean = v.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = v.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (v - mean) / std

    def _crop(self, x: torch.Tensor, size: int, scale: tuple[float, float], g: torch.Generator) -> torch.Tensor:
        """Random resized crops ``[B, 3, size, size]``: area fraction in ``scale``, aspect ratio in [3/4, 4/3]."""
        n = x.shape[0]
        area = _uniform(n, scale[0], scale[1], g)
        ratio = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), g))
        w = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the image side
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (1 - w) * torch.rand(n, generator=g) + w / 2
        cy = (1 - h) * torch.rand(n, generator=g) + h / 2
        sx = w
        if self.cfg.flip:
            sx = torch.where(_coin(n, 0.5, g), -w, w)
        base = (torch.arange(size, dtype=x.dtype) * 2 + 1) / size - 1  # pixel centres in [-1, 1]
        gx = sx.to(x.dtype).view(n, 1, 1) * base.view(1, 1, size) + (2 * cx - 1).to(x.dtype).view(n, 1, 1)
        gy = h.to(x.dtype).view(n, 1, 1) * base.view(1, size, 1) + (2 * cy - 1).to(x.dtype).view(n, 1, 1)
        grid = torch.stack(torch.broadcast_tensors(gx, gy), -1)  # [B, size, size, 2]: (x, y) sampled per pixel
        return F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False).clamp_(0, 1)

    def _jitter(self, v: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        n = v.shape[0]
        (b_lo, b_hi), (c_lo, c_hi), (s_lo, s_hi), hue = color_jitter_ranges(self.cfg.color_jitter)
        on = _coin(n, 0.8, g)
        one = torch.ones(n)
        bright = torch.where(on, _uniform(n, b_lo, b_hi, g), one)
        contrast = torch.where(on, _uniform(n, c_lo, c_hi, g), one)
        sat = torch.where(on, _uniform(n, s_lo, s_hi, g), one)
        shift = torch.where(on, _uniform(n, -hue, hue, g), torch.zeros(n))
        for op in torch.randperm(4, generator=g).tolist():
            if op == 0:
                v = (v * bright.view(-1, 1, 1, 1)).clamp_(0, 1)
            elif op == 1:
                v = _blend(v, _grey(v).mean((1, 2, 3), keepdim=True), contrast)
            elif op == 2:
                v = _blend(v, _grey(v), sat)
            elif hue > 0 and not _all_grey(v):  # grey pixels keep their value under any hue shift
                v = _shift_hue(v, shift)
        return v


def train_pipeline(cfg: ImageAugmentConfig) -> tuple[Callable[[Any], Any], BatchViews | None]:
    """The per-image transform of a training split and its batch transform: ``train_views(cfg)``
    and None, or with ``cfg.batch_views`` :func:`batch_source_transform` and :class:`BatchViews`.

    >>> train_pipeline(ImageAugmentConfig(resolution=32, batch_views=True))[1]  # doctest: +ELLIPSIS
    BatchViews(cfg=ImageAugmentConfig(resolution=32, ...))
    """
    if cfg.batch_views:
        return batch_source_transform(cfg.resolution), BatchViews(cfg)
    return train_views(cfg), None
