"""Video datasets of the jepa_video plugin: clip transforms, synthetic motion, frame folders."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
from PIL import Image

from jepa_core.data import KeyedDataset
from jepa_core.errors import BadSampleError, DataError
from jepa_core.specs import DatasetSpec
from jepa_core.testing import check_dataset, check_dataset_splits
from jepa_video.datasets import dataset_specs
from jepa_video.frames import (
    VideoFramesConfig,
    VideoFramesDataset,
    build_video_frames,
    list_frames,
    natural_key,
    window_indices,
)
from jepa_video.synthetic import (
    SyntheticMotionConfig,
    SyntheticMotionDataset,
    build_synthetic_motion,
    direction,
    direction_names,
    render_motion_clip,
)
from jepa_video.transforms import clip_to_tensor, eval_clip_transform, train_clip_transform
from jepa_vit.shapes import PixelGrid as _Grid
from jepa_vit.transforms import IMAGENET_MEAN, IMAGENET_STD

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)


def _specs() -> dict[str, DatasetSpec]:
    return {s.name: s for s in dataset_specs()}


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    return x * STD + MEAN


# ---------------------------------------------------------------------- transforms


def _random_frames(t: int = 4, h: int = 20, w: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_train_transform_shares_one_crop_across_frames() -> None:
    frame = _random_frames(1)[0]
    frames = np.stack([frame] * 5)
    tf = train_clip_transform(12, crop_scale=(0.2, 0.5), flip=0.5)
    for seed in range(8):
        torch.manual_seed(seed)
        x = tf(frames)
        assert x.shape == (3, 5, 12, 12) and x.dtype == torch.float32
        assert torch.equal(x, x[:, :1].expand_as(x)), "frames of one clip got different crops"


def test_train_transform_flips_all_frames_together() -> None:
    frames = _random_frames(4, seed=1)
    no_flip, always = train_clip_transform(10, flip=0.0), train_clip_transform(10, flip=1.0)
    half = train_clip_transform(10, flip=0.5)
    flipped_seen = plain_seen = 0
    for seed in range(12):
        torch.manual_seed(seed)
        a = no_flip(frames)
        torch.manual_seed(seed)
        b = always(frames)
        assert torch.allclose(b, a.flip(-1), atol=1e-5), "flip=1 must mirror every frame of the same crop"
        assert not torch.allclose(a, b, atol=1e-5)
        torch.manual_seed(seed)
        c = half(frames)
        if torch.allclose(c, a, atol=1e-5):
            plain_seen += 1
        else:
            assert torch.allclose(c, a.flip(-1), atol=1e-5), "a clip must be flipped as a whole or not at all"
            flipped_seen += 1
    assert flipped_seen and plain_seen


def test_train_transform_randomness_comes_from_torch_global_rng() -> None:
    frames = _random_frames(3, seed=2)
    tf = train_clip_transform(8)
    torch.manual_seed(5)
    np.random.seed(1)
    a = tf(frames)
    torch.manual_seed(5)
    np.random.seed(2)
    b = tf(frames)
    torch.manual_seed(6)
    c = tf(frames)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_eval_transform_resizes_shorter_side_and_centre_crops() -> None:
    frames = np.zeros((2, 20, 40, 3), dtype=np.uint8)
    frames[..., 14:26, :] = 255  # a white band in the middle columns
    state = torch.get_rng_state()
    x = eval_clip_transform(14)(frames)  # shorter side -> 16, so 16 x 32, centre crop 14
    assert torch.equal(torch.get_rng_state(), state), "the eval transform must not draw randomness"
    assert x.shape == (3, 2, 14, 14)
    x = _unnormalise(x)
    # columns 14..26 of 40 -> 11.2..20.8 of 32 -> 2.2..11.8 of the 14-wide crop (centre offset 9)
    assert torch.all(x[:, :, :, 4:10] > 0.95) and torch.all(x[:, :, :, :1] < 0.05) and torch.all(x[:, :, :, -1:] < 0.05)


def test_clip_to_tensor_normalises_and_accepts_uint8_or_float() -> None:
    frames = np.full((3, 4, 5, 3), 51, dtype=np.uint8)
    x = clip_to_tensor()(frames)
    assert x.shape == (3, 3, 4, 5)
    assert torch.allclose(x, ((torch.full((3, 3, 4, 5), 0.2) - MEAN) / STD), atol=1e-6)
    assert torch.allclose(clip_to_tensor()(torch.from_numpy(frames).float() / 255), x, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        clip_to_tensor()(np.zeros((3, 3, 4, 5), dtype=np.uint8))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"crop_scale": (0.5, 0.2)}, r"crop_scale must be \(lo, hi\) with 0 < lo <= hi <= 1, got \(0.5, 0.2\)"),
        ({"aspect": (0.0, 1.0)}, r"aspect must be \(lo, hi\) with 0 < lo <= hi, got \(0.0, 1.0\)"),
        ({"flip": 1.5}, r"flip must be a probability in \[0, 1\], got 1.5"),
        ({"resolution": 0}, r"resolution must be a positive int, got 0"),
    ],
)
def test_train_transform_validates_ranges(kwargs: dict, match: str) -> None:
    args = {"resolution": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_clip_transform(**args)


# ----------------------------------------------------------------- synthetic motion


def test_synthetic_clip_shape_dtype_and_splits() -> None:
    spec = _specs()["synthetic_motion"]
    cfg = SyntheticMotionConfig()
    for split in ("train", "train_eval", "val"):
        ds = spec.build(cfg, split)
        x, y = ds[3]
        assert x.shape == (3, 8, 32, 32) and x.dtype == torch.float32 and torch.isfinite(x).all()
        assert isinstance(y, int) and y == 3
        assert len(ds) == (512 if split == "val" else 2048)
    raw = _unnormalise(spec.build(cfg, "val")[0][0])
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5


def test_synthetic_is_deterministic_per_index_and_splits_differ() -> None:
    cfg = SyntheticMotionConfig(num_train=16, num_val=16)
    train_eval, val = build_synthetic_motion(cfg, "train_eval"), build_synthetic_motion(cfg, "val")
    again = build_synthetic_motion(cfg, "train_eval")
    for i in (0, 5):
        assert torch.equal(train_eval[i][0], again[i][0])
    assert not torch.equal(train_eval[0][0], train_eval[4][0])  # same label, different clip
    assert not torch.equal(train_eval[0][0], val[0][0])
    other_seed = build_synthetic_motion(SyntheticMotionConfig(num_train=16, seed=1), "train_eval")
    assert not torch.equal(train_eval[0][0], other_seed[0][0])
    # train = train_eval's clips, augmented with torch's global RNG (the loader seeds it per sample)
    train = build_synthetic_motion(cfg, "train")
    torch.manual_seed(0)
    a = train[2]
    torch.manual_seed(0)
    b = train[2]
    assert torch.equal(a[0], b[0]) and a[1] == b[1] == train_eval[2][1]
    assert not torch.equal(a[0], train_eval[2][0])
    assert torch.equal(build_synthetic_motion(attrs.evolve(cfg, augment=False), "train")[2][0], train_eval[2][0])


def test_synthetic_train_crop_never_flips() -> None:
    ds = build_synthetic_motion(SyntheticMotionConfig(num_train=8), "train")
    assert ds.transform.flip == 0.0  # a flip would turn "right" into "left" under the same label
    assert ds.transform.crop_scale == (0.3, 1.0)


def test_synthetic_labels_are_balanced_and_named() -> None:
    ds = SyntheticMotionDataset(40, num_classes=8)
    labels = [ds.label(i) for i in range(len(ds))]
    assert labels == [i % 8 for i in range(40)]
    assert set(Counter(labels).values()) == {5}
    assert ds.classes == ["right", "up-right", "up", "up-left", "left", "down-left", "down", "down-right"]
    assert direction_names(4) == ["right", "up", "left", "down"]
    assert direction_names(3) == ["right", "120deg", "240deg"]
    assert np.allclose(direction(1, 4), (0.0, -1.0))  # "up" is -y in image coordinates


def _circular_centroid(mask: np.ndarray) -> np.ndarray:
    """(x, y) centroid of each frame's mask on the unit torus."""
    res = mask.shape[-1]
    c = (np.arange(res) + 0.5) / res
    out = []
    for m in mask:
        ys, xs = np.nonzero(m)
        pos = []
        for coords in (c[xs], c[ys]):
            ang = np.arctan2(np.sin(2 * np.pi * coords).mean(), np.cos(2 * np.pi * coords).mean())
            pos.append((ang / (2 * np.pi)) % 1.0)
        out.append(pos)
    return np.array(out)


@pytest.mark.parametrize("boundary", ["wrap", "inside"])
def test_synthetic_shape_moves_in_the_labelled_direction(boundary: str) -> None:
    ds = SyntheticMotionDataset(48, num_classes=8, boundary=boundary, split="val")
    for i in range(len(ds)):
        clip = ds.render(i)
        frames, mask = clip.frames, clip.mask
        assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
        assert mask.any(axis=(1, 2)).all(), "the shape must be visible in every frame"
        # the background is static: outside the shape's positions, frames equal frame 0
        for t in range(1, 8):
            keep = ~(mask[t] | mask[0])
            assert np.array_equal(frames[t][keep], frames[0][keep])
        # the shape's pixels take the shape's colour, and they move along direction(label)
        cen = _circular_centroid(mask)
        steps = (np.diff(cen, axis=0) + 0.5) % 1.0 - 0.5
        mean_step = steps.mean(axis=0)
        theta = 2 * np.pi * ds.label(i) / 8  # counter-clockwise on screen, where y points down
        d = np.array([np.cos(theta), -np.sin(theta)])
        along = float(mean_step @ d)
        across = float(mean_step @ np.array([-d[1], d[0]]))
        assert along > 0.05, f"clip {i}: moves {along:.3f} per frame along its label direction"
        assert abs(across) < 0.02, f"clip {i}: drifts {across:.3f} per frame across its direction"
        assert along * 32 >= 1.5, "motion must be visible: at least 1.5 px per frame at 32 px"
        if boundary == "inside":  # the whole path stays inside the frame
            assert not (mask[:, 0].any() or mask[:, -1].any() or mask[:, :, 0].any() or mask[:, :, -1].any())


def test_synthetic_single_frame_carries_no_label_information() -> None:
    # With the default wrap boundary every random draw is label-independent: the label only sets
    # the velocity, so the first frame is the SAME clip for every label (its distribution is
    # identical per class) and later frames differ.
    grid = _Grid(32)
    for seed in range(5):
        clips = [render_motion_clip(np.random.default_rng(seed), k, grid, num_classes=8) for k in range(8)]
        for c in clips[1:]:
            assert np.array_equal(c.frames[0], clips[0].frames[0])
            assert not np.array_equal(c.frames[-1], clips[0].frames[-1])
    # positions in a later frame are spread over the frame for every class (uniform on the torus)
    ds = SyntheticMotionDataset(400, num_classes=4, split="val")
    for k in range(4):
        last = np.array([ds.render(i).centres[-1] for i in range(k, 400, 4)])
        assert np.all(np.abs(last.mean(axis=0) - 0.5) < 0.1), f"class {k}: last-frame positions are biased"
        assert (last < 0.25).any(axis=0).all() and (last > 0.75).any(axis=0).all()


def test_synthetic_label_by_shape_fixes_the_kind_and_randomises_the_direction() -> None:
    from jepa_vit.shapes import SHAPES

    by_shape = SyntheticMotionDataset(40, num_classes=8, label_by="shape", split="val")
    by_direction = SyntheticMotionDataset(40, num_classes=8, split="val")
    assert by_shape.classes == list(SHAPES[:8])
    angles = set()
    for i in range(40):
        a, b = by_shape.render(i), by_direction.render(i)
        assert a.kind == SHAPES[by_shape.label(i)]
        np.testing.assert_allclose(a.centres[0], b.centres[0])  # same draws: same start, speed, background
        np.testing.assert_allclose(np.linalg.norm(a.velocity), np.linalg.norm(b.velocity))
        angles.add(round(float(np.degrees(np.arctan2(-a.velocity[1], a.velocity[0]))) % 360))
    assert len(angles) > 30  # directions are continuous, not tied to the label
    same_shape = [by_shape.render(i).velocity for i in range(0, 40, 8)]  # label 0, five clips
    assert len({tuple(np.round(v, 6)) for v in same_shape}) == 5
    with pytest.raises(ValueError, match=r"num_classes=12 is more than the 10 shape kinds"):
        SyntheticMotionConfig(label_by="shape", num_classes=12)


def test_synthetic_plain_background_keeps_only_the_moving_shape() -> None:
    plain = SyntheticMotionDataset(24, background="plain", split="val")
    texture = SyntheticMotionDataset(24, split="val")
    greys = set()
    for i in range(24):
        a, b = plain.render(i), texture.render(i)
        np.testing.assert_allclose(a.centres, b.centres)  # same draws: same shape and motion
        assert np.array_equal(a.mask, b.mask) and np.array_equal(a.frames[a.mask], b.frames[b.mask])
        rest = a.frames[~a.mask]  # [pixels, 3]: one grey everywhere off the shape
        assert (rest == rest[0]).all() and rest[0, 0] == rest[0, 1] == rest[0, 2]
        greys.add(int(rest[0, 0]))
        assert not (b.frames[~b.mask] == b.frames[~b.mask][0]).all()
    assert greys == {64, 191}  # 0.25 and 0.75: dark and light clips
    assert build_synthetic_motion(SyntheticMotionConfig(background="plain"), "val").background == "plain"
    with pytest.raises(ValueError, match="background"):
        SyntheticMotionConfig(background="noise")


def test_synthetic_config_validation() -> None:
    with pytest.raises(ValueError, match=r"num_classes must be in \[2, 16\]"):
        SyntheticMotionConfig(num_classes=1)
    with pytest.raises(ValueError, match=r"num_frames must be >= 2"):
        SyntheticMotionConfig(num_frames=1)
    with pytest.raises(ValueError, match=r"speed must be \(lo, hi\)"):
        SyntheticMotionConfig(speed=(0.2, 0.1))
    with pytest.raises(ValueError, match=r"too fast for boundary='inside' with num_frames=16"):
        SyntheticMotionConfig(boundary="inside", num_frames=16)
    SyntheticMotionConfig(boundary="inside", num_frames=16, speed=(0.03, 0.05))
    with pytest.raises(ValueError, match="boundary"):
        SyntheticMotionConfig(boundary="bounce")
    with pytest.raises(ValueError, match=r"aspect must be"):
        SyntheticMotionConfig(aspect=(1.5, 1.0))


def test_synthetic_spec_conforms_and_is_picklable() -> None:
    spec = _specs()["synthetic_motion"]
    options = spec.example()
    check_dataset_splits(spec, options, name="dataset 'synthetic_motion'")
    x, _ = spec.build(options, "train")[0]
    assert x.shape == (3, 4, 16, 16)
    ds = spec.build(options, "train")
    clone = pickle.loads(pickle.dumps(ds))
    torch.manual_seed(0)
    a = ds[1][0]
    torch.manual_seed(0)
    assert torch.equal(clone[1][0], a)


def test_keyed_dataset_gives_the_same_augmented_clip_for_the_same_key() -> None:
    ds = build_synthetic_motion(SyntheticMotionConfig(num_train=8), "train")
    keyed = KeyedDataset(ds, seed=3)
    a, b = keyed[(0, 0, 0, 5)], keyed[(0, 0, 0, 5)]
    assert torch.equal(a[0], b[0]) and a[1] == 1
    assert not torch.equal(keyed[(1, 0, 0, 5)][0], a[0])  # another epoch, another crop


# ------------------------------------------------------------------ frame folders


def _write_clip(folder: Path, n: int, *, names: str = "frame_{}.png", size=(10, 8), base: int = 0) -> Path:
    """Frame k is a flat image of value ``base + 5 * k`` (so a decoded frame tells its index)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        Image.fromarray(np.full((size[1], size[0], 3), base + 5 * k, dtype=np.uint8)).save(folder / names.format(k))
    return folder


def _indices(frames: np.ndarray, base: int = 0) -> list[int]:
    return [(int(f[0, 0, 0]) - base) // 5 for f in frames]


@pytest.fixture
def class_root(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    _write_clip(root / "push" / "c1", 6)
    _write_clip(root / "push" / "c0", 3)
    _write_clip(root / "pull" / "a", 4, names="img{}.JPG")
    (root / "pull" / "a" / "notes.txt").write_text("not a frame")
    (root / "empty_class").mkdir()
    return root


def test_class_layout_gives_sorted_classes_and_labels(class_root: Path) -> None:
    ds = VideoFramesDataset(class_root, num_frames=2, frame_step=1)
    assert ds.classes == ["empty_class", "pull", "push"]
    names = [(Path(p).relative_to(class_root).as_posix(), y) for p, y in ds.clips]
    assert names == [("pull/a", 1), ("push/c0", 2), ("push/c1", 2)]
    frames, label = ds[0]
    assert frames.shape == (2, 8, 10, 3) and frames.dtype == np.uint8 and label == 1


def test_flat_layout_gives_label_minus_one(tmp_path: Path) -> None:
    _write_clip(tmp_path / "clip_b", 3)
    _write_clip(tmp_path / "clip_a", 3)
    ds = VideoFramesDataset(tmp_path, num_frames=2, frame_step=1)
    assert ds.classes == [] and [Path(p).name for p, _ in ds.clips] == ["clip_a", "clip_b"]
    assert {y for _, y in ds.clips} == {-1} and ds[1][1] == -1


def test_frames_are_in_natural_order(tmp_path: Path) -> None:
    clip = _write_clip(tmp_path / "root" / "c", 12)
    assert [Path(p).name for p in list_frames(str(clip))] == [f"frame_{k}.png" for k in range(12)]
    assert sorted(["b10", "b9", "a10", "A2"], key=natural_key) == ["A2", "a10", "b9", "b10"]
    ds = VideoFramesDataset(tmp_path / "root", num_frames=12, frame_step=1)
    assert _indices(ds[0][0]) == list(range(12))


def test_train_window_starts_randomly_within_bounds_and_eval_window_is_centred(tmp_path: Path) -> None:
    _write_clip(tmp_path / "c", 40)
    # window: 4 frames, 3 apart = 10 frames; valid starts 0..30
    train = VideoFramesDataset(tmp_path, num_frames=4, frame_step=3, random_start=True)
    starts = set()
    for seed in range(30):
        torch.manual_seed(seed)
        idx = _indices(train[0][0])
        assert idx == [idx[0] + 3 * k for k in range(4)] and 0 <= idx[0] <= 30
        starts.add(idx[0])
    assert len(starts) > 5
    torch.manual_seed(7)
    a = _indices(train[0][0])
    torch.manual_seed(7)
    assert _indices(train[0][0]) == a  # the start comes from torch's global RNG
    evaluation = VideoFramesDataset(tmp_path, num_frames=4, frame_step=3)
    assert _indices(evaluation[0][0]) == [15, 18, 21, 24]


def test_short_clip_repeats_its_last_frame(tmp_path: Path) -> None:
    _write_clip(tmp_path / "c", 5)
    for random_start in (False, True):
        ds = VideoFramesDataset(tmp_path, num_frames=4, frame_step=2, random_start=random_start)
        assert _indices(ds[0][0]) == [0, 2, 4, 4]
    assert window_indices(2, 4, 4, 0) == [0, 1, 1, 1]


def test_unreadable_frame_or_empty_clip_is_a_bad_sample(tmp_path: Path) -> None:
    _write_clip(tmp_path / "good", 3)
    bad = _write_clip(tmp_path / "bad", 3)
    (bad / "frame_1.png").write_bytes(b"not a png")
    (tmp_path / "empty").mkdir()
    ds = VideoFramesDataset(tmp_path, num_frames=3, frame_step=1)
    names = [Path(p).name for p, _ in ds.clips]
    with pytest.raises(BadSampleError, match="frame_1.png"):
        ds[names.index("bad")]
    with pytest.raises(BadSampleError, match=r"clip folder '.*empty' holds no frame images"):
        ds[names.index("empty")]
    _write_clip(tmp_path / "odd", 2)
    _write_clip(tmp_path / "odd", 1, names="frame_{}b.png", size=(6, 6))  # frame_0b: another size
    ds = VideoFramesDataset(tmp_path, num_frames=3, frame_step=1)
    with pytest.raises(BadSampleError, match="frame_0b.png"):
        ds[[Path(p).name for p, _ in ds.clips].index("odd")]
    # the core loader skips it and reports it
    keyed = KeyedDataset(ds, seed=0)
    x, _, _, bad_report = keyed[(0, 0, 0, [Path(p).name for p, _ in ds.clips].index("bad"))]
    assert x.shape == (3, 8, 10, 3) and "frame_1.png" in bad_report[0]


def test_bad_roots_raise_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs a data path"):
        VideoFramesDataset(None)
    with pytest.raises(DataError, match="does not exist"):
        VideoFramesDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no clip folders with frame images found"):
        VideoFramesDataset(tmp_path / "empty")
    (tmp_path / "empty" / "a").mkdir()  # only empty folders: still no clip
    with pytest.raises(DataError, match="no clip folders with frame images found"):
        VideoFramesDataset(tmp_path / "empty")
    _write_clip(tmp_path / "flat_frames", 2)
    with pytest.raises(DataError, match="holds frame images directly"):
        VideoFramesDataset(tmp_path / "flat_frames")
    mixed = tmp_path / "mixed"
    _write_clip(mixed / "clip", 2)
    _write_clip(mixed / "cls" / "clip", 2)
    with pytest.raises(DataError, match="mixes clip folders"):
        VideoFramesDataset(mixed)
    both = tmp_path / "both"
    _write_clip(both / "x", 2)
    _write_clip(both / "x" / "inner", 2)
    with pytest.raises(DataError, match="holds both frame images and sub-folders"):
        VideoFramesDataset(both)


def test_val_fraction_holds_out_disjoint_clips(tmp_path: Path) -> None:
    for k in range(10):
        _write_clip(tmp_path / ("a" if k % 2 else "b") / f"clip{k}", 2)
    cfg = VideoFramesConfig(root=str(tmp_path), val_fraction=0.3, resolution=8, num_frames=2, frame_step=1)
    train, train_eval, val = (build_video_frames(cfg, s) for s in ("train", "train_eval", "val"))
    assert train.clips == train_eval.clips and len(val) == 3 and len(train) == 7
    assert not set(train.clips) & set(val.clips)
    assert sorted(train.clips + val.clips) == sorted(VideoFramesDataset(tmp_path).clips)
    assert build_video_frames(cfg, "val").clips == val.clips  # a fixed choice
    assert train.random_start and not train_eval.random_start and not val.random_start
    with pytest.raises(DataError, match="needs data.val_root or data.val_fraction"):
        build_video_frames(VideoFramesConfig(root=str(tmp_path)), "val")


def test_val_root_uses_the_training_class_order(tmp_path: Path) -> None:
    _write_clip(tmp_path / "train" / "a" / "c", 2)
    _write_clip(tmp_path / "train" / "b" / "c", 2)
    _write_clip(tmp_path / "val" / "b" / "c", 2)
    cfg = VideoFramesConfig(root=str(tmp_path / "train"), val_root=str(tmp_path / "val"), num_frames=2, frame_step=1)
    val = build_video_frames(cfg, "val")
    assert val.classes == ["a", "b"] and [y for _, y in val.clips] == [1]
    _write_clip(tmp_path / "val" / "zzz" / "c", 2)
    with pytest.raises(DataError, match="'zzz'.*not one of the training classes"):
        build_video_frames(cfg, "val")


def test_video_frames_config_validation() -> None:
    with pytest.raises(ValueError, match="num_frames must be > 0"):
        VideoFramesConfig(num_frames=0)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        VideoFramesConfig(val_fraction=1.0)
    with pytest.raises(ValueError, match=r"flip must be a probability in \[0, 1\]"):
        VideoFramesConfig(flip=-0.1)
    cfg = VideoFramesConfig()
    defaults = (cfg.num_frames, cfg.frame_step, cfg.crop_scale, cfg.aspect, cfg.flip, cfg.resolution)
    assert defaults == (16, 4, (0.3, 1.0), (0.75, 1.35), 0.5, 224)


def test_video_frames_spec_conforms(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    for cls in ("a", "b"):
        for c in range(2):
            clip = tmp_path / cls / f"clip{c}"
            clip.mkdir(parents=True)
            for k in range(5):
                Image.fromarray(g.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(clip / f"{k}.png")
    spec = _specs()["video_frames"]
    assert spec.example is None
    options = spec.config_type(root=str(tmp_path), resolution=16, num_frames=4, frame_step=2, val_fraction=0.5)
    check_dataset_splits(spec, options, name="dataset 'video_frames'")
    train = spec.build(options, "train")
    torch.manual_seed(0)
    x, y = train[0]
    assert x.shape == (3, 4, 16, 16) and y in (0, 1)
    check_dataset(pickle.loads(pickle.dumps(train)))
