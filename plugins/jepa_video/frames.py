"""A dataset of video clips stored as folders of frame images (no video decoder needed).

Layouts accepted under ``root`` (how SSv2 / Kinetics frames are often extracted):

* class folders ``root/<class>/<clip>/<frame files>``: labels are indices into the sorted
  class-folder names (an empty class folder keeps its index, so two roots with the same
  folders agree);
* flat ``root/<clip>/<frame files>``: every label is ``-1``.

A clip's frames are the image files directly in its folder (extensions as ``image_folder``'s,
hidden and other files ignored), in NATURAL order of their names (``frame_2`` before
``frame_10``). A clip gives ``num_frames`` frames ``frame_step`` apart, from a window of
``(num_frames - 1) * frame_step + 1`` frames (V-JEPA: 16 frames over 64): the train split
starts the window at a random frame (torch's global RNG), the eval splits centre it. A clip
shorter than the window takes the indices from its first frame, clamped to its last frame:
the last frame repeats. Only the chosen frames are decoded.

Example::

    ds = build_video_frames(VideoFramesConfig(root="data/ssv2_frames", resolution=224), "train")
    x, y = ds[0]              # tensor [3, 16, 224, 224], int
"""

from __future__ import annotations

import os
import re
from typing import Any, cast

import attrs
import numpy as np
import torch

from jepa_core.config import positive
from jepa_core.errors import BadSampleError, DataError
from jepa_core.folders import check_fraction, check_root, unique_by_resolved_path
from jepa_core.validators import path_or_none
from jepa_video.clips import ClipDataset, build_clip_split
from jepa_video.transforms import check_aspect, check_flip
from jepa_vit.images import IMAGE_EXTENSIONS, load_rgb
from jepa_vit.transforms import check_crop_scale

FRAME_EXTENSIONS: tuple[str, ...] = IMAGE_EXTENSIONS
_EXTS = ", ".join(e.lstrip(".") for e in FRAME_EXTENSIONS)
_LAYOUT = "root/<class>/<clip>/<frames> or root/<clip>/<frames>"


@attrs.frozen(kw_only=True)
class VideoFramesConfig:
    """Options of the ``video_frames`` dataset.

    ``val_root`` holds the val split; without it, ``val_fraction > 0`` holds out that fraction
    of ``root``'s clips (a fixed, seeded choice; the train split then excludes them). When
    ``val_root`` is set, ``val_fraction`` is ignored. ``flip`` is the train flip probability
    (set 0 when labels depend on left/right, e.g. SSv2's "moving something left").
    """

    root: str | None = attrs.field(default=None, validator=path_or_none)
    val_root: str | None = attrs.field(default=None, validator=path_or_none)
    val_fraction: float = attrs.field(default=0.0, validator=check_fraction)
    resolution: int = attrs.field(default=224, validator=positive)
    num_frames: int = attrs.field(default=16, validator=positive)
    frame_step: int = attrs.field(default=4, validator=positive)
    crop_scale: tuple[float, float] = attrs.field(default=(0.3, 1.0), validator=check_crop_scale)
    aspect: tuple[float, float] = attrs.field(default=(0.75, 1.35), validator=check_aspect)
    flip: float = attrs.field(default=0.5, validator=check_flip)


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key putting ``frame_2`` before ``frame_10`` (digit runs compare as numbers).

    >>> sorted(["f10.png", "f2.png", "f1.png"], key=natural_key)
    ['f1.png', 'f2.png', 'f10.png']
    """
    parts = re.split(r"(\d+)", name)
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def _is_frame(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(FRAME_EXTENSIONS)


def _entries(path: str) -> tuple[list[str], list[str]]:
    """``(sub-folder names, frame file names)`` directly in ``path`` (hidden ones skipped)."""
    dirs, files = [], []
    with os.scandir(path) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                dirs.append(e.name)
            elif _is_frame(e.name):
                files.append(e.name)
    return sorted(dirs), files


def class_names(root: str | os.PathLike) -> list[str]:
    """Sorted class-folder names of ``root`` (empty for a flat layout of clip folders)."""
    path = os.fspath(root)
    subs, _ = _entries(path)
    for s in subs:
        inner_dirs, inner_files = _entries(os.path.join(path, s))
        if inner_files:
            return []  # a clip folder: flat layout
        if inner_dirs:
            return subs
    return subs


def scan_clips(
    root: str | os.PathLike | None, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """List ``(classes, clips)`` of ``root``, each clip a ``(folder, label)``; ``classes`` fixes
    the label order (e.g. train's).

    Raises :class:`DataError` for a missing root, frame files directly in ``root``, a root
    mixing clip folders and class folders, a class not in ``classes``, or no clip at all.
    """
    path = check_root(root, dataset="video_frames", layout=f"a folder laid out as {_LAYOUT}")
    subs, top = _entries(path)
    if top:
        raise DataError(
            f"data path '{path}' holds frame images directly ('{sorted(top, key=natural_key)[0]}'); "
            f"put each clip's frames in its own folder: {_LAYOUT}."
        )
    clip_like, class_like, inner = [], [], {}
    for s in subs:
        dirs, files = _entries(os.path.join(path, s))
        inner[s] = dirs
        if files and dirs:
            raise DataError(
                f"folder '{os.path.join(path, s)}' holds both frame images and sub-folders; lay out "
                f"the data as {_LAYOUT}."
            )
        if files:
            clip_like.append(s)
        elif dirs:
            class_like.append(s)
    if clip_like and class_like:
        raise DataError(
            f"data path '{path}' mixes clip folders ('{clip_like[0]}' holds frames) and class folders "
            f"('{class_like[0]}' holds sub-folders); lay out the data as {_LAYOUT}."
        )
    clips: list[tuple[str, int]]
    if class_like or (classes and not clip_like):
        classes = subs if classes is None else list(classes)
        unknown = [c for c in subs if c not in classes]
        if unknown:
            raise DataError(f"class folder '{unknown[0]}' in '{path}' is not one of the training classes {classes}.")
        index = {c: i for i, c in enumerate(classes)}
        clips = [(os.path.join(path, c, clip), index[c]) for c in subs for clip in inner[c]]
    else:
        classes = []
        # empty clip folders stay (they fail as bad samples); only empty folders: no clip
        clips = [(os.path.join(path, s), -1) for s in subs] if clip_like else []
    clips = unique_by_resolved_path(clips, root=path, noun="clip folders")  # linked twice: used once
    if not clips:
        raise DataError(
            f"no clip folders with frame images found in '{path}'; expected {_LAYOUT} with frames "
            f"of extension {_EXTS} (any case)."
        )
    return classes, clips


def list_frames(clip: str) -> list[str]:
    """The frame files of clip folder ``clip`` in natural order; none is a :class:`BadSampleError`."""
    try:
        _, files = _entries(clip)
    except OSError as err:
        raise BadSampleError(f"unreadable clip folder '{clip}': {type(err).__name__}: {err}") from err
    if not files:
        raise BadSampleError(f"clip folder '{clip}' holds no frame images ({_EXTS}).")
    return [os.path.join(clip, f) for f in sorted(files, key=natural_key)]


def window_indices(num_available: int, num_frames: int, frame_step: int, start: int) -> list[int]:
    """``num_frames`` indices ``frame_step`` apart from ``start``, clamped to the last frame.

    >>> window_indices(5, 4, 2, 0)        # a clip of 5 frames, window of 7: the last repeats
    [0, 2, 4, 4]
    """
    return [min(start + k * frame_step, num_available - 1) for k in range(num_frames)]


def window_start(num_available: int, num_frames: int, frame_step: int, random: bool) -> int:
    """First frame of the window: uniform over the valid starts (torch's global RNG) when
    ``random``, else centred; 0 when the clip is shorter than the window."""
    slack = num_available - ((num_frames - 1) * frame_step + 1)
    if slack <= 0:
        return 0
    return int(torch.randint(slack + 1, (1,))) if random else slack // 2


def load_frames(paths: list[str]) -> np.ndarray:
    """Decode ``paths`` into a uint8 ``[T, H, W, 3]`` stack (a repeated path is decoded once).

    An unreadable frame, or one whose size differs from the first, is a :class:`BadSampleError`
    naming the file.
    """
    cache: dict[str, np.ndarray] = {}
    for p in paths:
        if p not in cache:
            cache[p] = np.asarray(load_rgb(p))
    first = cache[paths[0]]
    for p in paths:
        if cache[p].shape != first.shape:
            h, w = cache[p].shape[:2]
            raise BadSampleError(
                f"frame '{p}' is {w}x{h} but '{paths[0]}' is {first.shape[1]}x{first.shape[0]}; "
                "the frames of one clip must have one size."
            )
    return np.stack([cache[p] for p in paths])


class VideoFramesDataset(ClipDataset):
    """Map-style dataset of ``(transform(frames), label)`` over clip folders of frame images
    (:class:`~jepa_video.clips.ClipDataset` over :func:`scan_clips`).

    Example::

        ds = VideoFramesDataset("data/train", transform=eval_clip_transform(64), num_frames=8)
        ds.classes, ds.clips[0]    # (['pull', 'push'], ('data/train/pull/0001', 0))
    """

    scan = staticmethod(scan_clips)
    class_names = staticmethod(class_names)

    def frame_paths(self, index: int) -> list[str]:
        """The files of the frames clip ``index`` gives (draws the train window start)."""
        clip, _ = self.clips[index]
        files = list_frames(clip)
        start = window_start(len(files), self.num_frames, self.frame_step, self.random_start)
        return [files[i] for i in window_indices(len(files), self.num_frames, self.frame_step, start)]

    def read(self, index: int) -> np.ndarray:
        return load_frames(self.frame_paths(index))


def build_video_frames(cfg: VideoFramesConfig, split: str) -> VideoFramesDataset:
    """Build a split described by ``cfg`` (see :class:`VideoFramesConfig` and
    :func:`jepa_video.clips.build_clip_split`)."""
    return cast(VideoFramesDataset, build_clip_split(cfg, split, VideoFramesDataset))


__all__ = [
    "FRAME_EXTENSIONS",
    "VideoFramesConfig",
    "VideoFramesDataset",
    "build_video_frames",
    "class_names",
    "list_frames",
    "load_frames",
    "natural_key",
    "scan_clips",
    "window_indices",
    "window_start",
]
