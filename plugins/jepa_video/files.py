"""A dataset of video clips read from video files (mp4, avi, mkv, webm, mov), decoded with PyAV.

Layouts accepted under ``root`` (as ``image_folder`` / ``wav_folder``, see
:func:`jepa_core.folders.scan_class_folders`):

* class folders ``root/<class>/**/<video file>``: labels are indices into the sorted
  class-folder names;
* flat ``root/<video files>``: every label is ``-1``.

Video files are those ending (any case) in :data:`VIDEO_EXTENSIONS`; hidden files and folders
are skipped. A clip gives ``num_frames`` frames ``frame_step`` apart from a window of
``(num_frames - 1) * frame_step + 1`` frames, exactly as ``video_frames`` does (same config
fields, same :func:`~jepa_video.frames.window_start` / :func:`~jepa_video.frames.window_indices`):
the train split starts the window at a random frame (torch's global RNG), the eval splits centre
it, and a video shorter than the window repeats its last frame.

Decoding (:func:`read_clip`) reads only what the window needs:

1. the frame count is the stream's ``frames`` field when the container stores it (mp4, mov,
   avi), else an estimate ``duration * frame rate`` (mkv, webm); when neither is known the
   video is decoded once just to count its frames (slow, but rare);
2. the decoder seeks backward to the keyframe at or before the first needed frame, decodes
   forward, maps each frame to its index ``round((pts - pts0) * time_base * fps)`` (``pts0``:
   the first frame's timestamp, read by decoding that frame, since AVI files with B-frames do
   not start at the stream's ``start_time``; ``fps``: ``average_rate``, else ``guessed_rate``),
   keeps the needed ones (converted with ``to_ndarray(format="rgb24")``) and stops at the last
   one. A seek that lands after the first needed frame (open GOPs: the B-frames just before a
   keyframe are decoded after it and dropped) is retried from 8, 32 then 128 frames earlier. A
   needed index with no frame of its own (variable frame rate) takes the frame shown at that
   time, the last one before it; indices past the end (an overestimated count) take the last
   frame;
3. when the frame rate or timestamps are missing, seeking fails or keeps landing too late, the
   file is reopened and decoded from its start, frames counted one by one.

PyAV is imported lazily: building the dataset without it raises a :class:`DataError` (so a run
fails before training). A file that cannot be opened or decoded, holds no video stream or no
frame is a :class:`BadSampleError` naming it (the core loader skips it and reports it).

Example::

    ds = build_video_files(VideoFilesConfig(root="data/kinetics/train", resolution=224), "train")
    x, y = ds[0]              # tensor [3, 16, 224, 224], int
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any, cast

import attrs
import numpy as np

from jepa_core.errors import BadSampleError, DataError
from jepa_core.folders import class_names, scan_class_folders
from jepa_core.specs import SPLITS
from jepa_video.clips import ClipDataset, build_clip_split
from jepa_video.frames import VideoFramesConfig, window_indices, window_start

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".webm", ".mov")
"""File extensions (matched case-insensitively) the ``video_files`` dataset reads."""

NEED_AV = "the video_files dataset needs PyAV: pip install 'jepaforge[video]' (or pip install av)."


@attrs.frozen(kw_only=True)
class VideoFilesConfig(VideoFramesConfig):
    """Options of the ``video_files`` dataset: those of ``video_frames`` (same fields, defaults and
    checks), so ``data.name=video_files`` switches a config between frame folders and video files.

    ``val_root`` holds the val split; without it, ``val_fraction > 0`` holds out that fraction
    of ``root``'s videos (a fixed, seeded choice; the train split then excludes them). When
    ``val_root`` is set, ``val_fraction`` is ignored. ``flip`` is the train flip probability
    (set 0 when labels depend on left/right, e.g. SSv2's "moving something left").
    """


def require_av() -> Any:
    """The ``av`` module; a :class:`DataError` saying how to install it when it is missing."""
    try:
        import av
    except ImportError as err:
        raise DataError(NEED_AV) from err
    return av


def scan_videos(
    root: str | os.PathLike | None, classes: list[str] | None = None
) -> tuple[list[str], list[tuple[str, int]]]:
    """``(classes, videos)`` of ``root``, each video a ``(file, label)``; ``classes`` fixes the
    label order (e.g. train's). Layout errors and an empty root are :class:`DataError`."""
    return scan_class_folders(root, VIDEO_EXTENSIONS, dataset="video_files", noun="video files", classes=classes)


# --------------------------------------------------------------------------- decoding


class _Fallback(Exception):
    """The seek-and-decode path cannot serve this file: decode it from the start instead."""


class _Overshoot(_Fallback):
    """The first frame decoded after a seek comes after the first needed one."""


def _open(av: Any, path: str) -> Any:
    return av.open(path, mode="r", metadata_errors="ignore")


def _video_stream(container: Any, path: str) -> Any:
    if not container.streams.video:
        raise BadSampleError(f"video file '{path}' holds no video stream.")
    best = getattr(container.streams, "best", None)  # skips cover art (attached pictures)
    return (best("video") if best is not None else None) or container.streams.video[0]


def _frame_rate(stream: Any) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate
    return Fraction(rate) if rate else None


def _frame_count(av: Any, container: Any, stream: Any, fps: Fraction | None) -> int | None:
    """The stored frame count, else ``duration * fps`` rounded; ``None`` when unknown."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if fps is None:
        return None
    seconds: Fraction | None = None
    if stream.duration and stream.duration > 0 and stream.time_base:
        seconds = stream.duration * Fraction(stream.time_base)
    elif container.duration and container.duration > 0:
        seconds = Fraction(container.duration, av.time_base)
    if seconds is None:
        return None
    count = round(seconds * fps)
    return count if count > 0 else None


def _count_frames(container: Any, stream: Any) -> tuple[int, int | None]:
    """Decode the whole stream: ``(number of frames, timestamp of the first one)``."""
    count, first = 0, None
    for frame in container.decode(stream):
        if count == 0:
            first = frame.pts
        count += 1
    return count, first


def _rgb_converter() -> Callable[[Any], np.ndarray]:
    """``frame -> uint8 [H, W, 3]``: ``frame.to_ndarray(format="rgb24")``, through ONE reformatter
    (``to_ndarray`` alone sets up a new scaler per frame, several times slower on small frames)."""
    try:
        from av.video.reformatter import VideoReformatter

        reformatter = VideoReformatter()
    except (ImportError, AttributeError, TypeError):  # another PyAV layout
        return lambda frame: frame.to_ndarray(format="rgb24")
    return lambda frame: reformatter.reformat(frame, format="rgb24").to_ndarray()


def _collect(
    frames: Iterable[Any], needed: list[int], index_of: Callable[[Any], int], to_rgb: Callable[[Any], np.ndarray]
) -> dict[int, np.ndarray]:
    """RGB arrays (``to_rgb``) of the ``needed`` (sorted, distinct) indices from decoded ``frames``.

    A needed index without a frame of its own takes the frame shown then (the last one before
    it); indices past the last frame take the last frame. Stops decoding at the last needed one.
    Raises :class:`_Overshoot` when the first frame comes after the first needed index (a seek
    that landed too late) and returns ``{}`` when there is no frame at all.
    """
    out: dict[int, np.ndarray] = {}
    pos, last, last_rgb = 0, None, None

    def rgb_of_last() -> np.ndarray:
        nonlocal last_rgb
        if last_rgb is None:
            last_rgb = to_rgb(last)
        return last_rgb

    for frame in frames:
        idx = index_of(frame)
        if needed[pos] < idx:
            if last is None:
                raise _Overshoot("the first decoded frame is after the first needed one")
            rgb = rgb_of_last()
            while pos < len(needed) and needed[pos] < idx:
                out[needed[pos]] = rgb
                pos += 1
            if pos == len(needed):
                return out
        last, last_rgb = frame, None
        if needed[pos] == idx:
            out[idx] = rgb_of_last()
            pos += 1
            if pos == len(needed):
                return out
    if last is None:
        return {}
    rgb = rgb_of_last()
    for i in needed[pos:]:
        out[i] = rgb
    return out


def _timestamp_index(origin: int | None, time_base: Fraction, fps: Fraction) -> Callable[[Any], int]:
    """``frame -> round((pts - origin) * time_base * fps)``; ``origin`` ``None``: the first frame's pts."""
    anchor = [origin]

    def index_of(frame: Any) -> int:
        if frame.pts is None:
            raise _Fallback("a frame without timestamp")
        if anchor[0] is None:
            anchor[0] = frame.pts
        return round((frame.pts - anchor[0]) * time_base * fps)

    return index_of


_SEEK_TRIES = 4


def _decode_seeking(
    av: Any,
    container: Any,
    stream: Any,
    needed: list[int],
    fps: Fraction,
    origin: int | None,
    to_rgb: Callable[[Any], np.ndarray],
) -> dict[int, np.ndarray]:
    """Seek to the keyframe before ``needed[0]``, decode forward, map frames by timestamp.

    Indices count from the first frame, whose timestamp ``origin`` is (``None``: not read yet;
    it is then decoded first, as AVI files with B-frames start at a timestamp other than the
    stream's ``start_time``). A seek that lands after ``needed[0]`` (open GOPs: the frames
    just before a keyframe are decoded after it) is retried from 8, 32, 128 frames earlier.
    """
    if not stream.time_base:
        raise _Fallback("no time base")
    time_base = Fraction(stream.time_base)
    try:
        if needed[0] == 0 and origin is None:  # the window starts the video: no seek
            out = _collect(container.decode(stream), needed, _timestamp_index(None, time_base, fps), to_rgb)
        else:
            if origin is None:
                first_frame = next(iter(container.decode(stream)), None)
                if first_frame is None or first_frame.pts is None:
                    raise _Fallback("no first frame timestamp")
                origin = first_frame.pts
            back, out = 0, {}
            for _ in range(_SEEK_TRIES):
                first = max(needed[0] - back, 0)
                # ceil: at or after frame `first`'s timestamp, so a keyframe there is landed on
                container.seek(origin + math.ceil(first / fps / time_base), stream=stream, backward=True)
                try:
                    index_of = _timestamp_index(origin, time_base, fps)
                    out = _collect(container.decode(stream), needed, index_of, to_rgb)
                    break
                except _Overshoot:
                    if first == 0:
                        raise
                    back = 8 if back == 0 else 4 * back
            else:
                raise _Fallback("every seek landed after the window")
    except av.FFmpegError as err:
        raise _Fallback(str(err)) from err
    if not out:
        raise _Fallback("no frame after the seek")
    return out


def _decode_from_start(
    container: Any, stream: Any, needed: list[int], to_rgb: Callable[[Any], np.ndarray]
) -> dict[int, np.ndarray]:
    """Decode from the first frame, counting frames (the fallback)."""
    counter = iter(range(1 << 62))
    return _collect(container.decode(stream), needed, lambda _frame: next(counter), to_rgb)


def read_clip(path: str | os.PathLike, num_frames: int, frame_step: int, random_start: bool) -> np.ndarray:
    """Decode the window of video file ``path``: uint8 ``[num_frames, H, W, 3]`` RGB.

    The window start is drawn with :func:`~jepa_video.frames.window_start` (torch's global RNG
    when ``random_start``, else centred), its frames chosen by
    :func:`~jepa_video.frames.window_indices`. See the module docstring for how frames are
    found. Raises :class:`DataError` without PyAV and :class:`BadSampleError` naming the file
    for anything unreadable.
    """
    av = require_av()
    path = os.fspath(path)
    to_rgb = _rgb_converter()
    try:
        frames: dict[int, np.ndarray] | None = None
        with _open(av, path) as container:
            stream = _video_stream(container, path)
            fps = _frame_rate(stream)
            total, origin = _frame_count(av, container, stream, fps), None
            if total is None:  # unknown length: decode once to count
                total, origin = _count_frames(container, stream)
            if total < 1:
                raise BadSampleError(f"video file '{path}' holds no video frames.")
            start = window_start(total, num_frames, frame_step, random_start)
            indices = window_indices(total, num_frames, frame_step, start)
            needed = sorted(set(indices))
            if fps is not None:
                try:
                    frames = _decode_seeking(av, container, stream, needed, fps, origin, to_rgb)
                except _Fallback:
                    frames = None
        if frames is None:
            with _open(av, path) as container:
                frames = _decode_from_start(container, _video_stream(container, path), needed, to_rgb)
    except BadSampleError:
        raise
    except (av.FFmpegError, OSError, ValueError, EOFError) as err:
        raise BadSampleError(f"unreadable video file '{path}': {type(err).__name__}: {err}") from err
    if not frames:
        raise BadSampleError(f"video file '{path}' holds no decodable video frames.")
    clip = [frames[i] for i in indices]
    for i, f in zip(indices, clip, strict=True):
        if f.shape != clip[0].shape:
            raise BadSampleError(
                f"video file '{path}' changes frame size ({clip[0].shape[1]}x{clip[0].shape[0]} at frame "
                f"{indices[0]}, {f.shape[1]}x{f.shape[0]} at frame {i}); a clip's frames must have one size."
            )
    return np.stack(clip)


# ---------------------------------------------------------------------------- dataset


class VideoFilesDataset(ClipDataset):
    """Map-style dataset of ``(transform(frames), label)`` over video files
    (:class:`~jepa_video.clips.ClipDataset` over :func:`scan_videos`). Raises
    :class:`DataError` when PyAV is missing.

    Example::

        ds = VideoFilesDataset("data/train", transform=eval_clip_transform(64), num_frames=8)
        ds.classes, ds.clips[0]    # (['pull', 'push'], ('data/train/pull/0001.mp4', 0))
    """

    scan = staticmethod(scan_videos)
    class_names = staticmethod(class_names)

    def check_ready(self) -> None:
        require_av()

    def read(self, index: int) -> np.ndarray:
        return read_clip(self.clips[index][0], self.num_frames, self.frame_step, self.random_start)


def build_video_files(cfg: VideoFilesConfig, split: str) -> VideoFilesDataset:
    """Build a split described by ``cfg`` (see :class:`VideoFilesConfig` and
    :func:`jepa_video.clips.build_clip_split`); PyAV is checked first."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    require_av()
    return cast(VideoFilesDataset, build_clip_split(cfg, split, VideoFilesDataset))


__all__ = [
    "NEED_AV",
    "VIDEO_EXTENSIONS",
    "VideoFilesConfig",
    "VideoFilesDataset",
    "build_video_files",
    "read_clip",
    "require_av",
    "scan_videos",
]
