from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from jepa_core.data import build_loader
from jepa_core.views import TokenViewsConfig, TokenViewsMasker
from jepa_image.batch_views import BatchViews, _gaussian_blur, _shift_hue, train_pipeline
from jepa_image.folder import ImageFolderConfig, build_image_folder
from jepa_image.synthetic import SyntheticShapesConfig, build_synthetic
from jepa_image.transforms import IMAGENET_MEAN, IMAGENET_STD, ImageAugmentConfig


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int = 6, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=_gen(seed), dtype=torch.uint8)


def _unnormalise(v: torch.Tensor) -> torch.Tensor:
    return v * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)


def test_views_have_the_configured_shapes_and_follow_the_generator() -> None:
    cfg = ImageAugmentConfig(resolution=16, multi_crop=True, global_crops=2, local_crops=3, color_jitter=2.0, blur=0.5)
    views = BatchViews(cfg)(_images(), _gen(0))
    assert [tuple(v.shape[1:]) for v in views] == cfg.view_shapes() and len(views) == 5
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in views)
    again = BatchViews(cfg)(_images(), _gen(0))
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    other = BatchViews(cfg)(_images(), _gen(1))
    assert not torch.equal(views[0], other[0])
    assert not torch.equal(views[0], views[1])  # each view draws its own crop
    single = BatchViews(attrs.evolve(cfg, multi_crop=False))(_images(), _gen(0))
    assert isinstance(single, torch.Tensor) and single.shape == (6, 3, 16, 16)


def test_crops_cover_the_drawn_fraction_and_flips_reverse_some_samples() -> None:
    ramp = torch.linspace(0, 255, 32).round().to(torch.uint8).view(1, 1, 1, 32).expand(64, 3, 32, 32).contiguous()
    cfg = ImageAugmentConfig(resolution=32, crop_scale=(0.3, 0.3))
    x = _unnormalise(BatchViews(cfg)(ramp, _gen(0)))[:, 0, 0, :]  # [B, W]: the ramp's red row
    span = x[:, -1] - x[:, 0]
    assert (span > 0).all()  # no flips: every crop keeps the ramp increasing
    # area 0.3 at aspect ratios in [3/4, 4/3]: the crop spans sqrt(0.3 r) of the width
    assert span.min() > 0.45 * 31 / 32 and span.max() < 0.64
    flipped = _unnormalise(BatchViews(attrs.evolve(cfg, flip=True))(ramp, _gen(0)))[:, 0, 0, :]
    decreasing = (flipped[:, -1] < flipped[:, 0]).float().mean()
    assert 0.25 < decreasing < 0.75


def test_jitter_keeps_grey_images_grey_and_greyscale_turns_colour_grey() -> None:
    grey = _images(8, 16)[:, :1].expand(-1, 3, -1, -1).contiguous()
    jittered = _unnormalise(BatchViews(ImageAugmentConfig(resolution=16, color_jitter=2.0))(grey, _gen(0)))
    assert torch.allclose(jittered[:, 0], jittered[:, 1], atol=1e-5)
    assert torch.allclose(jittered[:, 1], jittered[:, 2], atol=1e-5)
    always = _unnormalise(BatchViews(ImageAugmentConfig(resolution=16, grayscale=1.0))(_images(8, 16), _gen(0)))
    assert torch.allclose(always[:, 0], always[:, 2], atol=1e-5)
    colour = _unnormalise(BatchViews(ImageAugmentConfig(resolution=16))(_images(8, 16), _gen(0)))
    assert not torch.allclose(colour[:, 0], colour[:, 2], atol=1e-2)


def test_hue_shift_equals_torchvisions_per_sample() -> None:
    x = _images(4, 8).float() / 255
    shift = torch.tensor([-0.4, -0.1, 0.05, 0.3])
    ours = _shift_hue(x, shift)
    for i in range(4):
        assert torch.allclose(ours[i], TF.adjust_hue(x[i], float(shift[i])), atol=1e-5)


def test_blur_equals_torchvisions_per_sample() -> None:
    x = _images(3, 12).float() / 255
    sigma = torch.tensor([0.3, 1.0, 2.0])
    ours = _gaussian_blur(x, sigma, 5)
    for i in range(3):
        ref = TF.gaussian_blur(x[i], kernel_size=[5, 5], sigma=[float(sigma[i])] * 2)
        assert torch.allclose(ours[i], ref, atol=1e-5)


def _write_folder(root: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        path = root / f"c{i % 2}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(path)  # grey, 28 px
    return root


def test_a_folder_with_batch_views_gives_views_deterministic_by_position(tmp_path: Path) -> None:
    cfg = ImageFolderConfig(
        root=str(_write_folder(tmp_path / "train")), resolution=32, multi_crop=True, local_crops=0, batch_views=True
    )
    ds = build_image_folder(cfg, "train")
    x, _ = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8  # the source the collate crops from
    assert isinstance(ds.batch_transform, BatchViews)
    masker = TokenViewsMasker(TokenViewsConfig(global_views=2, local_views=0))
    kwargs = dict(grid=(4, 4), micro_batch=4, seed=3)
    batches = list(build_loader(ds, masker, **kwargs))
    assert len(batches) == 3 and [tuple(v.shape) for v in batches[0].inputs] == [(4, 3, 32, 32)] * 2
    resumed = build_loader(build_image_folder(cfg, "train"), masker, **kwargs)
    resumed.batch_sampler.set_epoch(0, start_step=2)
    assert all(torch.equal(a, b) for a, b in zip(next(iter(resumed)).inputs, batches[2].inputs, strict=True))
    assert build_image_folder(cfg, "train_eval").batch_transform is None  # probes read plain images
    assert build_image_folder(attrs.evolve(cfg, batch_views=False), "train").batch_transform is None


def test_synthetic_shapes_take_batch_views() -> None:
    cfg = SyntheticShapesConfig(num_train=8, resolution=32, batch_views=True, color_jitter=1.0)
    ds = build_synthetic(cfg, "train")
    assert isinstance(ds.batch_transform, BatchViews) and ds[0][0].dtype == torch.uint8
    assert build_synthetic(cfg, "val").batch_transform is None


def test_synthetic_batch_view_samples_are_the_drawn_images_and_draw_nothing() -> None:
    """Read without the PIL round trip: what batch_source_transform makes of each image."""
    import random

    from jepa_image.batch_views import batch_source_transform

    cfg = SyntheticShapesConfig(num_train=6, resolution=24, batch_views=True)
    ds = build_synthetic(cfg, "train")
    source = batch_source_transform(24)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    for i in range(len(ds)):
        x, y = ds[i]
        assert torch.equal(x, source(ds.image(i))) and x.shape == (3, 24, 24) and y == ds.label(i)
    assert states[0] == random.getstate() and np.array_equal(states[1], np.random.get_state()[1])
    assert torch.equal(states[2], torch.get_rng_state())
    assert ds.deterministic_reads  # so the loader reads them without seeding the host RNGs
    assert not build_synthetic(attrs.evolve(cfg, batch_views=False), "train").deterministic_reads


@pytest.mark.parametrize("batch_views", [False, True])
def test_train_pipeline_picks_the_per_image_or_the_batch_path(batch_views: bool) -> None:
    per_image, batch = train_pipeline(ImageAugmentConfig(resolution=16, batch_views=batch_views))
    out = per_image(Image.new("L", (20, 20), 128))
    assert (batch is not None) == batch_views
    assert out.dtype == (torch.uint8 if batch_views else torch.float32) and out.shape == (3, 16, 16)


def test_grey_batches_skip_the_hue_shift_and_get_the_same_views(monkeypatch) -> None:
    import jepa_image.batch_views as bv

    grey = _images(8, 16)[:, :1].expand(-1, 3, -1, -1).contiguous()
    cfg = ImageAugmentConfig(resolution=16, multi_crop=True, local_crops=1, color_jitter=2.0, grayscale=0.2)
    shifted = []
    real_shift = bv._shift_hue
    monkeypatch.setattr(bv, "_shift_hue", lambda x, s: shifted.append(1) or real_shift(x, s))
    fast = BatchViews(cfg)(grey, _gen(0))
    assert not shifted  # grey: the hue shift was skipped
    monkeypatch.setattr(bv, "_all_grey", lambda x: False)
    full = BatchViews(cfg)(grey, _gen(0))
    assert shifted  # ... and forced here
    assert all(torch.equal(a, b) for a, b in zip(fast, full, strict=True))  # bit for bit the same views
    BatchViews(attrs.evolve(cfg, grayscale=0.0))(_images(8, 16), _gen(0))
    assert len(shifted) > 3  # colour batches are shifted


def test_the_cache_returns_each_decoded_image_without_reading_it_again(tmp_path: Path, monkeypatch) -> None:
    import jepa_image.folder as folder

    cfg = ImageFolderConfig(root=str(_write_folder(tmp_path / "train")), resolution=32, batch_views=True, cache=True)
    ds = build_image_folder(cfg, "train")
    first = [ds[i] for i in range(len(ds))]
    monkeypatch.setattr(folder, "load_8bit", lambda path: pytest.fail(f"read {path} again"))
    again = [ds[i] for i in range(len(ds))]
    assert all(torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, again, strict=True))
    uncached = build_image_folder(attrs.evolve(cfg, cache=False), "train")
    with pytest.raises(pytest.fail.Exception, match="read .* again"):
        uncached[0]
    assert ds.deterministic_reads and uncached.deterministic_reads  # batch views: the reads draw nothing
    per_image = build_image_folder(attrs.evolve(cfg, cache=False, batch_views=False), "train")
    assert not per_image.deterministic_reads


def test_a_cached_folder_trains_on_the_same_batches(tmp_path: Path) -> None:
    cfg = ImageFolderConfig(
        root=str(_write_folder(tmp_path / "train")), resolution=32, multi_crop=True, local_crops=0, batch_views=True
    )
    masker = TokenViewsMasker(TokenViewsConfig(global_views=2, local_views=0))
    kwargs = dict(grid=(4, 4), micro_batch=4, seed=3)
    plain = build_loader(build_image_folder(cfg, "train"), masker, **kwargs)
    cached = build_loader(build_image_folder(attrs.evolve(cfg, cache=True), "train"), masker, **kwargs)
    for epoch in range(2):  # the second epoch reads from the cache
        plain.batch_sampler.set_epoch(epoch)
        cached.batch_sampler.set_epoch(epoch)
        for a, b in zip(plain, cached, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(a.inputs, b.inputs, strict=True))
            assert torch.equal(a.labels, b.labels)


def test_the_cache_needs_batch_views_and_memory_for_the_images() -> None:
    from jepa_core.errors import DataError
    from jepa_image.folder import check_cache_fits

    with pytest.raises(ValueError, match=r"^cache=true needs batch_views=true"):
        ImageFolderConfig(resolution=32, cache=True)
    check_cache_fits(60_000, 32, memory=8 * 2**30)  # 184 MB of 8 GiB
    with pytest.raises(
        DataError, match=r"^data\.cache=true would keep 1,281,167 images of 224 px in memory, about 179\.6 GiB"
    ):
        check_cache_fits(1_281_167, 224, memory=24 * 2**30)
