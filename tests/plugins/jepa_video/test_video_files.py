"""The ``video_files`` dataset: clips decoded from real video files with PyAV.

Test videos are encoded here (tiny, a few ms each). Frame ``k`` is one flat colour that spells
``k``: red ``8 * (k % 32) + 4``, green ``8 * (k // 32) + 4`` (codec and YUV round trips stay
within +-3 of it), so a decoded frame tells which index it is.
"""

from __future__ import annotations

import pickle
import sys
import wave
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

import jepa_video.files as files  # noqa: E402
from jepa_core.data import KeyedDataset  # noqa: E402
from jepa_core.errors import BadSampleError, DataError  # noqa: E402
from jepa_core.testing import check_dataset, check_dataset_splits  # noqa: E402
from jepa_video.datasets import dataset_specs  # noqa: E402
from jepa_video.files import (  # noqa: E402
    NEED_AV,
    VIDEO_EXTENSIONS,
    VideoFilesConfig,
    VideoFilesDataset,
    build_video_files,
    read_clip,
)
from jepa_video.frames import VideoFramesConfig  # noqa: E402

# near-lossless settings; keyframes only every `gop` frames (scene-cut detection off)
_MPEG4 = {"qmin": "1", "qmax": "2", "sc_threshold": "1000000000"}
_CODECS = {
    ".mp4": ("mpeg4", _MPEG4),
    ".mov": ("mpeg4", _MPEG4),
    ".avi": ("mpeg4", _MPEG4),
    ".mkv": ("ffv1", None),
    ".webm": ("libvpx", {"crf": "4", "b": "2M"}),
}


def _colour(k: int) -> np.ndarray:
    return np.array([8 * (k % 32) + 4, 8 * (k // 32) + 4, 128], dtype=np.uint8)


def _encode(
    path: Path, n: int, *, size: tuple[int, int] = (32, 24), gop: int = 10, fps: int = 25, b_frames: int = 0
) -> Path:
    """Write an ``n``-frame video (codec by extension) whose frame ``k`` has colour ``_colour(k)``;
    a keyframe every ``gop`` frames, up to ``b_frames`` B-frames in a row (mpeg4 only)."""
    codec, options = _CODECS[path.suffix.lower()]
    if codec not in av.codecs_available:
        pytest.skip(f"PyAV here has no {codec} encoder")
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = gop
        if b_frames:
            stream.codec_context.max_b_frames = b_frames
        if options:
            stream.options = options
        for k in range(n):
            frame = av.VideoFrame.from_ndarray(np.broadcast_to(_colour(k), (h, w, 3)).copy(), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _indices(frames: np.ndarray) -> list[int]:
    """The frame index each decoded frame spells (asserting it is a clean flat colour)."""
    out = []
    for f in frames:
        mean = f.reshape(-1, 3).astype(np.float64).mean(0)
        r, g = round((mean[0] - 4) / 8), round((mean[1] - 4) / 8)
        assert abs(mean[0] - (8 * r + 4)) <= 3.5 and abs(mean[1] - (8 * g + 4)) <= 3.5, f"not a test frame: {mean}"
        out.append(r + 32 * g)
    return out


def _names(ds: VideoFilesDataset, root: Path) -> list[tuple[str, int]]:
    return [(Path(p).relative_to(root).as_posix(), y) for p, y in ds.clips]


class _CountingContainer:
    """Wraps a PyAV input container, logging every frame its ``decode`` yields."""

    def __init__(self, container, log: list) -> None:
        self._c, self._log = container, log

    def __getattr__(self, name: str):
        return getattr(self._c, name)

    def __enter__(self) -> _CountingContainer:
        return self

    def __exit__(self, *exc) -> None:
        self._c.close()

    def decode(self, *args, **kwargs):
        for frame in self._c.decode(*args, **kwargs):
            self._log.append(frame.pts)
            yield frame


@pytest.fixture
def decoded_log(monkeypatch: pytest.MonkeyPatch) -> list:
    log: list = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _CountingContainer(real_open(*a, **k), log))
    return log


# ------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("ext", VIDEO_EXTENSIONS)
def test_every_container_gives_the_requested_frames(tmp_path: Path, ext: str) -> None:
    path = _encode(tmp_path / f"v{ext}", 40)
    # all frames in order (mkv / webm store no frame count: it is estimated from the duration)
    assert _indices(read_clip(path, 40, 1, False)) == list(range(40))
    # eval window of 4 frames 3 apart (10 frames): valid starts 0..30, centred at 15
    clip = read_clip(path, 4, 3, False)
    assert clip.shape == (4, 24, 32, 3) and clip.dtype == np.uint8
    assert _indices(clip) == [15, 18, 21, 24]


def test_frames_equal_a_plain_pyav_decode(tmp_path: Path) -> None:
    path = _encode(tmp_path / "v.mkv", 20, size=(30, 22))
    with av.open(str(path)) as container:
        plain = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert np.array_equal(read_clip(path, 20, 1, False), plain)
    assert np.array_equal(read_clip(path, 3, 5, False), plain[[4, 9, 14]])  # window 11 of 20: centred start 4


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".avi"])
@pytest.mark.parametrize("start", [70, 73])
def test_long_video_seeks_to_the_keyframe_before_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoded_log: list, ext: str, start: int
) -> None:
    path = _encode(tmp_path / f"long{ext}", 120, gop=10)
    monkeypatch.setattr(files, "window_start", lambda *a: start)

    def no_fallback(*a, **k):
        raise AssertionError("decoded from the start instead of seeking")

    monkeypatch.setattr(files, "_decode_from_start", no_fallback)
    clip = read_clip(path, 4, 4, True)
    assert _indices(clip) == [start, start + 4, start + 8, start + 12]
    # frame 0 (its timestamp anchors the indices), then from keyframe 70 to the last needed frame
    assert len(decoded_log) == 1 + (start + 12 - 70 + 1)


@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_b_frames_and_open_gops_give_exact_frames_without_full_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str
) -> None:
    # AVI + B-frames: timestamps start at 1, not 0; open GOPs: seeks for the 2 frames before a
    # keyframe land on it (they are retried from earlier)
    path = _encode(tmp_path / f"b{ext}", 50, gop=12, b_frames=2)

    def no_fallback(*a, **k):
        raise AssertionError("decoded from the start instead of seeking")

    monkeypatch.setattr(files, "_decode_from_start", no_fallback)
    for start in range(50):
        monkeypatch.setattr(files, "window_start", lambda *a, start=start: start)
        assert _indices(read_clip(path, 2, 3, True)) == [start, min(start + 3, 49)]


def test_fallback_decoding_from_the_start_gives_the_same_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decoded_log: list
) -> None:
    path = _encode(tmp_path / "long.mp4", 120, gop=10)
    monkeypatch.setattr(files, "window_start", lambda *a: 70)

    def seek_fails(*a, **k):
        raise files._Fallback("test")

    monkeypatch.setattr(files, "_decode_seeking", seek_fails)
    assert _indices(read_clip(path, 4, 4, True)) == [70, 74, 78, 82]
    assert len(decoded_log) == 83  # counted from frame 0, stopped at 82


def test_unknown_frame_count_is_counted_by_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _encode(tmp_path / "v.mkv", 40)
    monkeypatch.setattr(files, "_frame_count", lambda *a: None)
    assert _indices(read_clip(path, 4, 3, False)) == [15, 18, 21, 24]
    assert _indices(read_clip(path, 40, 1, False)) == list(range(40))


def test_overestimated_frame_count_repeats_the_last_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _encode(tmp_path / "v.mkv", 10)
    monkeypatch.setattr(files, "_frame_count", lambda *a: 16)  # 6 frames too many: centred start 1
    assert _indices(read_clip(path, 4, 4, False)) == [1, 5, 9, 9]


def test_train_window_starts_randomly_within_bounds_and_eval_window_is_centred(tmp_path: Path) -> None:
    path = _encode(tmp_path / "v.mp4", 40)
    starts = set()
    for seed in range(20):
        torch.manual_seed(seed)
        idx = _indices(read_clip(path, 4, 3, True))
        assert idx == [idx[0] + 3 * k for k in range(4)] and 0 <= idx[0] <= 30
        starts.add(idx[0])
    assert len(starts) > 5
    torch.manual_seed(7)
    a = _indices(read_clip(path, 4, 3, True))
    torch.manual_seed(7)
    assert _indices(read_clip(path, 4, 3, True)) == a  # the start comes from torch's global RNG
    assert _indices(read_clip(path, 4, 3, False)) == [15, 18, 21, 24]


def test_short_video_repeats_its_last_frame(tmp_path: Path) -> None:
    path = _encode(tmp_path / "v.avi", 5)
    for random_start in (False, True):
        assert _indices(read_clip(path, 4, 2, random_start)) == [0, 2, 4, 4]
    assert _indices(read_clip(_encode(tmp_path / "w.mkv", 10), 6, 4, True)) == [0, 4, 8, 9, 9, 9]


def test_unreadable_files_are_bad_samples_naming_the_file(tmp_path: Path) -> None:
    _encode(tmp_path / "good.mp4", 6)
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (tmp_path / "empty.avi").write_bytes(b"")
    (tmp_path / "text.mkv").write_text("not a video\n" * 20)
    with wave.open(str(tmp_path / "sound.mov"), "wb") as w:  # a WAV file: no video stream
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    ds = VideoFilesDataset(tmp_path, num_frames=2, frame_step=1)
    names = [Path(p).name for p, _ in ds.clips]
    assert names == ["corrupt.mp4", "empty.avi", "good.mp4", "sound.mov", "text.mkv"]
    for name in ("corrupt.mp4", "empty.avi", "text.mkv", "sound.mov"):
        with pytest.raises(BadSampleError, match=name.replace(".", r"\.")):
            ds[names.index(name)]
    with pytest.raises(BadSampleError, match="no video stream"):
        ds[names.index("sound.mov")]
    with pytest.raises(BadSampleError, match="missing.mp4"):
        read_clip(tmp_path / "missing.mp4", 2, 1, False)
    # the core loader skips it and reports it
    x, _, _, bad = KeyedDataset(ds, seed=0)[(0, 0, 0, names.index("corrupt.mp4"))]
    assert x.shape == (2, 24, 32, 3) and len(bad) == 2 and "corrupt.mp4" in bad[0]


def test_missing_pyav_is_a_data_error_at_build_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _encode(tmp_path / "v.mp4", 4)
    monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError
    cfg = VideoFilesConfig(root=str(tmp_path))
    for split in ("train", "train_eval"):
        with pytest.raises(DataError) as err:
            build_video_files(cfg, split)
        assert str(err.value) == NEED_AV and not isinstance(err.value, BadSampleError)
    with pytest.raises(DataError, match="needs PyAV"):
        VideoFilesDataset(tmp_path)
    with pytest.raises(DataError, match="needs PyAV"):
        read_clip(path, 2, 1, False)


# --------------------------------------------------------------------------- dataset


def test_class_layout_gives_sorted_classes_and_labels(tmp_path: Path) -> None:
    root = tmp_path / "train"
    _encode(root / "push" / "b.mp4", 6)
    _encode(root / "push" / "deeper" / "a.MKV", 6)
    _encode(root / "pull" / "x.avi", 6)
    (root / "pull" / "notes.txt").write_text("not a video")
    (root / "pull" / ".hidden.mp4").write_bytes(b"")
    (root / "empty_class").mkdir()
    ds = VideoFilesDataset(root, num_frames=3, frame_step=2)
    assert ds.classes == ["empty_class", "pull", "push"]
    assert _names(ds, root) == [("pull/x.avi", 1), ("push/b.mp4", 2), ("push/deeper/a.MKV", 2)]
    frames, label = ds[2]
    assert frames.shape == (3, 24, 32, 3) and frames.dtype == np.uint8 and label == 2
    assert _indices(frames) == [0, 2, 4]


def test_flat_layout_gives_label_minus_one(tmp_path: Path) -> None:
    _encode(tmp_path / "b.webm", 4)
    _encode(tmp_path / "a.mov", 4)
    ds = VideoFilesDataset(tmp_path, num_frames=2, frame_step=1)
    assert ds.classes == [] and _names(ds, tmp_path) == [("a.mov", -1), ("b.webm", -1)]
    assert ds[1][1] == -1


def test_bad_roots_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs a data path"):
        VideoFilesDataset(None)
    with pytest.raises(DataError, match="does not exist"):
        VideoFilesDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "frame.png").write_bytes(b"")
    with pytest.raises(DataError, match="no video files found"):
        VideoFilesDataset(tmp_path / "empty")
    with pytest.raises(DataError, match="no video files found"):
        build_video_files(VideoFilesConfig(root=str(tmp_path / "empty")), "train")


def test_splits_give_transformed_clips(tmp_path: Path) -> None:
    _encode(tmp_path / "a" / "v.mp4", 12, size=(32, 24))
    cfg = VideoFilesConfig(root=str(tmp_path), resolution=16, num_frames=4, frame_step=2)
    train, train_eval = build_video_files(cfg, "train"), build_video_files(cfg, "train_eval")
    assert train.random_start and not train_eval.random_start
    torch.manual_seed(0)
    x, y = train[0]
    assert x.shape == (3, 4, 16, 16) and x.dtype == torch.float32 and y == 0
    x, y = train_eval[0]
    assert x.shape == (3, 4, 16, 16) and torch.isfinite(x).all() and y == 0
    with pytest.raises(ValueError, match="split must be one of"):
        build_video_files(cfg, "test")


def test_val_fraction_holds_out_disjoint_clips(tmp_path: Path) -> None:
    for k in range(10):
        _encode(tmp_path / ("a" if k % 2 else "b") / f"clip{k}.avi", 2)
    cfg = VideoFilesConfig(root=str(tmp_path), val_fraction=0.3, resolution=8, num_frames=2, frame_step=1)
    train, train_eval, val = (build_video_files(cfg, s) for s in ("train", "train_eval", "val"))
    assert train.clips == train_eval.clips and len(val) == 3 and len(train) == 7
    assert not set(train.clips) & set(val.clips)
    assert sorted(train.clips + val.clips) == sorted(VideoFilesDataset(tmp_path).clips)
    assert build_video_files(cfg, "val").clips == val.clips  # a fixed choice
    assert train.random_start and not train_eval.random_start and not val.random_start
    with pytest.raises(DataError, match="needs data.val_root or data.val_fraction"):
        build_video_files(VideoFilesConfig(root=str(tmp_path)), "val")


def test_val_root_uses_the_training_class_order(tmp_path: Path) -> None:
    _encode(tmp_path / "train" / "a" / "c.mp4", 2)
    _encode(tmp_path / "train" / "b" / "c.mp4", 2)
    _encode(tmp_path / "val" / "b" / "c.mp4", 2)
    cfg = VideoFilesConfig(root=str(tmp_path / "train"), val_root=str(tmp_path / "val"), num_frames=2, frame_step=1)
    val = build_video_files(cfg, "val")
    assert val.classes == ["a", "b"] and [y for _, y in val.clips] == [1]
    _encode(tmp_path / "val" / "zzz" / "c.mp4", 2)
    with pytest.raises(DataError, match="'zzz'.*not one of the training classes"):
        build_video_files(cfg, "val")


def test_config_matches_video_frames_and_validates() -> None:
    def fields(cls: type) -> list[tuple[str, object]]:
        return [(f.name, f.default) for f in attrs.fields(cls)]

    assert fields(VideoFilesConfig) == fields(VideoFramesConfig)  # configs switch by data.name alone
    with pytest.raises(ValueError, match="num_frames must be > 0"):
        VideoFilesConfig(num_frames=0)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        VideoFilesConfig(val_fraction=1.0)
    with pytest.raises(ValueError, match=r"flip must be a probability in \[0, 1\]"):
        VideoFilesConfig(flip=-0.1)
    with pytest.raises(TypeError):
        VideoFilesConfig("root")  # kw_only


def test_video_files_spec_conforms(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        for c, ext in enumerate((".mp4", ".mkv")):
            _encode(tmp_path / cls / f"clip{c}{ext}", 6, size=(24, 20))
    spec = {s.name: s for s in dataset_specs()}["video_files"]
    assert spec.example is None and spec.config_type is VideoFilesConfig
    options = spec.config_type(root=str(tmp_path), resolution=16, num_frames=4, frame_step=2, val_fraction=0.5)
    check_dataset_splits(spec, options, name="dataset 'video_files'")
    train = spec.build(options, "train")
    torch.manual_seed(0)
    x, y = train[0]
    assert x.shape == (3, 4, 16, 16) and y in (0, 1)
    check_dataset(pickle.loads(pickle.dumps(train)))


def test_jepa_train_on_a_folder_of_mp4_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The whole path from video files: decode -> clip transform -> 3-D masks -> V-JEPA step, via the CLI."""
    from jepa_core.checkpoint import latest_checkpoint, load_checkpoint
    from jepa_core.cli import main

    for cls in ("a", "b"):
        for i in range(2):
            _encode(tmp_path / "videos" / cls / f"{i}.mp4", 12, size=(40, 32))
    rc = main(
        [
            "train",
            "--plugin",
            "video",
            "--preset",
            "vitl16",
            "--data",
            str(tmp_path / "videos"),
            "--out",
            str(tmp_path / "run"),
            "--set",
            "data.name=video_files",
            "--set",
            "data.resolution=32",
            "--set",
            "data.num_frames=4",
            "--set",
            "encoder.num_frames=4",
            "--set",
            "encoder.img_size=32",
            "--set",
            "encoder.patch_size=8",
            "--set",
            "encoder.depth=1",
            "--set",
            "encoder.size=tiny",
            "--set",
            "predictor.depth=1",
            "--set",
            "predictor.embed_dim=48",
            "--set",
            "train.batch_size=4",
            "--set",
            "train.micro_batch_size=none",
            "--set",
            "train.max_steps=2",
            "--set",
            "train.num_workers=0",
            "--set",
            "train.precision=fp32",
            "--set",
            "train.steps_per_epoch=none",
            "--set",
            "train.log_every=1",
            "--set",
            "masker.min_keep=4",
        ]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 0, captured.err
    assert "4 samples" in out and "grid (2, 4, 4)" in out
    state = load_checkpoint(latest_checkpoint(tmp_path / "run" / "checkpoints"))
    assert state["step"] == 2 and state["config"]["data"]["name"] == "video_files"
