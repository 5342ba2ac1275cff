"""Every image preset: exact recipe values, and one real training step at reduced size on CPU."""

from __future__ import annotations

import math

import attrs
import pytest
import torch
from PIL import Image

from jepa_core.config import apply_overrides
from jepa_core.registry import build_registry
from jepa_core.run import train_run

PRESETS = sorted(build_registry().presets("image"))  # every registered one, whoever added it
# preset -> (size, patch, res, epochs, warmup, predictor depth), from the spec's recipe table
OFFICIAL = {
    "vith14": ("huge", 14, 224, 300, 40, 12),
    "vith16_448": ("huge", 16, 448, 300, 40, 12),
    "vith14_in22k": ("huge", 14, 224, 66, 3, 12),
    "vitg16_in22k": ("giant", 16, 224, 44, 3, 16),
    "vitb16": ("base", 16, 224, 600, 40, 6),
    "vitl16": ("large", 16, 224, 600, 40, 12),
}


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def test_every_registered_preset_is_covered(registry):
    assert set(PRESETS) >= set(OFFICIAL) | {"demo", "small"}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_presets_hold_the_recipe_values(registry, name):
    size, patch, res, epochs, warmup, pred_depth = OFFICIAL[name]
    cfg = registry.preset("image", name).build()
    assert (cfg.encoder.options.size, cfg.encoder.options.patch_size, cfg.encoder.options.img_size) == (
        size,
        patch,
        res,
    )
    assert cfg.data.name == "image_folder" and cfg.data.options.resolution == res
    assert cfg.data.options.crop_scale == (0.3, 1.0)
    assert (cfg.predictor.options.embed_dim, cfg.predictor.options.depth) == (384, pred_depth)
    assert cfg.predictor.options.num_heads is None  # same head count as the encoder
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.precision) == (epochs, 2048, "bf16")
    o = cfg.optim
    assert (o.lr, o.start_lr, o.final_lr, o.warmup_epochs) == (1e-3, 2e-4, 1e-6, warmup)
    assert (o.weight_decay, o.final_weight_decay, o.ema_start, o.ema_end) == (0.04, 0.4, 0.996, 1.0)
    assert (o.betas, o.eps, o.ipe_scale, o.clip_grad) == ((0.9, 0.999), 1e-8, 1.0, None)
    m = cfg.masker.options
    assert cfg.masker.name == "multiblock" and not m.reference_sampling
    assert (m.num_targets, m.target_scale, m.target_aspect_ratio) == (4, (0.15, 0.2), (0.75, 1.5))
    assert (m.context_scale, m.context_aspect_ratio, m.min_keep) == ((0.85, 1.0), (1.0, 1.0), 10)
    assert cfg.loss.name == "smooth_l1" and cfg.loss.options.beta == 1.0
    assert cfg.target.name == "ema" and cfg.target.options.layer_norm_targets


def test_lejepa_small_holds_its_measured_recipe(registry):
    """The recipe behind the Fashion-MNIST numbers in docs/results.md: small's data, optimiser and
    batch for 6 epochs, a 4 x 256 ViT on 8 px patches, token views of two colour-jittered crops, a
    512 -> 16 projector, SIGReg 0.02 on 1024 slices, VICReg 0.3 on the views' tokens."""
    cfg = registry.preset("image", "lejepa_small").build()
    small = registry.preset("image", "small").build()
    enc = cfg.encoder.options
    assert (enc.patch_size, enc.img_size, enc.depth, enc.embed_dim, enc.num_heads) == (8, 32, 4, 256, 4)
    crops = attrs.evolve(small.data.options, multi_crop=True, local_crops=0, color_jitter=2.0)
    assert cfg.data == attrs.evolve(small.data, options=crops)
    assert (cfg.optim, cfg.train.batch_size) == (small.optim, small.train.batch_size)
    assert (small.train.epochs, cfg.train.epochs) == (5, 6)
    views = cfg.masker.options
    assert (cfg.masker.name, views.global_keep, views.local_keep) == ("token_views", 0.6, 0.25)
    obj = cfg.objective.options
    assert cfg.objective.name == "lejepa" and (cfg.predictor.name, cfg.target.name) == ("none", "none")
    assert (obj.proj_hidden_dim, obj.proj_dim, obj.sigreg_weight, obj.num_slices) == (512, 16, 0.02, 1024)
    reg = cfg.regularizer
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 0.3, "tokens")


def test_lejepa_small_bf16_is_lejepa_small_in_bf16_with_eight_heads_for_eight_epochs(registry):
    """The recipe behind the bf16 Fashion-MNIST numbers in docs/results.md: everything else is
    ``lejepa_small``'s, so a change there carries over."""
    cfg = registry.preset("image", "lejepa_small_bf16").build()
    base = registry.preset("image", "lejepa_small").build()
    assert cfg.encoder.options.num_heads == 8
    assert cfg.encoder.options.embed_dim // cfg.encoder.options.num_heads == 32
    assert (cfg.train.precision, cfg.train.epochs) == ("bf16", 8)
    same = attrs.evolve(
        cfg,
        preset=base.preset,
        encoder=attrs.evolve(cfg.encoder, options=attrs.evolve(cfg.encoder.options, num_heads=4)),
        train=attrs.evolve(cfg.train, precision="fp32", epochs=6, out_dir=base.train.out_dir),
    )
    assert same == base


def test_demo_holds_its_measured_recipe(registry):
    """The recipe behind the demo numbers in docs/results.md: small's schedule at 64 px with a
    4 x 256 ViT on 16 px patches, VICReg weight 3 on pooled feature and tokens, EMA 0.99 -> 0.999."""
    cfg = registry.preset("image", "demo").build()
    small = registry.preset("image", "small").build()
    enc = cfg.encoder.options
    assert (enc.patch_size, enc.img_size, enc.depth, enc.embed_dim, enc.num_heads) == (16, 64, 4, 256, 4)
    reg = cfg.regularizer
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 3.0, "both")
    assert (cfg.optim.ema_start, cfg.optim.ema_end) == (0.99, 0.999)
    assert attrs.evolve(cfg.optim, ema_start=0.996, ema_end=1.0) == small.optim
    assert cfg.objective.name == "predictive" and cfg.target.name == "ema"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    g = torch.Generator().manual_seed(0)
    for cls in ("a", "b"):
        (root / cls).mkdir()
        for i in range(2):
            pixels = (torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
            Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_builds_and_steps_at_reduced_size(registry, name, image_folder, tmp_path):
    cfg = registry.preset("image", name).build()
    patch = cfg.encoder.options.patch_size
    res = 10 * patch  # a 10x10 token grid: the official masks (min_keep 10) still fit
    overrides = [
        "encoder.depth=1",
        f"encoder.img_size={res}",
        f"data.resolution={res}",
        "train.batch_size=2",
        "train.micro_batch_size=none",
        "train.max_steps=1",
        "train.num_workers=0",
        f"train.out_dir={tmp_path}",
        "probe.enabled=false",
    ]
    if cfg.predictor.name != "none":
        overrides.append("predictor.depth=1")
    if cfg.data.name == "image_folder":
        overrides.append(f"data.root={image_folder}")
    else:
        overrides.append("data.num_train=4")
    cfg = apply_overrides(cfg, overrides, registry)
    result = train_run(cfg, registry, stream=None)
    assert result.steps == 1
    assert all(math.isfinite(loss) for _, loss in result.loss_history)
    assert (tmp_path / "config.yaml").is_file()


LEJEPA_SMALL_AT_TEST_SIZE = [
    "encoder.depth=1",
    "train.batch_size=2",
    "train.max_steps=1",
    "train.num_workers=0",
    "probe.enabled=false",
    "train.eval_every=0",
]


def test_lejepa_small_steps_on_token_views_of_two_crops(registry, image_folder, tmp_path):
    cfg = registry.preset("image", "lejepa_small").build()
    sets = [*LEJEPA_SMALL_AT_TEST_SIZE, f"data.root={image_folder}"]
    result = train_run(apply_overrides(cfg, [*sets, f"train.out_dir={tmp_path}"], registry), registry, stream=None)
    assert result.steps == 1 and all(math.isfinite(loss) for _, loss in result.loss_history)


def test_token_views_of_crops_of_two_sizes_exit_2_before_any_work(image_folder, tmp_path, capsys):
    from jepa_core.cli.app import main

    args = ["train", "--plugin", "image", "--preset", "lejepa_small", "--data", str(image_folder)]
    args += ["--out", str(tmp_path / "run")]
    for s in [*LEJEPA_SMALL_AT_TEST_SIZE, "data.local_crops=2"]:
        args += ["--set", s]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "masker 'token_views' keeps tokens of every crop on one grid" in err
    assert "[(3, 32, 32), (3, 16, 16)]" in err and "data.local_crops=0" in err
    assert not (tmp_path / "run" / "checkpoints").exists()


def _lejepa_fast_args(image_folder, out, *sets):
    args = ["train", "--plugin", "image", "--preset", "lejepa_small_fast", "--data", str(image_folder)]
    args += ["--out", str(out)]
    for s in [*LEJEPA_SMALL_AT_TEST_SIZE, *sets]:
        args += ["--set", s]
    return args


def test_batch_wide_views_are_checked_as_the_model_sees_them(image_folder, tmp_path, capsys):
    """With ``data.batch_views`` a sample is the source image; the pre-flight checks see its views."""
    from jepa_core.cli.app import main

    assert main(_lejepa_fast_args(image_folder, tmp_path / "a", "data.local_crops=2")) == 2
    err = capsys.readouterr().err
    assert "masker 'token_views' keeps tokens of every crop on one grid" in err
    assert "[(3, 32, 32), (3, 16, 16)]" in err
    assert not (tmp_path / "a" / "checkpoints").exists()

    odd = ("masker.name=none", "data.local_crops=2", "data.local_resolution=12")
    assert main(_lejepa_fast_args(image_folder, tmp_path / "b", *odd)) == 2
    err = capsys.readouterr().err
    assert "cannot take the data's view of shape (3, 12, 12)" in err
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_lejepa_small_fast_steps_on_batch_wide_crop_views_of_two_sizes(registry, image_folder, tmp_path):
    """Crop views (no masker) drawn batch-wide: 2 global crops of 32 px and 2 local crops of 16 px."""
    cfg = registry.preset("image", "lejepa_small_fast").build()
    sets = [*LEJEPA_SMALL_AT_TEST_SIZE, f"data.root={image_folder}", "masker.name=none", "data.local_crops=2"]
    result = train_run(apply_overrides(cfg, [*sets, f"train.out_dir={tmp_path}"], registry), registry, stream=None)
    assert result.steps == 1 and all(math.isfinite(loss) for _, loss in result.loss_history)


def test_lejepa_small_muon_is_lejepa_small_bf16_with_muon_at_three_times_the_lr(registry):
    """The recipe behind the Muon Fashion-MNIST numbers in docs/results.md."""
    cfg = registry.preset("image", "lejepa_small_muon").build()
    base = registry.preset("image", "lejepa_small_bf16").build()
    assert (cfg.optim.optimizer, cfg.optim.lr, base.optim.optimizer, base.optim.lr) == ("muon", 3e-3, "adamw", 1e-3)
    same = attrs.evolve(
        cfg,
        preset=base.preset,
        optim=attrs.evolve(cfg.optim, optimizer="adamw", lr=1e-3),
        train=attrs.evolve(cfg.train, out_dir=base.train.out_dir),
    )
    assert same == base


def test_lejepa_small_fast_is_lejepa_small_muon_for_six_epochs_with_batch_wide_views(registry):
    """The recipe behind the batch-wide views' Fashion-MNIST numbers in docs/results.md."""
    cfg = registry.preset("image", "lejepa_small_fast").build()
    base = registry.preset("image", "lejepa_small_muon").build()
    assert (cfg.train.epochs, cfg.train.num_workers, cfg.data.options.batch_views) == (6, 0, True)
    assert cfg.data.options.cache
    same = attrs.evolve(
        cfg,
        preset=base.preset,
        data=attrs.evolve(cfg.data, options=attrs.evolve(cfg.data.options, batch_views=False, cache=False)),
        train=attrs.evolve(cfg.train, epochs=8, num_workers=2, out_dir=base.train.out_dir),
    )
    assert same == base


def test_lejepa_small_views_is_lejepa_small_fast_with_four_local_views(registry):
    """The recipe behind the four-local-view Fashion-MNIST numbers in docs/results.md."""
    cfg = registry.preset("image", "lejepa_small_views").build()
    base = registry.preset("image", "lejepa_small_fast").build()
    assert (cfg.masker.name, cfg.masker.options.global_views, cfg.masker.options.local_views) == ("token_views", 2, 4)
    same = attrs.evolve(
        cfg,
        preset=base.preset,
        masker=attrs.evolve(cfg.masker, options=attrs.evolve(cfg.masker.options, local_views=2)),
        train=attrs.evolve(cfg.train, out_dir=base.train.out_dir),
    )
    assert same == base


def test_lejepa_small_mlp2_is_lejepa_small_views_with_half_width_mlps(registry):
    """The recipe behind the half-width-MLP Fashion-MNIST numbers in docs/results.md."""
    cfg = registry.preset("image", "lejepa_small_mlp2").build()
    base = registry.preset("image", "lejepa_small_views").build()
    assert cfg.encoder.options.resolved() == (256, 4, 8, 2.0)
    same = attrs.evolve(
        cfg,
        preset=base.preset,
        encoder=attrs.evolve(cfg.encoder, options=attrs.evolve(cfg.encoder.options, mlp_ratio=None)),
        train=attrs.evolve(cfg.train, out_dir=base.train.out_dir),
    )
    assert same == base
