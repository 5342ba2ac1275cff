"""Image transforms (torchvision v1 API): the I-JEPA recipe's crop, optional augmentations,
and multi-crop views.

The I-JEPA recipe trains with RandomResizedCrop alone (scale (0.3, 1.0), bicubic): no flips,
colour jitter or blur; that is the default of :class:`ImageAugmentConfig`. Its switches add a
horizontal flip, colour jitter, random greyscale and Gaussian blur, and ``multi_crop`` turns one
image into ``global_crops`` crops at ``resolution`` and ``local_crops`` smaller ones (a tuple of
views per sample, global first: what multi-view objectives such as LeJEPA train on). The v1
transforms draw their randomness from torch's global RNG, which the core loader seeds per
sample, so a resumed run sees exactly the same crops. Every transform here takes RGB or one-channel
(mode ``L``) images and returns 3-channel tensors: a greyscale image gives exactly the tensor of its
RGB copy, from the same random draws, at a fraction of the cost (:class:`GreyToRGB`).

Example::

    tf = train_transform(224)
    x = tf(pil_image)          # float tensor [3, 224, 224], ImageNet-normalised
    views = train_views(ImageAugmentConfig(resolution=64, multi_crop=True, flip=True))(pil_image)
    [v.shape[-1] for v in views]            # [64, 64, 32, 32]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch
from torchvision import transforms as T

from jepa_core.validators import non_negative, positive, unit_interval
from jepa_vit.transforms import EVAL_CROP, IMAGENET_MEAN, IMAGENET_STD, check_crop_scale, eval_resize

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "GreyToRGB",
    "ImageAugmentConfig",
    "MultiCrop",
    "blur_kernel_size",
    "check_crop_scale",
    "color_jitter_ranges",
    "eval_transform",
    "tensor_transform",
    "train_transform",
    "train_views",
]

_BICUBIC = T.InterpolationMode.BICUBIC


@attrs.frozen(kw_only=True)
class ImageAugmentConfig:
    """Training-view options shared by the image datasets (see the module docstring).

    ``color_jitter`` is a strength ``s`` (brightness and contrast ``0.4 s``, saturation ``0.2 s``,
    hue ``0.1 s``, applied with probability 0.8); ``grayscale``/``blur`` are probabilities.
    ``multi_crop``: ``global_crops`` crops at ``resolution`` with ``crop_scale`` and
    ``local_crops`` at ``local_resolution`` (default half of ``resolution``) with
    ``local_crop_scale``. ``batch_views`` draws the views of a whole batch in the collate with
    tensor ops (:mod:`jepa_image.batch_views`) instead of image by image with PIL.
    """

    resolution: int = attrs.field(default=224, validator=positive)
    crop_scale: tuple[float, float] = attrs.field(default=(0.3, 1.0), validator=check_crop_scale)
    flip: bool = False
    color_jitter: float = attrs.field(default=0.0, validator=non_negative)
    grayscale: float = attrs.field(default=0.0, validator=unit_interval)
    blur: float = attrs.field(default=0.0, validator=unit_interval)
    multi_crop: bool = False
    global_crops: int = attrs.field(default=2, validator=positive)
    local_crops: int = attrs.field(default=2, validator=non_negative)
    local_resolution: int | None = attrs.field(default=None, validator=positive)
    local_crop_scale: tuple[float, float] = attrs.field(default=(0.05, 0.3), validator=check_crop_scale)
    batch_views: bool = False

    def __attrs_post_init__(self) -> None:
        if self.multi_crop and self.global_crops + self.local_crops < 2:
            raise ValueError(
                f"multi_crop needs at least 2 views, "
                f"got global_crops={self.global_crops} + local_crops={self.local_crops}"
            )

    def view_shapes(self) -> list[tuple[int, int, int]] | None:
        """The ``(C, H, W)`` of each training view of a multi-crop sample (RGB), or None for one view.

        >>> ImageAugmentConfig(resolution=32, multi_crop=True, local_crops=1).view_shapes()
        [(3, 32, 32), (3, 32, 32), (3, 16, 16)]
        """
        if not self.multi_crop:
            return None
        return [(3, self.resolution, self.resolution)] * self.global_crops + [
            (3, self.local_size, self.local_size)
        ] * self.local_crops

    @property
    def local_size(self) -> int:
        return self.local_resolution if self.local_resolution is not None else max(1, self.resolution // 2)


class MultiCrop:
    """``global_crops`` views from ``global_tf`` then ``local_crops`` from ``local_tf`` (picklable)."""

    def __init__(
        self, global_tf: Callable[[Any], Any], local_tf: Callable[[Any], Any], global_crops: int, local_crops: int
    ) -> None:
        self.global_tf, self.local_tf = global_tf, local_tf
        self.global_crops, self.local_crops = global_crops, local_crops

    def __call__(self, img: Any) -> tuple[Any, ...]:
        return tuple(self.global_tf(img) for _ in range(self.global_crops)) + tuple(
            self.local_tf(img) for _ in range(self.local_crops)
        )


class GreyToRGB:
    """A one-channel image tensor ``[1, H, W]`` repeated to ``[3, H, W]``; 3-channel tensors pass unchanged.

    Placed after ``ToTensor``, it lets the PIL steps before it work on one channel: resizing,
    brightness and contrast act on each channel alone, and saturation and hue leave grey pixels as
    they are, so the result equals that of the image converted to RGB first.

    >>> import torch
    >>> GreyToRGB()(torch.zeros(1, 2, 2)).shape
    torch.Size([3, 2, 2])
    """

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat(3, 1, 1) if x.shape[0] == 1 else x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _augmentations(cfg: ImageAugmentConfig) -> list[Any]:
    out: list[Any] = []
    if cfg.flip:
        out.append(T.RandomHorizontalFlip())
    if cfg.color_jitter > 0:
        bright, contrast, sat, hue = color_jitter_ranges(cfg.color_jitter)
        out.append(T.RandomApply([T.ColorJitter(bright, contrast, sat, hue)], p=0.8))
    if cfg.grayscale > 0:
        out.append(T.RandomGrayscale(p=cfg.grayscale))
    if cfg.blur > 0:
        out.append(
            T.RandomApply([T.GaussianBlur(kernel_size=blur_kernel_size(cfg.resolution), sigma=(0.1, 2.0))], p=cfg.blur)
        )
    return out


def color_jitter_ranges(
    strength: float,
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float], float]:
    """``(brightness, contrast, saturation)`` factor ranges and the largest hue shift (turns) of
    colour jitter of ``strength`` s: brightness and contrast ``0.4 s``, saturation ``0.2 s``, hue
    ``0.1 s`` (at most 0.5).

    >>> color_jitter_ranges(1.0)
    ((0.6, 1.4), (0.6, 1.4), (0.8, 1.2), 0.1)
    """
    b, c, s = 0.4 * strength, 0.4 * strength, 0.2 * strength
    return (max(0.0, 1 - b), 1 + b), (max(0.0, 1 - c), 1 + c), (max(0.0, 1 - s), 1 + s), min(0.5, 0.1 * strength)


def blur_kernel_size(resolution: int) -> int:
    """The Gaussian blur's kernel: about a tenth of the image side, odd, at least 3.

    >>> blur_kernel_size(224), blur_kernel_size(32)
    (23, 3)
    """
    k = max(3, int(0.1 * resolution))
    return k if k % 2 else k + 1


def train_views(cfg: ImageAugmentConfig) -> Callable[[Any], Any]:
    """The training transform ``cfg`` describes: one view, or a :class:`MultiCrop` tuple of views."""
    extra = _augmentations(cfg)
    if not cfg.multi_crop:
        return train_transform(cfg.resolution, cfg.crop_scale, extra)
    return MultiCrop(
        train_transform(cfg.resolution, cfg.crop_scale, extra),
        train_transform(cfg.local_size, cfg.local_crop_scale, extra),
        cfg.global_crops,
        cfg.local_crops,
    )


def tensor_transform() -> T.Compose:
    """PIL image -> normalised float tensor, no resizing (for images already at resolution)."""
    return T.Compose([T.ToTensor(), GreyToRGB(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_transform(
    resolution: int,
    crop_scale: tuple[float, float] = (0.3, 1.0),
    augmentations: list[Any] | None = None,
) -> T.Compose:
    """RandomResizedCrop(resolution, crop_scale, bicubic), ``augmentations`` (PIL transforms), ToTensor, Normalize."""
    return T.Compose(
        [
            T.RandomResizedCrop(resolution, scale=tuple(crop_scale), interpolation=_BICUBIC),
            *(augmentations or []),
            T.ToTensor(),
            GreyToRGB(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(resolution: int, crop: float = EVAL_CROP) -> T.Compose:
    """Resize the shorter side to :func:`~jepa_vit.transforms.eval_resize`, center-crop ``resolution``, normalise.

    Example: ``eval_transform(224)`` resizes to 256 and crops the central 224 x 224;
    ``eval_transform(32, 1.0)`` resizes to 32 and keeps the whole image.
    """
    return T.Compose(
        [
            T.Resize(eval_resize(resolution, crop), interpolation=_BICUBIC),
            T.CenterCrop(resolution),
            T.ToTensor(),
            GreyToRGB(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
