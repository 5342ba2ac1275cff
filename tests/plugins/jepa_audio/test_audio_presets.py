"""Every audio preset: the values from A-JEPA's facts, and real training steps at reduced size on CPU."""

from __future__ import annotations

import math
import wave

import numpy as np
import pytest

from jepa_core.config import apply_overrides
from jepa_core.registry import build_registry
from jepa_core.run import train_run

PRESETS = sorted(build_registry().presets("audio"))


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def test_every_registered_preset_is_covered():
    assert set(PRESETS) >= {"demo", "vitb16", "audiojepa_vitb16"}


def test_audiojepa_holds_its_facts(registry):
    cfg = registry.preset("audio", "audiojepa_vitb16").build()
    d, e, m = cfg.data.options, cfg.encoder.options, cfg.masker.options
    assert (d.sample_rate, d.n_mels, d.num_frames) == (32000, 96, 512) and (e.num_frames, e.num_mels) == (512, 96)
    assert cfg.masker.name == "random" and (m.target_ratio, m.max_target_ratio) == (0.4, 0.6)
    assert cfg.loss.name == "cosine" and cfg.target.options.layer_norm_targets
    o = cfg.optim
    assert (o.ema_start, o.ema_end, o.ema_schedule) == (0.996, 1.0, "cosine")


def test_vitb16_holds_the_ajepa_facts(registry):
    cfg = registry.preset("audio", "vitb16").build()
    e, d = cfg.encoder.options, cfg.data.options
    assert cfg.encoder.name == "spectrogram_vit" and (e.size, e.patch_size, e.num_frames, e.num_mels) == (
        "base",
        16,
        1024,
        128,
    )
    assert cfg.data.name == "wav_folder" and (d.sample_rate, d.n_mels, d.num_frames, d.win_ms, d.hop_ms) == (
        16000,
        128,
        1024,
        25.0,
        10.0,
    )
    assert cfg.predictor.name == "vit_predictor" and (
        cfg.predictor.options.embed_dim,
        cfg.predictor.options.depth,
        cfg.predictor.options.num_heads,
    ) == (512, 16, 8)
    m = cfg.masker.options
    assert cfg.masker.name == "curriculum" and (m.block_num_targets, m.block_scale, m.block_aspect) == (
        4,
        (0.15, 0.2),
        (0.75, 1.5),
    )
    assert (m.tf_num_targets, m.tf_scale, m.context_scale, m.tf_prob) == (3, (0.05, 0.075), (0.85, 1.0), (0.0, 1.0))
    assert cfg.loss.name == "l2" and cfg.target.name == "ema" and cfg.target.options.layer_norm_targets


@pytest.fixture(scope="module")
def wav_root(tmp_path_factory):
    """Two classes of two 0.5 s 16-bit mono WAVs (noise)."""
    root = tmp_path_factory.mktemp("wavs")
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir()
        for i in range(2):
            with wave.open(str(root / cls / f"{i}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(16000)
                f.writeframes((rng.standard_normal(8000) * 3000).astype("<i2").tobytes())
    return root


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_trains_two_steps_at_reduced_size(registry, name, wav_root, tmp_path):
    cfg = registry.preset("audio", name).build()
    patch = cfg.encoder.options.patch_size
    frames, mels = 16 * patch, 4 * patch  # a 16 x 4 grid: the curriculum's masks (min_keep 10) fit
    overrides = [
        "encoder.depth=1",
        f"encoder.num_frames={frames}",
        f"encoder.num_mels={mels}",
        f"data.num_frames={frames}",
        f"data.n_mels={mels}",
        "train.batch_size=2",
        "train.micro_batch_size=none",
        "train.max_steps=2",
        "train.num_workers=0",
        f"train.out_dir={tmp_path}",
        "probe.enabled=false",
    ]
    if cfg.predictor.name != "none":
        overrides.append("predictor.depth=1")
    overrides.append(f"data.root={wav_root}" if cfg.data.name == "wav_folder" else "data.num_train=4")
    cfg = apply_overrides(cfg, overrides, registry)
    result = train_run(cfg, registry, stream=None)
    assert result.steps == 2 and all(math.isfinite(loss) for _, loss in result.loss_history)
