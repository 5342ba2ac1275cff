"""Every video preset: the V-JEPA recipe values, and real training steps at reduced size on CPU."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from jepa_core.config import apply_overrides
from jepa_core.registry import build_registry
from jepa_core.run import train_run

PRESETS = sorted(build_registry().presets("video"))  # every registered one, whoever added it
OFFICIAL = {"vitl16": "large", "vith16": "huge"}


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def test_every_registered_preset_is_covered():
    assert set(PRESETS) >= set(OFFICIAL) | {"demo", "vitg16_v2"}


def test_vitg16_v2_holds_the_vjepa2_changes(registry):
    cfg = registry.preset("video", "vitg16_v2").build()
    e, p, o = cfg.encoder.options, cfg.predictor.options, cfg.optim
    assert (e.size, e.pos_embedding, p.pos_embedding) == ("giant", "rope", "rope")
    assert e.resolved()[:3] == (1408, 40, 16)
    assert (o.lr_schedule, o.cooldown_epochs, o.ema_start, o.ema_end) == (
        "warmup_constant_cooldown",
        40,
        0.99925,
        0.99925,
    )
    assert (o.weight_decay, o.final_weight_decay) == (0.04, 0.04)
    assert cfg.masker == registry.preset("video", "vitl16").build().masker  # V-JEPA's masks


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_presets_hold_the_vjepa_recipe(registry, name):
    cfg = registry.preset("video", name).build()
    e = cfg.encoder.options
    assert cfg.encoder.name == "video_vit" and e.size == OFFICIAL[name]
    assert (e.patch_size, e.tubelet_size, e.num_frames, e.img_size) == (16, 2, 16, 224)
    d = cfg.data.options
    assert cfg.data.name == "video_frames" and (d.num_frames, d.frame_step, d.resolution) == (16, 4, 224)
    assert (d.crop_scale, d.aspect, d.flip) == ((0.3, 1.0), (0.75, 1.35), 0.5)
    p = cfg.predictor.options
    assert cfg.predictor.name == "video_predictor" and (p.embed_dim, p.depth, p.num_heads, p.num_mask_tokens) == (
        384,
        12,
        None,
        2,
    )
    m = cfg.masker.options
    assert cfg.masker.name == "multiblock3d" and m.num_blocks == (8, 2)
    assert m.spatial_scale == ((0.15, 0.15), (0.7, 0.7)) and m.temporal_scale == ((1.0, 1.0), (1.0, 1.0))
    assert m.aspect == ((0.75, 1.5), (0.75, 1.5))
    assert cfg.loss.name == "l1" and cfg.target.name == "ema" and cfg.target.options.layer_norm_targets
    t = cfg.train
    assert (t.batch_size, t.epochs, t.steps_per_epoch, t.precision) == (3072, 300, 300, "bf16")  # 90K its
    o = cfg.optim
    assert (o.start_lr, o.lr, o.final_lr, o.warmup_epochs) == (2e-4, 6.25e-4, 1e-6, 40)  # 12K warmup its
    assert (o.weight_decay, o.final_weight_decay, o.ema_start, o.ema_end, o.ipe_scale) == (0.04, 0.4, 0.998, 1.0, 1.25)
    assert (o.betas, o.clip_grad, o.clip_grad_after_warmup) == ((0.9, 0.999), 10.0, True)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    """Two classes of two 6-frame clips of random 40 x 48 frames."""
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for clip in range(2):
            folder = root / cls / f"clip{clip}"
            folder.mkdir(parents=True)
            for f in range(6):
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{f:03d}.png")
    return root


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_trains_two_steps_at_reduced_size(registry, name, clip_folder, tmp_path):
    cfg = registry.preset("video", name).build()
    res = 4 * cfg.encoder.options.patch_size  # a 2 x 4 x 4 tubelet grid: the V-JEPA masks still fit
    overrides = [
        "encoder.depth=1",
        f"encoder.img_size={res}",
        "encoder.num_frames=4",
        f"data.resolution={res}",
        "data.num_frames=4",
        "train.batch_size=2",
        "train.micro_batch_size=none",
        "train.max_steps=2",
        "train.num_workers=0",
        f"train.out_dir={tmp_path}",
        "probe.enabled=false",
    ]
    if cfg.predictor.name != "none":
        overrides.append("predictor.depth=1")
    overrides.append(f"data.root={clip_folder}" if cfg.data.name == "video_frames" else "data.num_train=4")
    cfg = apply_overrides(cfg, overrides, registry)
    result = train_run(cfg, registry, stream=None)
    assert result.steps == 2
    assert all(math.isfinite(loss) for _, loss in result.loss_history)
    assert (tmp_path / "config.yaml").is_file()


def test_a_clip_length_the_encoder_cannot_take_names_the_two_settings(tmp_path, capsys):
    """The sizes named are the options that set the mismatched dimension, not others of equal value
    (the demo's 4 classes, its 8 px patches)."""
    from jepa_core.cli import main

    args = ["train", "--plugin", "video", "--preset", "demo", "--out", str(tmp_path / "run")]
    assert main([*args, "--set", "data.num_frames=4", "--set", "train.device=cpu"]) == 2
    assert capsys.readouterr().err == (
        "error: dataset 'synthetic_motion' yields inputs of shape (3, 4, 32, 32) but encoder 'video_vit' expects "
        "(3, 8, 32, 32); make the data and encoder sizes agree (data.num_frames=4, encoder.num_frames=8).\n"
    )
    assert not (tmp_path / "run").exists()
