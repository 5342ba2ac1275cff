"""What the clip datasets (``video_frames``, ``video_files``) share: the dataset over
``(clip, label)`` pairs and the builder of its train / train_eval / val splits.

A subclass names how a root is scanned (``scan``), how a root's classes are named
(``class_names``) and how one clip's frames are read (``read``); the rest (the held-out split,
the train window and transforms) is here once.

Example::

    class MyClips(ClipDataset):
        scan = staticmethod(my_scan)                  # (root, classes) -> (classes, clips)
        class_names = staticmethod(my_class_names)    # root -> sorted class names
        def read(self, index):                        # uint8 [T, H, W, 3]
            ...
    ds = build_clip_split(cfg, "train", MyClips)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from jepa_core.errors import DataError
from jepa_core.folders import split_holdout
from jepa_core.specs import SPLITS
from jepa_video.transforms import eval_clip_transform, train_clip_transform


class ClipDataset:
    """Map-style dataset of ``(transform(frames), label)`` over clips, each a ``(path, label)``.

    ``clips`` overrides the scan of ``root``, e.g. for a held-out subset; ``random_start``
    picks the train window (random) or the eval one (centred) in :meth:`read`.
    """

    def __init__(
        self,
        root: str | os.PathLike | None,
        transform: Callable[[np.ndarray], Any] | None = None,
        *,
        num_frames: int = 16,
        frame_step: int = 4,
        random_start: bool = False,
        classes: list[str] | None = None,
        clips: list[tuple[str, int]] | None = None,
    ) -> None:
        self.check_ready()
        if clips is None:
            classes, clips = type(self).scan(root, classes)
        self.root = None if root is None else os.fspath(root)
        self.classes: list[str] = list(classes or [])
        self.clips: list[tuple[str, int]] = list(clips)
        self.transform = transform
        self.num_frames, self.frame_step, self.random_start = num_frames, frame_step, random_start

    @staticmethod
    def scan(
        root: str | os.PathLike | None, classes: list[str] | None = None
    ) -> tuple[list[str], list[tuple[str, int]]]:
        """``(classes, clips)`` of ``root``; ``classes`` fixes the label order (e.g. train's)."""
        raise NotImplementedError

    @staticmethod
    def class_names(root: str | os.PathLike) -> list[str]:
        """Sorted class names of ``root`` (empty for a flat layout)."""
        raise NotImplementedError

    def check_ready(self) -> None:
        """Raise :class:`DataError` when something reading needs is missing (e.g. a decoder)."""

    @property
    def samples(self) -> list[tuple[str, int]]:
        """``(path, label)`` of each clip, as the folder datasets of the other plugins name them
        (the core's train/val overlap check reads it)."""
        return self.clips

    def __len__(self) -> int:
        return len(self.clips)

    def read(self, index: int) -> np.ndarray:
        """The uint8 ``[T, H, W, 3]`` frames of clip ``index`` (draws the train window start)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Any, int]:
        frames = self.read(index)
        return (self.transform(frames) if self.transform is not None else frames), self.clips[index][1]


def build_clip_split(cfg: Any, split: str, dataset: type[ClipDataset]) -> ClipDataset:
    """One split of a clip dataset described by ``cfg`` (a ``VideoFramesConfig``): ``train`` takes
    random windows and the train transform; ``train_eval`` (the train clips, for probes) and
    ``val`` take centred windows and the eval transform; val is ``val_root`` or the seeded
    ``val_fraction`` hold-out of ``root``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    window = {"num_frames": cfg.num_frames, "frame_step": cfg.frame_step}
    if split == "val" and cfg.val_root is not None:
        train_classes = None
        if cfg.root is not None and os.path.isdir(cfg.root):
            train_classes = dataset.class_names(cfg.root) or None
        return dataset(cfg.val_root, eval_clip_transform(cfg.resolution), classes=train_classes, **window)
    if split == "val" and cfg.val_fraction <= 0:
        raise DataError("a val split needs data.val_root or data.val_fraction > 0; neither is set.")
    classes, clips = dataset.scan(cfg.root, None)
    if cfg.val_fraction > 0 and cfg.val_root is None:
        train_idx, val_idx = split_holdout(len(clips), cfg.val_fraction, what="clip")
        clips = [clips[i] for i in (val_idx if split == "val" else train_idx)]
    train = split == "train"
    tf = (
        train_clip_transform(cfg.resolution, cfg.crop_scale, cfg.aspect, cfg.flip)
        if train
        else eval_clip_transform(cfg.resolution)
    )
    return dataset(cfg.root, tf, random_start=train, classes=classes, clips=clips, **window)


__all__ = ["ClipDataset", "build_clip_split"]
