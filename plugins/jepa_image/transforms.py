"""Image transforms of the I-JEPA recipe (torchvision v1 API).

Training uses only RandomResizedCrop (scale (0.3, 1.0), bicubic): no flips, colour jitter or
blur. The v1 transforms draw their randomness from torch's global RNG, which the core loader
seeds per sample, so a resumed run sees exactly the same crops.

Example::

    tf = train_transform(224)
    x = tf(pil_image)          # float tensor [3, 224, 224], ImageNet-normalised
"""

from __future__ import annotations

from torchvision import transforms as T

from jepa_vit.transforms import IMAGENET_MEAN, IMAGENET_STD, check_crop_scale

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "check_crop_scale", "eval_transform", "tensor_transform", "train_transform"]

_BICUBIC = T.InterpolationMode.BICUBIC


def tensor_transform() -> T.Compose:
    """PIL image -> normalised float tensor, no resizing (for images already at resolution)."""
    return T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_transform(resolution: int, crop_scale: tuple[float, float] = (0.3, 1.0)) -> T.Compose:
    """RandomResizedCrop(resolution, crop_scale, bicubic) + ToTensor + Normalize."""
    return T.Compose(
        [
            T.RandomResizedCrop(resolution, scale=tuple(crop_scale), interpolation=_BICUBIC),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def eval_transform(resolution: int) -> T.Compose:
    """Resize the shorter side to ``int(resolution * 256 / 224)``, center-crop, normalise.

    Example: ``eval_transform(224)`` resizes to 256 and crops the central 224 x 224.
    """
    return T.Compose(
        [
            T.Resize(int(resolution * 256 / 224), interpolation=_BICUBIC),
            T.CenterCrop(resolution),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
