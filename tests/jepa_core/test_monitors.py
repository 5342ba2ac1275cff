"""TensorBoard monitors: collapse statistics, mask pictures, when the callbacks fire, that they
leave training bit-identical, the config fields, and the scalars/images of a toy train_run."""

from __future__ import annotations

import math

import attrs
import pytest
import torch
from torch import nn

from jepa_core.config import TrainConfig, apply_overrides
from jepa_core.data import build_loader
from jepa_core.errors import ConfigError
from jepa_core.interfaces import MaskSet
from jepa_core.monitors import (
    CONTEXT_COLOUR,
    TARGET_COLOURS,
    UNUSED_COLOUR,
    CollapseMonitor,
    MaskPictures,
    can_overlay,
    effective_rank,
    feature_spread,
    lidar,
    mask_picture,
    overlay_picture,
)
from jepa_core.run import build_dataset, build_parts, train_run
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer
from tests import toy_seq_plugin

COLLAPSE_KEYS = {
    "monitor/target_feature_std",
    "monitor/target_effective_rank",
    "monitor/context_feature_std",
    "monitor/context_effective_rank",
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/jepa_core/conftest.py


class FakeWriter:
    """Records add_scalar / add_image calls as (tag, step[, value])."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, int, float]] = []
        self.images: list[tuple[str, int, torch.Tensor]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, step, value))

    def add_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.images.append((tag, step, image))


# ------------------------------------------------------------------ pure functions
def test_feature_spread_is_zero_for_identical_rows_and_about_one_for_random_rows():
    g = torch.Generator().manual_seed(0)
    row = torch.randn(1, 64, generator=g)
    assert feature_spread(row.expand(256, -1)).item() < 1e-5
    assert feature_spread(row.expand(256, -1) * torch.rand(256, 1, generator=g) + 1).item() < 0.3  # one direction
    random_rows = feature_spread(torch.randn(512, 64, generator=g)).item()
    assert 0.85 < random_rows < 1.05  # sqrt(D)-scaled: isotropic ~ 1 whatever D
    assert 0.85 < feature_spread(torch.randn(512, 768, generator=g)).item() < 1.05


def test_effective_rank_counts_the_directions_of_spread():
    g = torch.Generator().manual_seed(0)
    rank1 = torch.randn(128, 1, generator=g) * torch.randn(1, 32, generator=g) + torch.randn(1, 32, generator=g)
    assert effective_rank(rank1).item() == pytest.approx(1.0, abs=0.02)
    iso = torch.randn(4096, 16, generator=g)
    assert 15.0 < effective_rank(iso).item() <= 16.0
    rank3 = torch.randn(256, 3, generator=g) @ torch.linalg.qr(torch.randn(32, 3, generator=g))[0].T
    assert 2.5 < effective_rank(rank3).item() <= 3.0 + 1e-4
    assert effective_rank(torch.randn(1, 32, generator=g).expand(64, -1) * 1e3).item() == 0.0  # constant rows
    bad = iso.clone()
    bad[0, 0] = float("nan")
    assert math.isnan(effective_rank(bad).item())


def test_lidar_counts_the_directions_that_separate_samples_more_than_their_views():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(32, 32, generator=g))[0]  # orthonormal columns

    def views(directions: int, noise: float = 0.01, n: int = 512, q: int = 4) -> torch.Tensor:
        centres = torch.randn(n, 1, directions, generator=g) @ basis[:, :directions].T  # [n, 1, 32]
        return centres + noise * torch.randn(n, q, 32, generator=g)

    assert lidar(views(1)).item() == pytest.approx(1.0, abs=0.05)
    assert 2.8 < lidar(views(3)).item() <= 3.05
    assert 30.0 < lidar(views(32)).item() <= 32.0  # sampling spreads the eigenvalues of 512 samples a little
    three = views(3)
    assert lidar(three * 1e4).item() == pytest.approx(lidar(three).item(), rel=1e-4)  # scale-free
    # unlike RankMe, LiDAR is relative to the views' spread: views much noisier than the signal read
    # as many directions, none of them discriminant
    assert lidar(views(8, noise=10.0)).item() > 20
    # the ridge: 6 directions as discriminant as 2 others but with a millionth of their variance
    # do not count ...
    strong = torch.randn(512, 1, 2, generator=g) + 0.01 * torch.randn(512, 4, 2, generator=g)
    faint = 1e-3 * (torch.randn(512, 1, 6, generator=g) + 0.01 * torch.randn(512, 4, 6, generator=g))
    mixed = torch.cat([strong, faint], dim=-1) @ basis[:, :8].T  # [512, 4, 32]
    assert lidar(mixed).item() == pytest.approx(2.0, abs=0.2)
    assert lidar(mixed, delta=1e-12).item() > 7  # ... unless the ridge is negligible
    assert lidar(torch.ones(64, 4, 32)).item() == 0.0  # identical features
    bad = views(3)
    bad[0, 0, 0] = float("nan")
    assert math.isnan(lidar(bad).item())
    with pytest.raises(ValueError, match="at least 2 samples of 2 views"):
        lidar(torch.randn(8, 1, 4))


def _colour_at(picture: torch.Tensor, row: int, col: int, scale: int) -> tuple[int, ...]:
    square = picture[:, row * scale : (row + 1) * scale, col * scale : (col + 1) * scale].reshape(3, -1)
    assert (square == square[:, :1]).all(), "a token square must be one colour"
    return tuple(square[:, 0].tolist())


def test_mask_picture_colours_exactly_the_context_and_target_tokens_on_a_2d_grid():
    grid, scale = (3, 4), 2
    masks = MaskSet(
        context=torch.tensor([[0, 1, 4], [11, 10, 9]]),
        targets=torch.tensor([[[5, 6], [6, 7]], [[0, 1], [2, 3]]]),  # sample 0: blocks overlap at 6
    )
    pic = mask_picture(masks, grid, 0, scale=scale)
    assert pic.dtype == torch.uint8 and pic.shape == (3, 3 * scale, 4 * scale)
    expected = {
        0: CONTEXT_COLOUR,
        1: CONTEXT_COLOUR,
        4: CONTEXT_COLOUR,
        5: TARGET_COLOURS[0],
        6: TARGET_COLOURS[1],
        7: TARGET_COLOURS[1],
    }
    for token in range(12):
        assert _colour_at(pic, token // 4, token % 4, scale) == expected.get(token, UNUSED_COLOUR), token
    other = mask_picture(masks, grid, 1, scale=scale)
    assert _colour_at(other, 2, 3, scale) == CONTEXT_COLOUR and _colour_at(other, 0, 2, scale) == TARGET_COLOURS[1]
    assert len({CONTEXT_COLOUR, UNUSED_COLOUR, *TARGET_COLOURS}) == 2 + len(TARGET_COLOURS)  # all distinct


def test_mask_picture_of_a_1d_grid_is_a_strip_and_of_a_3d_grid_is_frames_side_by_side():
    masks = MaskSet(context=torch.tensor([[0, 1]]), targets=torch.tensor([[[4, 5]]]))
    strip = mask_picture(masks, (6,), 0, scale=3)
    assert strip.shape == (3, 3, 18)
    assert [_colour_at(strip, 0, i, 3) for i in range(6)] == [
        CONTEXT_COLOUR,
        CONTEXT_COLOUR,
        UNUSED_COLOUR,
        UNUSED_COLOUR,
        TARGET_COLOURS[0],
        TARGET_COLOURS[0],
    ]
    video = mask_picture(MaskSet(torch.tensor([[0]]), torch.tensor([[[7]]])), (2, 2, 2), 0, scale=2, gap=1)
    assert video.shape == (3, 4, 2 * 4 + 1)
    assert (video[:, :, 4] == 255).all()  # the white gap between the frames
    assert _colour_at(video, 0, 0, 2) == CONTEXT_COLOUR
    assert tuple(video[:, 2:, 7:].reshape(3, -1)[:, 0].tolist()) == TARGET_COLOURS[0]  # frame 1, token (1, 1)


def test_overlay_blends_the_colours_over_the_min_max_scaled_image():
    image = torch.full((3, 8, 8), -2.0)
    image[:, 0, 0] = 6.0  # min -2 -> 0, max 6 -> 1
    masks = MaskSet(context=torch.tensor([[0]]), targets=torch.tensor([[[3]]]))
    pic = overlay_picture(image, masks, (2, 2), 0, alpha=0.5)
    assert pic.shape == (3, 8, 8) and pic.dtype == torch.uint8
    assert pic[:, 5, 5].tolist() == [round(c / 2) for c in TARGET_COLOURS[0]]  # black pixel under target
    assert pic[:, 0, 0].tolist() == [round(127.5 + c / 2) for c in CONTEXT_COLOUR]  # white pixel under context
    assert can_overlay(torch.zeros(2, 1, 28, 28), (7, 7)) and not can_overlay(torch.zeros(2, 3, 30, 30), (7, 7))
    assert not can_overlay(torch.zeros(2, 64), (16,))


# --------------------------------------------------------------------- callbacks
def _toy(registry, *, n: int = 64, micro: int = 8, steps: int = 8):
    cfg = toy_seq_plugin.toy_config()
    cfg = attrs.evolve(cfg, data=attrs.evolve(cfg.data, options=attrs.evolve(cfg.data.options, num_samples=n)))
    parts = build_parts(cfg, registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=steps)
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    loader = build_loader(
        build_dataset(cfg, registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=micro, seed=0
    )
    return trainer, loader


def test_callbacks_fire_only_every_n_steps(toy_registry):
    trainer, loader = _toy(toy_registry)
    writer = FakeWriter()
    logger = type("Logger", (), {"writer": writer})()  # a ProgressLogger-like holder of the writer
    collapse = CollapseMonitor(logger, every=3)
    pictures = MaskPictures(writer, every=2, max_samples=3)
    trainer.fit(loader, epochs=1, max_steps=7, callbacks=[collapse, pictures])
    assert sorted({s for _, s, _ in writer.scalars}) == [3, 6]
    assert {t for t, s, _ in writer.scalars if s == 3} == COLLAPSE_KEYS and len(writer.scalars) == 8
    assert all(math.isfinite(v) for _, _, v in writer.scalars)
    assert [(t, s) for t, s, _ in writer.images] == [("masks", 2), ("masks", 4), ("masks", 6)]  # 1-D: no overlay
    picture = writer.images[0][2]
    assert picture.dtype == torch.uint8 and picture.shape == (3, 8, 3 * 16 * 8 + 2 * 4)  # 3 strips of 16 tokens
    assert all(m.training for enc in (trainer.encoder, trainer.target.encoder) for m in enc.modules())


def test_collapse_monitor_skips_what_it_cannot_measure(toy_registry):
    trainer, loader = _toy(toy_registry)
    batch = next(iter(loader))
    out = trainer.train_step(batch)
    CollapseMonitor(type("Closed", (), {"writer": None})(), every=1).on_step_end(trainer, out)  # no writer: no-op
    next(trainer.target.encoder.parameters()).placements = ()  # looks FSDP-sharded
    writer = FakeWriter()
    CollapseMonitor(writer, every=1).on_step_end(trainer, out)
    assert {t for t, _, _ in writer.scalars} == {"monitor/context_feature_std", "monitor/context_effective_rank"}
    trainer.target = nn.Identity()  # a target provider without .encoder (only the context encoder is measured)
    writer = FakeWriter()
    CollapseMonitor(writer, every=1).on_step_end(trainer, out)
    assert {t for t, _, _ in writer.scalars} == {"monitor/context_feature_std", "monitor/context_effective_rank"}


def test_monitor_restores_mixed_train_eval_modes(toy_registry):
    trainer, loader = _toy(toy_registry)
    out = trainer.train_step(next(iter(loader)))
    trainer.encoder.norm.eval()
    before = [m.training for enc in (trainer.encoder, trainer.target.encoder) for m in enc.modules()]
    CollapseMonitor(FakeWriter(), every=1).on_step_end(trainer, out)
    assert [m.training for enc in (trainer.encoder, trainer.target.encoder) for m in enc.modules()] == before


class _Losses:
    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []

    def on_step_end(self, trainer, out) -> None:
        self.losses.append(out.loss)


class _DrawsRandom:  # control: a callback that does consume the global RNG
    def on_step_end(self, trainer, out) -> None:
        torch.rand(1)


def _losses_with(registry, extra_callbacks) -> torch.Tensor:
    trainer, loader = _toy(registry, n=64, micro=8, steps=4)
    for module in (trainer.encoder, trainer.predictor, trainer.target.encoder):
        for m in module.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.2  # training draws from the global RNG, so any extra draw would show
    record = _Losses()
    trainer.fit(loader, epochs=1, max_steps=4, accum_steps=2, callbacks=[*extra_callbacks(), record])
    return torch.stack(record.losses)


def test_monitors_leave_training_bit_identical(toy_registry):
    off = _losses_with(toy_registry, lambda: [])
    writer = FakeWriter()
    on = _losses_with(toy_registry, lambda: [CollapseMonitor(writer, every=1), MaskPictures(writer, every=1)])
    assert len(writer.scalars) == 4 * 4 and len(writer.images) == 4  # they did fire on every step
    assert torch.equal(on, off)
    assert not torch.equal(_losses_with(toy_registry, lambda: [_DrawsRandom()]), off)  # the test can see RNG use


# ------------------------------------------------------------------------ config
def test_config_defaults_and_negative_values_rejected(toy_registry):
    assert (TrainConfig().monitor_every, TrainConfig().mask_image_every) == (100, 500)
    assert TrainConfig(monitor_every=0, mask_image_every=0).monitor_every == 0
    with pytest.raises(ValueError, match=r"monitor_every must be >= 0, got -1"):
        TrainConfig(monitor_every=-1)
    cfg = toy_seq_plugin.toy_config()
    message = r"^invalid value for 'train.mask_image_every': mask_image_every must be >= 0, got -5\.$"
    with pytest.raises(ConfigError, match=message):
        apply_overrides(cfg, ["train.mask_image_every=-5"], toy_registry)
    with pytest.raises(ValueError, match="every must be >= 0"):
        CollapseMonitor(FakeWriter(), every=-1)


# ----------------------------------------------------------------- end to end
def _run(registry, out, *extra):
    cfg = apply_overrides(
        toy_seq_plugin.toy_config(),
        [
            "data.num_samples=32",
            "train.batch_size=16",
            "train.epochs=1",
            "train.log_every=2",
            f"train.out_dir={out}",
            *extra,
        ],
        registry,
    )
    return train_run(cfg, registry, stream=None)


def test_train_run_writes_monitor_scalars_and_mask_images_to_tensorboard(toy_registry, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = _run(toy_registry, tmp_path / "on", "train.monitor_every=1", "train.mask_image_every=1")
    acc = EventAccumulator(str(result.out_dir / "tensorboard"))
    acc.Reload()
    assert COLLAPSE_KEYS <= set(acc.Tags()["scalars"]) and "train/loss" in acc.Tags()["scalars"]
    for key in COLLAPSE_KEYS:
        assert [e.step for e in acc.Scalars(key)] == [1, 2]
        assert all(math.isfinite(e.value) and e.value > 0 for e in acc.Scalars(key))
    assert sorted(acc.Tags()["images"]) == ["eval/latents", "masks"]  # 1-D inputs: no overlay
    images = acc.Images("masks")
    assert [e.step for e in images] == [1, 2] and (images[0].height, images[0].width) == (8, 4 * 16 * 8 + 3 * 4)

    off = _run(toy_registry, tmp_path / "off", "train.monitor_every=0", "train.mask_image_every=0")
    acc = EventAccumulator(str(off.out_dir / "tensorboard"))
    acc.Reload()
    assert not [t for t in acc.Tags()["scalars"] if t.startswith("monitor/")]
    assert acc.Tags()["images"] == ["eval/latents"]  # the online evaluation's, not a monitor's


def test_mask_pictures_draw_every_set_of_a_multi_mask_batch():
    from jepa_core.data import Batch

    grid = (2, 2, 2)  # video-like: drawn as 2 frames of 2 x 2
    short = MaskSet(torch.tensor([[0, 1, 2], [4, 5, 6]]), torch.tensor([[[7]], [[3]]]))
    long = MaskSet(torch.tensor([[0], [1]]), torch.tensor([[[2, 3, 4, 5, 6, 7]], [[0, 2, 3, 4, 5, 6]]]))
    batch = Batch(torch.zeros(2, 3, 4, 8, 8), (short, long), torch.zeros(2, dtype=torch.long))
    pics = MaskPictures(None, every=1, max_samples=2).pictures(batch, grid)
    assert set(pics) == {"masks", "masks_set1"}  # 5-D inputs: no overlay
    assert pics["masks"].shape == pics["masks_set1"].shape and not torch.equal(pics["masks"], pics["masks_set1"])
    single = MaskPictures(None, every=1, max_samples=2).pictures(Batch(batch.inputs, short, batch.labels), grid)
    assert torch.equal(single["masks"], pics["masks"])


@pytest.mark.parametrize(
    ("fn", "features", "message"),
    [
        (feature_spread, torch.randn(8), r"^feature_spread takes features \[B, D\], got shape \(8,\)$"),
        (effective_rank, torch.randn(2, 3, 4), r"^effective_rank takes features \[B, D\], got shape \(2, 3, 4\)$"),
        (lidar, torch.randn(16, 8), r"^LiDAR takes features \[n, q, D\], got shape \(16, 8\)$"),
    ],
)
def test_collapse_statistics_name_a_wrong_shape(fn, features, message):
    with pytest.raises(ValueError, match=message):
        fn(features)
