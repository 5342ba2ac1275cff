"""A dataset of image files: one sub-folder per class, or a flat folder of unlabelled images.

Layouts accepted under ``root``:

* class sub-folders ``root/<class>/**/<image>``: labels are indices into the sorted sub-folder
  names (empty sub-folders keep their index, so two roots with the same folders agree);
* a flat folder ``root/<image>``: every label is ``-1``.

Example::

    ds = ImageFolderDataset("data/train", transform=train_transform(224))
    x, y = ds[0]              # tensor [3, 224, 224], int
    build_image_folder(ImageFolderConfig(root="data/train", val_fraction=0.1), "val")
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import attrs
from PIL import Image

from jepa_core import folders
from jepa_core.errors import DataError
from jepa_core.folders import VAL_SPLIT_SEED, check_fraction, class_names, scan_class_folders
from jepa_core.hardware import physical_memory
from jepa_core.specs import SPLITS
from jepa_core.validators import path_or_none
from jepa_image.batch_views import BatchViews, train_pipeline
from jepa_image.transforms import ImageAugmentConfig, eval_transform
from jepa_vit.images import IMAGE_EXTENSIONS, load_8bit, load_rgb
from jepa_vit.transforms import EVAL_CROP, check_eval_crop


@attrs.frozen(kw_only=True)
class ImageFolderConfig(ImageAugmentConfig):
    """Options of the ``image_folder`` dataset (and the training views of
    :class:`~jepa_image.transforms.ImageAugmentConfig`).

    ``val_root`` holds the val split; without it, ``val_fraction > 0`` holds out that fraction
    of ``root`` (a fixed, seeded choice; the train split then excludes it). When ``val_root``
    is set, ``val_fraction`` is ignored. ``cache`` keeps each training image, decoded and resized
    to ``resolution``, in memory after its first read (``3 * resolution**2`` bytes per image in
    each process that reads it: meant for small images with ``train.num_workers=0``; more than half
    of the machine's memory is refused); it needs ``batch_views``, whose per-image step is
    deterministic. ``eval_crop`` is the side of the central crop that probes and evaluation read,
    as a fraction of the image resized for it (timm's ``crop_pct``): 0.875 (ImageNet's 224 of 256)
    or 1.0, the whole image, for small images whose object fills the frame.
    """

    root: str | None = attrs.field(default=None, validator=path_or_none)
    val_root: str | None = attrs.field(default=None, validator=path_or_none)
    val_fraction: float = attrs.field(default=0.0, validator=check_fraction)
    cache: bool = False
    eval_crop: float = attrs.field(default=EVAL_CROP, validator=check_eval_crop)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.cache and not self.batch_views:
            raise ValueError(
                "cache=true needs batch_views=true: only the batch-wide views start from a fixed "
                "decoded image that can be kept; per-image views are drawn anew at each read"
            )


def scan_folder(
    root: str | os.PathLike | None, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """List ``(classes, samples)`` of ``root``; ``classes`` fixes the label order (e.g. train's).

    Raises :class:`DataError` for a missing root, a root mixing images and sub-folders, a class
    not in ``classes``, or no images at all (see :func:`jepa_core.folders.scan_class_folders`).
    """
    return scan_class_folders(root, IMAGE_EXTENSIONS, dataset="image_folder", noun="images", classes=classes)


class ImageFolderDataset:
    """Map-style dataset of ``(transform(image), label)`` over an image folder.

    ``samples`` (a list of ``(path, label)``) overrides the scan, e.g. for a held-out subset.
    Images are 8-bit RGB; ``keep_grey=True`` passes greyscale files on as one-channel (mode ``L``)
    images, for a transform that accepts them (those of :mod:`jepa_image.transforms` do, and
    :func:`build_image_folder` sets it).

    ``cache=True`` keeps each read's result by index and returns it again on later reads, for a
    deterministic ``transform`` (this process only; ``deterministic_reads`` says the reads draw no
    random numbers, which the core's sample seeding then skips).

    Example::

        ds = ImageFolderDataset("data/train", transform=eval_transform(64))
        ds.classes, ds.samples[0]     # (['cat', 'dog'], ('data/train/cat/1.jpg', 0))
    """

    def __init__(
        self,
        root: str | os.PathLike | None,
        transform: Callable[[Image.Image], Any] | None = None,
        *,
        classes: list[str] | None = None,
        samples: list[tuple[str, int]] | None = None,
        keep_grey: bool = False,
        batch_transform: BatchViews | None = None,
        cache: bool = False,
        deterministic_reads: bool = False,
    ) -> None:
        if samples is None:
            classes, samples = scan_folder(root, classes)
        self.root = None if root is None else os.fspath(root)
        self.classes: list[str] = list(classes or [])
        self.samples: list[tuple[str, int]] = list(samples)
        self.transform = transform
        self.keep_grey = keep_grey
        self.batch_transform = batch_transform  # batch-wide views (jepa_image.batch_views), applied by the collate
        self.deterministic_reads = deterministic_reads
        self._cache: dict[int, Any] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        if self._cache is not None and index in self._cache:
            return self._cache[index], label
        img = load_8bit(path) if self.keep_grey else load_rgb(path)
        out = self.transform(img) if self.transform is not None else img
        if self._cache is not None:
            self._cache[index] = out
        return out, label


def split_holdout(n: int, fraction: float, seed: int = VAL_SPLIT_SEED) -> tuple[list[int], list[int]]:
    """Deterministic ``(train_indices, val_indices)`` of ``range(n)`` images, each sorted.

    Example: ``split_holdout(10, 0.2)`` -> 8 train and 2 val indices, the same on every call.
    """
    return folders.split_holdout(n, fraction, seed, what="image")


def build_image_folder(cfg: ImageFolderConfig, split: str) -> ImageFolderDataset:
    """Build a split described by ``cfg`` (see :class:`ImageFolderConfig`); ``train_eval`` is the
    train images with the eval transform (for probes)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "val" and cfg.val_root is not None:
        train_classes = None
        if cfg.root is not None and os.path.isdir(cfg.root):
            train_classes = class_names(cfg.root) or None
        return ImageFolderDataset(
            cfg.val_root, eval_transform(cfg.resolution, cfg.eval_crop), classes=train_classes, keep_grey=True
        )
    if split == "val" and cfg.val_fraction <= 0:
        raise DataError("a val split needs data.val_root or data.val_fraction > 0; neither is set.")
    classes, samples = scan_folder(cfg.root)
    if cfg.val_fraction > 0 and cfg.val_root is None:
        train_idx, val_idx = split_holdout(len(samples), cfg.val_fraction)
        samples = [samples[i] for i in (val_idx if split == "val" else train_idx)]
    tf, batch_tf = train_pipeline(cfg) if split == "train" else (eval_transform(cfg.resolution, cfg.eval_crop), None)
    if cfg.cache and batch_tf is not None:
        check_cache_fits(len(samples), cfg.resolution)
    return ImageFolderDataset(
        cfg.root,
        tf,
        classes=classes,
        samples=samples,
        keep_grey=True,
        batch_transform=batch_tf,
        cache=cfg.cache and batch_tf is not None,
        deterministic_reads=batch_tf is not None,  # the views' randomness is all in the batch transform
    )


def check_cache_fits(images: int, resolution: int, memory: int | None = None) -> None:
    """Refuse ``data.cache`` when ``images`` kept at ``resolution`` would take more than half of
    ``memory`` bytes (default: the machine's physical memory), before any training.

    >>> check_cache_fits(60_000, 32, memory=8 * 2**30)
    """
    need = images * 3 * resolution**2
    memory = memory if memory is not None else physical_memory()
    if memory and need > memory / 2:
        raise DataError(
            f"data.cache=true would keep {images:,} images of {resolution} px in memory, about "
            f"{need / 2**30:.1f} GiB, more than half of this machine's {memory / 2**30:.1f} GiB; "
            "set data.cache=false or a lower data.resolution."
        )


__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageFolderConfig",
    "ImageFolderDataset",
    "build_image_folder",
    "class_names",
    "load_rgb",
    "scan_folder",
    "split_holdout",
]
