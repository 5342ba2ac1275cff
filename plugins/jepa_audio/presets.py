"""Presets of the audio plugin: A-JEPA's ViT-B/16 on AudioSet-style clips, and a CPU demo.

``vitb16`` takes from A-JEPA (Fei et al. 2023) what the paper states: 16 kHz log-mel with 128 bins,
25 ms windows, 10 ms hop, 1024 frames (10 s) -> a 64 x 8 grid of 16 x 16 patches; ViT-B encoder;
predictor 16 blocks at width 512; the multi-block -> time-frequency masking curriculum; L2 to EMA
target features. The predictor's head count (8; 512 does not split into ViT-B's 12), the
optimiser, batch and length are NOT in the paper: they are the I-JEPA
recipe's (AdamW lr 2e-4 -> 1e-3 -> 1e-6, wd 0.04 -> 0.4, EMA 0.996 -> 1.0, batch 2048 as
micro-batches of 128, bf16) for 100 epochs, our choice.

>>> vitb16().encoder.options.token_grid
(64, 8)
"""

from __future__ import annotations

import attrs

from jepa_core.config import ComponentConfig, RunConfig, TrainConfig
from jepa_core.losses import CosineConfig, L2Config
from jepa_core.specs import PresetSpec
from jepa_core.targets import EMAConfig
from jepa_vit.masks import RandomConfig
from jepa_vit.predictor import PredictorConfig
from jepa_vit.presets import (
    DEMO_EVAL,
    DEMO_OPTIM,
    DEMO_PROBE,
    DEMO_VICREG,
    IJEPA_OPTIM,
    SMALL_SCALE_OPTIM,
    demo_lejepa_sections,
    demo_train,
)

from .masks import CurriculumConfig
from .spectrogram_vit import SpectrogramViTConfig
from .synthetic import SyntheticSoundsConfig
from .wav_folder import WavFolderConfig


def vitb16() -> RunConfig:
    """A-JEPA's architecture and masks on a folder of WAV files (``--data`` sets its root)."""
    return RunConfig(
        plugin="audio",
        preset="vitb16",
        encoder=ComponentConfig(
            "spectrogram_vit", SpectrogramViTConfig(size="base", patch_size=16, num_frames=1024, num_mels=128)
        ),
        # 512 does not split into ViT-B's 12 heads: 8 heads of 64 (our choice; not in the paper)
        predictor=ComponentConfig("vit_predictor", PredictorConfig(embed_dim=512, depth=16, num_heads=8)),
        masker=ComponentConfig("curriculum", CurriculumConfig()),
        target=ComponentConfig("ema", EMAConfig(layer_norm_targets=True)),
        loss=ComponentConfig("l2", L2Config()),
        data=ComponentConfig(
            "wav_folder", WavFolderConfig(sample_rate=16000, n_mels=128, num_frames=1024, win_ms=25.0, hop_ms=10.0)
        ),
        optim=attrs.evolve(IJEPA_OPTIM, warmup_epochs=10),
        train=TrainConfig(
            epochs=100,
            batch_size=2048,
            micro_batch_size=128,
            num_workers=10,
            precision="bf16",
            log_every=10,
            checkpoint_every=1000,
            out_dir="runs/audio_vitb16",
        ),
    )


def audiojepa_vitb16() -> RunConfig:
    """Audio-JEPA's recipe as far as its paper states it: 32 kHz, 96 mel bins, 512 frames; random masks of
    40-60% of the patches with the complement as context; ``2 - 2 cos`` to per-token layer-normed
    EMA targets; EMA momentum 0.996 -> 1.0 on a cosine. Our choices (not in the paper): ViT-B/16
    (a 32 x 6 grid), 25 ms windows with a 10 ms hop, a 12 x 384 predictor and the I-JEPA
    optimiser, batch and 100 epochs, as in ``vitb16``."""
    base = vitb16()
    return attrs.evolve(
        base,
        preset="audiojepa_vitb16",
        encoder=ComponentConfig(
            "spectrogram_vit", SpectrogramViTConfig(size="base", patch_size=16, num_frames=512, num_mels=96)
        ),
        predictor=ComponentConfig("vit_predictor", PredictorConfig(embed_dim=384, depth=12)),
        masker=ComponentConfig("random", RandomConfig(target_ratio=0.4, max_target_ratio=0.6)),
        loss=ComponentConfig("cosine", CosineConfig()),
        data=ComponentConfig(
            "wav_folder", WavFolderConfig(sample_rate=32000, n_mels=96, num_frames=512, win_ms=25.0, hop_ms=10.0)
        ),
        optim=attrs.evolve(base.optim, ema_schedule="cosine"),
        train=attrs.evolve(base.train, out_dir="runs/audiojepa_vitb16"),
    )


def demo() -> RunConfig:
    """A narrow ViT on synthetic sounds (8 kinds: tones, chirps, clicks, noise bands, ...) on 2 CPU
    cores, with the A-JEPA curriculum; then a linear probe (and the same network at random init).
    Two changes over the small-budget schedule make it learn in 160 steps: VICReg (weight 1) on the
    context encoder's pooled feature and tokens, and a faster EMA (momentum 0.99 -> 0.999) so the
    target encoder keeps up. Measured: docs/results.md."""
    return RunConfig(
        plugin="audio",
        preset="demo",
        encoder=ComponentConfig(
            "spectrogram_vit",
            SpectrogramViTConfig(
                size="tiny", patch_size=16, num_frames=256, num_mels=64, depth=4, embed_dim=128, num_heads=4
            ),
        ),
        predictor=ComponentConfig("vit_predictor", PredictorConfig(embed_dim=64, depth=2)),
        masker=ComponentConfig("curriculum", CurriculumConfig(min_keep=4)),
        target=ComponentConfig("ema", EMAConfig()),
        loss=ComponentConfig("l2", L2Config()),
        data=ComponentConfig(
            "synthetic_sounds", SyntheticSoundsConfig(num_train=2048, num_val=512, num_frames=256, n_mels=64)
        ),
        regularizer=DEMO_VICREG,
        optim=DEMO_OPTIM,
        train=demo_train("runs/audio_demo"),
        probe=DEMO_PROBE,
        eval=DEMO_EVAL,
    )


def lejepa_demo() -> RunConfig:
    """The ``demo`` network and data trained with LeJEPA on token-dropping views (LeVJEPA), the
    recipe of :func:`jepa_vit.presets.demo_lejepa_sections`; no predictor and no target encoder.
    ``train.precision=auto``: bf16 on a CPU with bf16 units (faster there: docs/results.md)."""
    return attrs.evolve(
        demo(),
        preset="lejepa_demo",
        **demo_lejepa_sections(),
        optim=SMALL_SCALE_OPTIM,
        train=demo_train("runs/audio_lejepa_demo", precision="auto"),
    )


def preset_specs() -> list[PresetSpec]:
    return [
        PresetSpec(
            name="lejepa_demo",
            build=lejepa_demo,
            description="the demo trained with LeJEPA on token-dropping views (LeVJEPA); CPU; ends with a linear probe",
        ),
        PresetSpec(
            name="demo",
            build=demo,
            description=(
                "narrow ViT on synthetic sounds (8 kinds); CPU; A-JEPA curriculum masks; ends with a linear probe"
            ),
        ),
        PresetSpec(
            name="audiojepa_vitb16",
            build=audiojepa_vitb16,
            description=(
                "Audio-JEPA: 32 kHz, 96 mels x 512 frames, random 40-60% masks, 2 - 2 cos loss, cosine EMA "
                "(ViT-B/16 and optimiser: our choice)"
            ),
        ),
        PresetSpec(
            name="vitb16",
            build=vitb16,
            description=(
                "A-JEPA: ViT-B/16 on 128 mels x 1024 frames, predictor 16 x 512, curriculum masks, L2 "
                "(optimiser: I-JEPA's, our choice)"
            ),
        ),
    ]
