"""Image datasets of the jepa_image plugin: folder layouts, errors, splits, synthetic shapes."""

from __future__ import annotations

import pickle
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import jepa_image.synthetic as synthetic_module
from jepa_core.errors import BadSampleError, DataError
from jepa_core.specs import DatasetSpec
from jepa_image.datasets import dataset_specs
from jepa_image.folder import ImageFolderConfig, ImageFolderDataset, build_image_folder, split_holdout
from jepa_image.synthetic import (
    SHAPES,
    SyntheticShapesConfig,
    SyntheticShapesDataset,
    build_synthetic,
    shape_mask,
)
from jepa_image.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageAugmentConfig,
    eval_transform,
    tensor_transform,
    train_transform,
    train_views,
)


def _write_image(path: Path, size: tuple[int, int] = (20, 16), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def class_tree(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    _write_image(root / "dog" / "b.png")
    _write_image(root / "dog" / "a.PNG", seed=1)
    _write_image(root / "cat" / "sub" / "c.jpg", seed=2)
    _write_image(root / "cat" / "d.bmp", seed=3)
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "empty_class").mkdir()
    return root


# ------------------------------------------------------------------------ folders


def test_class_subfolders_give_sorted_classes_and_labels(class_tree: Path) -> None:
    ds = ImageFolderDataset(class_tree)
    assert ds.classes == ["cat", "dog", "empty_class"]
    names = [(Path(p).relative_to(class_tree).as_posix(), y) for p, y in ds.samples]
    assert names == [("cat/d.bmp", 0), ("cat/sub/c.jpg", 0), ("dog/a.PNG", 1), ("dog/b.png", 1)]
    image, label = ds[2]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 1


def test_build_train_split_returns_normalised_crops(class_tree: Path) -> None:
    ds = build_image_folder(ImageFolderConfig(root=str(class_tree), resolution=32), "train")
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 0


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    for name in ("z.webp", "a.jpeg", "m.TIF"):
        _write_image(tmp_path / name)
    ds = ImageFolderDataset(tmp_path, eval_transform(24))
    assert [Path(p).name for p, _ in ds.samples] == ["a.jpeg", "m.TIF", "z.webp"]
    assert ds.classes == [] and {y for _, y in ds.samples} == {-1}
    assert ds[1][0].shape == (3, 24, 24)


def test_root_none_missing_file_and_empty_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data PATH"):
        build_image_folder(ImageFolderConfig(), "train")
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="does not exist") as err:
        ImageFolderDataset(missing)
    assert str(missing) in str(err.value)
    a_file = _write_image(tmp_path / "one.png")
    with pytest.raises(DataError, match="not a directory"):
        ImageFolderDataset(a_file)
    empty = tmp_path / "empty"
    (empty / "cls").mkdir(parents=True)
    (empty / "cls" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no images found") as err:
        ImageFolderDataset(empty)
    assert str(empty) in str(err.value) and "jpg" in str(err.value) and "webp" in str(err.value)


def test_images_mixed_with_class_folders_is_a_data_error(class_tree: Path) -> None:
    _write_image(class_tree / "stray.png")
    with pytest.raises(DataError, match="holds both images and sub-folders"):
        ImageFolderDataset(class_tree)


@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_unreadable_image_raises_bad_sample_naming_the_file(tmp_path: Path, kind: str) -> None:
    good = _write_image(tmp_path / "a_good.png")
    bad = tmp_path / "b_bad.jpg"
    if kind == "truncated":
        _write_image(bad, size=(64, 64))
        data = bad.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad.write_bytes(b"this is not a jpeg at all" * 10)
    ds = build_image_folder(ImageFolderConfig(root=str(tmp_path), resolution=16), "train")
    assert ds.samples[0][0] == str(good)
    assert ds[0][0].shape == (3, 16, 16)
    with pytest.raises(BadSampleError) as err:
        ds[1]
    assert str(bad) in str(err.value)


def test_val_fraction_split_is_disjoint_and_deterministic(tmp_path: Path) -> None:
    for i in range(20):
        _write_image(tmp_path / f"cls{i % 2}" / f"{i:02d}.png", size=(8, 8), seed=i)
    cfg = ImageFolderConfig(root=str(tmp_path), val_fraction=0.25, resolution=8)
    train, val = build_image_folder(cfg, "train"), build_image_folder(cfg, "val")
    train_paths, val_paths = {p for p, _ in train.samples}, {p for p, _ in val.samples}
    assert len(val_paths) == 5 and len(train_paths) == 15 and not train_paths & val_paths
    assert build_image_folder(cfg, "val").samples == val.samples
    assert train.classes == val.classes == ["cls0", "cls1"]
    assert split_holdout(20, 0.25) == split_holdout(20, 0.25)


def test_val_split_needs_val_root_or_fraction(class_tree: Path) -> None:
    with pytest.raises(DataError, match="data.val_root or data.val_fraction"):
        build_image_folder(ImageFolderConfig(root=str(class_tree)), "val")


def test_val_root_labels_follow_training_classes(class_tree: Path, tmp_path: Path) -> None:
    val_root = tmp_path / "val"
    _write_image(val_root / "dog" / "v.png")
    cfg = ImageFolderConfig(root=str(class_tree), val_root=str(val_root), resolution=16)
    val = build_image_folder(cfg, "val")
    assert val.classes == ["cat", "dog", "empty_class"] and val.samples[0][1] == 1
    assert val[0][0].shape == (3, 16, 16)
    _write_image(val_root / "zebra" / "z.png")
    with pytest.raises(DataError, match="zebra"):
        build_image_folder(cfg, "val")


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        ImageFolderConfig(crop_scale=(0.9, 0.3))
    with pytest.raises(ValueError):
        ImageFolderConfig(val_fraction=1.0)
    with pytest.raises(ValueError):
        SyntheticShapesConfig(num_classes=len(SHAPES) + 1)
    with pytest.raises(ValueError):
        SyntheticShapesDataset(10, num_classes=len(SHAPES) + 1)


def test_transforms_normalise_with_imagenet_stats() -> None:
    grey = Image.new("RGB", (40, 30), (124, 116, 104))
    x = eval_transform(16)(grey)
    expected = (torch.tensor([124, 116, 104]) / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert x.shape == (3, 16, 16)
    torch.testing.assert_close(x.mean((1, 2)), expected.float(), atol=1e-3, rtol=0)
    torch.manual_seed(3)
    a = train_transform(16)(grey.resize((64, 64)))
    assert a.shape == (3, 16, 16)


def test_eval_crop_sets_the_share_of_the_resized_image_that_evaluation_reads() -> None:
    # a 32 px image whose outer 2-pixel frame is white and the rest black
    pixels = np.full((32, 32, 3), 255, dtype=np.uint8)
    pixels[2:-2, 2:-2] = 0
    img = Image.fromarray(pixels)
    white = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    whole = eval_transform(32, 1.0)(img)
    assert whole.shape == (3, 32, 32)
    torch.testing.assert_close(whole[:, 0, 16], white, atol=0.05, rtol=0)  # the frame is kept
    default = eval_transform(32)(img)  # resized to 36, central 32: the frame is cut off
    assert default.shape == (3, 32, 32) and float(default[:, :, 16].max()) < 0
    assert [t.size for t in eval_transform(224).transforms[:2]] == [256, (224, 224)]  # ImageNet's 256 -> 224


def test_a_folder_val_split_uses_eval_crop_and_bad_values_name_the_range(class_tree: Path) -> None:
    cfg = ImageFolderConfig(root=str(class_tree), resolution=16, val_fraction=0.5, eval_crop=1.0)
    assert build_image_folder(cfg, "val").transform.transforms[0].size == 16
    assert build_image_folder(attrs.evolve(cfg, eval_crop=0.5), "val").transform.transforms[0].size == 32
    for bad in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match=r"eval_crop must be in \(0, 1\]"):
            ImageFolderConfig(eval_crop=bad)


GREY_VIEW_CONFIGS = {
    "crop": ImageAugmentConfig(resolution=24),
    "flip and jitter": ImageAugmentConfig(resolution=24, flip=True, color_jitter=2.0),
    "jitter, greyscale, blur": ImageAugmentConfig(resolution=24, color_jitter=4.0, grayscale=0.5, blur=0.5),
    "multi-crop": ImageAugmentConfig(resolution=24, multi_crop=True, color_jitter=2.0, grayscale=0.2),
}


@pytest.mark.parametrize("name", list(GREY_VIEW_CONFIGS))
def test_a_one_channel_image_gives_the_views_of_its_rgb_copy_bit_for_bit(name: str) -> None:
    grey = Image.fromarray(np.random.default_rng(1).integers(0, 256, (36, 40), dtype=np.uint8), mode="L")
    tf = train_views(GREY_VIEW_CONFIGS[name])
    for seed in range(12):
        torch.manual_seed(seed)
        from_grey, after_grey = tf(grey), torch.rand(1)
        torch.manual_seed(seed)
        from_rgb, after_rgb = tf(grey.convert("RGB")), torch.rand(1)
        for a, b in zip(*(v if isinstance(v, tuple) else (v,) for v in (from_grey, from_rgb)), strict=True):
            assert a.shape[0] == 3 and torch.equal(a, b)
        assert torch.equal(after_grey, after_rgb)  # the same random draws: the RNG stream is unchanged
    for fixed in (eval_transform(24), tensor_transform()):
        assert torch.equal(fixed(grey), fixed(grey.convert("RGB")))


def test_the_folder_dataset_reads_grey_files_as_one_channel_and_gives_the_same_tensors(tmp_path: Path) -> None:
    for i in range(2):
        pixels = np.random.default_rng(i).integers(0, 256, (28, 28), dtype=np.uint8)
        (tmp_path / f"c{i}").mkdir()
        Image.fromarray(pixels, mode="L").save(tmp_path / f"c{i}" / "x.png")
    ds = build_image_folder(ImageFolderConfig(root=str(tmp_path), resolution=16, color_jitter=2.0), "train")
    rgb = ImageFolderDataset(tmp_path, ds.transform)
    assert ds.keep_grey and not rgb.keep_grey and ImageFolderDataset(tmp_path)[0][0].mode == "RGB"
    for i in range(2):
        torch.manual_seed(i)
        a = ds[i]
        torch.manual_seed(i)
        assert torch.equal(a[0], rgb[i][0]) and a[1] == i


# ---------------------------------------------------------------------- synthetic


def _load(ds: SyntheticShapesDataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(ds[i] for i in range(n)), strict=True)
    return torch.stack(xs), torch.tensor(ys)


def test_synthetic_is_a_pure_function_of_seed_split_index() -> None:
    cfg = SyntheticShapesConfig(resolution=32, augment=False)
    a, b = build_synthetic(cfg, "train"), build_synthetic(cfg, "train")
    assert torch.equal(a[5][0], b[5][0]) and a[5][1] == b[5][1]
    assert a[5][0].shape == (3, 32, 32) and a[5][0].dtype == torch.float32
    other_seed = build_synthetic(attrs.evolve(cfg, seed=1), "train")
    assert not torch.equal(a[5][0], other_seed[5][0])
    val = build_synthetic(cfg, "val")
    assert len(a) == 2048 and len(val) == 512
    assert not torch.equal(a[5][0], val[5][0])
    restored = pickle.loads(pickle.dumps(a))
    assert torch.equal(restored[5][0], a[5][0])


def test_synthetic_images_are_drawn_once_per_process_and_kept_while_they_fit(monkeypatch) -> None:
    drawn: list[int] = []
    real = synthetic_module.render_shape_image
    monkeypatch.setattr(
        synthetic_module, "render_shape_image", lambda rng, label, grid: drawn.append(label) or real(rng, label, grid)
    )
    ds = SyntheticShapesDataset(16, resolution=16, split="val")
    first = [np.asarray(ds.image(i)) for i in range(16)]
    again = [np.asarray(ds.image(i)) for i in range(16)]
    assert len(drawn) == 16  # the second pass read what the first drew
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    fresh = SyntheticShapesDataset(16, resolution=16, split="val")
    assert all(np.array_equal(np.asarray(fresh.image(i)), a) for i, a in enumerate(first))  # same pixels as drawn anew
    with pytest.raises(IndexError, match="out of range"):
        ds.image(16)
    monkeypatch.setattr(synthetic_module, "KEEP_RENDERED_BYTES", 16 * 16 * 3 * 15)  # one image short of fitting
    drawn.clear()
    too_many = SyntheticShapesDataset(16, resolution=16, split="val")
    for _ in range(2):
        too_many.image(3)
    assert len(drawn) == 2  # not kept: drawn at every read


def test_synthetic_augmentation_follows_torch_rng() -> None:
    ds = build_synthetic(SyntheticShapesConfig(resolution=32, augment=True), "train")
    torch.manual_seed(7)
    first = ds[3][0]
    torch.manual_seed(7)
    assert torch.equal(ds[3][0], first)
    assert not torch.equal(ds[3][0], first)  # RNG has moved on: a different crop
    assert first.shape == (3, 32, 32)
    val = build_synthetic(SyntheticShapesConfig(resolution=32, augment=True), "val")
    assert torch.equal(val[3][0], val[3][0])  # val is never cropped


def test_synthetic_labels_balanced_and_classes_look_different() -> None:
    ds = SyntheticShapesDataset(160, resolution=32, num_classes=8, split="val")
    x, y = _load(ds, 160)
    assert torch.bincount(y).tolist() == [20] * 8
    assert ds.classes == list(SHAPES[:8])
    means = torch.stack([x[y == k].abs().mean(0) for k in range(8)]).flatten(1)
    assert torch.pdist(means).min() > 0.05
    grid = np.linspace(-1.2, 1.2, 64)
    u, v = np.meshgrid(grid, grid)
    masks = [shape_mask(k, u, v) for k in SHAPES]
    for i in range(len(SHAPES)):
        for j in range(i + 1, len(SHAPES)):
            iou = (masks[i] & masks[j]).sum() / (masks[i] | masks[j]).sum()
            assert iou < 0.8, (SHAPES[i], SHAPES[j], iou)


def _ridge_accuracy(train: torch.Tensor, y_train: torch.Tensor, val: torch.Tensor, y_val: torch.Tensor) -> float:
    mu, sd = train.mean(0), train.std(0) + 1e-6
    a = F.pad((train - mu) / sd, (0, 1), value=1.0)
    b = F.pad((val - mu) / sd, (0, 1), value=1.0)
    targets = F.one_hot(y_train).float()
    w = torch.linalg.solve(a.T @ a + 100.0 * torch.eye(a.shape[1]), a.T @ targets)
    return ((b @ w).argmax(1) == y_val).float().mean().item()


def _shift_invariant_features(x: torch.Tensor, k: int = 10) -> torch.Tensor:
    grey = x.mean(1)
    edges = (grey[:, :-1, 1:] - grey[:, :-1, :-1]).abs() + (grey[:, 1:, :-1] - grey[:, :-1, :-1]).abs()
    spectrum = torch.fft.rfft2(edges).abs()  # magnitude: invariant to the object's position
    return torch.log1p(torch.cat([spectrum[:, :k, :k], spectrum[:, -k:, :k]], 1)).flatten(1)


def test_synthetic_shapes_are_linearly_learnable_from_simple_features() -> None:
    cfg = SyntheticShapesConfig(resolution=64, augment=False)
    x_tr, y_tr = _load(build_synthetic(cfg, "train"), 400)
    x_va, y_va = _load(build_synthetic(cfg, "val"), 200)
    chance = 1 / cfg.num_classes
    pooled_tr, pooled_va = (F.adaptive_avg_pool2d(x, 8).flatten(1) for x in (x_tr, x_va))
    pixels = _ridge_accuracy(pooled_tr, y_tr, pooled_va, y_va)
    spectral = _ridge_accuracy(_shift_invariant_features(x_tr), y_tr, _shift_invariant_features(x_va), y_va)
    print(f"linear probe val acc: 8x8 pixels {pixels:.3f}, edge spectrum {spectral:.3f}, chance {chance:.3f}")
    # Class = shape only (position, size, colour random): raw pixels stay near chance, while
    # a shift-invariant view makes it easy, so a good encoder's probe has room to show.
    assert spectral > 0.6
    assert pixels < spectral


# ------------------------------------------------------------------------- specs


def test_dataset_specs_build_both_datasets(tmp_path: Path) -> None:
    specs = {s.name: s for s in dataset_specs()}
    assert set(specs) == {"image_folder", "synthetic_shapes"}
    assert all(isinstance(s, DatasetSpec) and s.kind == "dataset" and s.description for s in specs.values())
    assert specs["image_folder"].config_type is ImageFolderConfig
    _write_image(tmp_path / "x.png")
    folder = specs["image_folder"].build(ImageFolderConfig(root=str(tmp_path), resolution=8), "train")
    assert folder[0][0].shape == (3, 8, 8) and folder[0][1] == -1
    synth = specs["synthetic_shapes"].build(specs["synthetic_shapes"].config_type(resolution=16), "val")
    assert synth[0][0].shape == (3, 16, 16) and synth[0][1] == 0
