"""Presets of the image plugin: the official I-JEPA recipes, the paper's ViT-B/L, and a CPU demo.

Every official value comes from the recipe table (AdamW lr 1e-3 from 2e-4 to 1e-6; wd 0.04 -> 0.4;
EMA 0.996 -> 1.0; predictor width 384; RandomResizedCrop(0.3, 1.0); bf16; global batch 2048 as
16 GPUs x 128).

>>> cfg = vith14()
>>> cfg.encoder.options.size, cfg.encoder.options.patch_size, cfg.train.batch_size
('huge', 14, 2048)
"""

from __future__ import annotations

import attrs

from jepa_core.config import ComponentConfig, EvalConfig, OptimConfig, ProbeConfig, RunConfig, TrainConfig
from jepa_core.losses import SmoothL1Config
from jepa_core.regularizers import VICRegConfig
from jepa_core.specs import PresetSpec
from jepa_core.targets import EMAConfig
from jepa_core.views import TokenViewsConfig
from jepa_vit.masks import MultiBlockConfig
from jepa_vit.predictor import PredictorConfig
from jepa_vit.presets import DEMO_EVAL, DEMO_OPTIM, DEMO_PROBE, IJEPA_OPTIM, SMALL_SCALE_OPTIM, lejepa_sections

from .folder import ImageFolderConfig
from .synthetic import SyntheticShapesConfig
from .vit import ViTConfig


def official(preset: str, *, size: str, patch: int, res: int, epochs: int, warmup: int, pred_depth: int) -> RunConfig:
    """An official-recipe run on an image folder (``--data`` sets its root)."""
    return RunConfig(
        plugin="image",
        preset=preset,
        encoder=ComponentConfig("vit", ViTConfig(size=size, patch_size=patch, img_size=res)),
        predictor=ComponentConfig("vit_predictor", PredictorConfig(embed_dim=384, depth=pred_depth)),
        masker=ComponentConfig("multiblock", MultiBlockConfig()),
        target=ComponentConfig("ema", EMAConfig(layer_norm_targets=True)),
        loss=ComponentConfig("smooth_l1", SmoothL1Config(beta=1.0)),
        data=ComponentConfig("image_folder", ImageFolderConfig(resolution=res, crop_scale=(0.3, 1.0))),
        optim=attrs.evolve(IJEPA_OPTIM, warmup_epochs=float(warmup)),
        train=TrainConfig(
            epochs=epochs,
            batch_size=2048,
            micro_batch_size=128,
            num_workers=10,
            precision="bf16",
            log_every=10,
            checkpoint_every=1000,
            out_dir=f"runs/{preset}",
        ),
    )


def vith14() -> RunConfig:
    return official("vith14", size="huge", patch=14, res=224, epochs=300, warmup=40, pred_depth=12)


def vith16_448() -> RunConfig:
    return official("vith16_448", size="huge", patch=16, res=448, epochs=300, warmup=40, pred_depth=12)


def vith14_in22k() -> RunConfig:
    return official("vith14_in22k", size="huge", patch=14, res=224, epochs=66, warmup=3, pred_depth=12)


def vitg16_in22k() -> RunConfig:
    return official("vitg16_in22k", size="giant", patch=16, res=224, epochs=44, warmup=3, pred_depth=16)


def vitb16() -> RunConfig:
    return official("vitb16", size="base", patch=16, res=224, epochs=600, warmup=40, pred_depth=6)


def vitl16() -> RunConfig:
    return official("vitl16", size="large", patch=16, res=224, epochs=600, warmup=40, pred_depth=12)


def small_scale(
    preset: str,
    *,
    res: int,
    patch: int,
    data: ComponentConfig,
    train: TrainConfig,
    probe: ProbeConfig,
    eval: EvalConfig = EvalConfig(),
) -> RunConfig:
    """A narrow ViT (4 blocks, width 128, 4 heads) with a 2 x 64 predictor, the official masks'
    scales (min_keep 4 for small grids), EMA targets and smooth-L1, on :data:`jepa_vit.presets.SMALL_SCALE_OPTIM`."""
    return RunConfig(
        plugin="image",
        preset=preset,
        encoder=ComponentConfig(
            "vit", ViTConfig(size="tiny", patch_size=patch, img_size=res, depth=4, embed_dim=128, num_heads=4)
        ),
        predictor=ComponentConfig("vit_predictor", PredictorConfig(embed_dim=64, depth=2)),
        masker=ComponentConfig(
            "multiblock",
            MultiBlockConfig(num_targets=4, target_scale=(0.15, 0.2), context_scale=(0.85, 1.0), min_keep=4),
        ),
        target=ComponentConfig("ema", EMAConfig()),
        loss=ComponentConfig("smooth_l1", SmoothL1Config()),
        data=data,
        optim=SMALL_SCALE_OPTIM,
        train=train,
        probe=probe,
        eval=eval,
    )


def demo() -> RunConfig:
    """A small ViT on synthetic shapes on a CPU, then a linear probe (measured: docs/results.md).

    ``small``'s recipe at 64 px with three changes that make it learn at this budget: a ViT of
    width 256 on 16 px patches (a 4 x 4 grid), VICReg (weight 3) on the context encoder's pooled
    feature and tokens, and a faster EMA (momentum 0.99 -> 0.999 instead of 0.996 -> 1.0) so the
    target encoder, which the probes read, keeps up with the context encoder over 320 steps.
    """
    base = small_scale(
        "demo",
        res=64,
        patch=16,
        data=ComponentConfig("synthetic_shapes", SyntheticShapesConfig(num_train=4096, num_val=1024, resolution=64)),
        train=TrainConfig(
            epochs=5,
            batch_size=64,
            num_workers=0,
            precision="fp32",
            log_every=20,
            checkpoint_every=0,
            out_dir="runs/demo",
        ),
        probe=DEMO_PROBE,
        eval=DEMO_EVAL,
    )
    return attrs.evolve(
        base,
        encoder=ComponentConfig(
            "vit", ViTConfig(size="tiny", patch_size=16, img_size=64, depth=4, embed_dim=256, num_heads=4)
        ),
        regularizer=ComponentConfig("vicreg", VICRegConfig(weight=3.0, apply_to="both")),
        optim=DEMO_OPTIM,
    )


def lejepa_demo() -> RunConfig:
    """The ``demo`` network and data trained with LeJEPA in 6 epochs: two crops of each image, each
    with colour jitter (strength 2) and greyscale (p 0.2), the source of one token view (2 views
    keeping 50% of the tokens), a 512-wide projector to 16 dims, SIGReg weight 0.02 on 1024
    slices, and VICReg (weight 1) on each view's pooled embedding and tokens; no predictor and no
    target encoder. The colour jitter makes the views disagree on colour, which the class does
    not depend on. The views are drawn batch-wide (``data.batch_views``) in the training process
    (``train.num_workers=0``), the fastest way on a 2-core CPU, and the precision is ``auto``
    (:func:`jepa_core.hardware.resolve_precision`), which these steps gain from the most
    (measured: docs/results.md).

    >>> cfg = lejepa_demo()
    >>> cfg.data.options.color_jitter, cfg.data.options.batch_views, cfg.train.epochs, cfg.train.precision
    (2.0, True, 6, 'auto')
    """
    base = demo()
    return attrs.evolve(
        base,
        preset="lejepa_demo",
        data=attrs.evolve(
            base.data,
            options=attrs.evolve(
                base.data.options, multi_crop=True, local_crops=0, color_jitter=2.0, grayscale=0.2, batch_views=True
            ),
        ),
        **lejepa_sections(
            proj_hidden_dim=512,
            proj_dim=16,
            num_slices=1024,
            token_views=TokenViewsConfig(global_views=2, local_views=0, global_keep=0.5),
            vicreg_weight=1.0,
            vicreg_apply_to="both",
        ),
        train=attrs.evolve(base.train, epochs=6, num_workers=0, precision="auto", out_dir="runs/lejepa_demo"),
    )


def small() -> RunConfig:
    """Small real images (e.g. Fashion-MNIST at 32 px) on a CPU or one GPU: a narrow ViT, then a linear probe.

    ``--data`` is a folder of class sub-folders; 10% of it is held out for the probe unless
    ``data.val_root`` names a val folder. Measured on Fashion-MNIST: docs/results.md.
    """
    return small_scale(
        "small",
        res=32,
        patch=4,
        data=ComponentConfig("image_folder", ImageFolderConfig(resolution=32, crop_scale=(0.3, 1.0), val_fraction=0.1)),
        train=TrainConfig(
            epochs=5,
            batch_size=128,
            num_workers=2,
            precision="fp32",
            log_every=100,
            checkpoint_every=500,
            out_dir="runs/small",
        ),
        probe=ProbeConfig(enabled=True, epochs=30, lr=1e-2, batch_size=256),
    )


def lejepa_small() -> RunConfig:
    """LeJEPA on small real images (e.g. Fashion-MNIST at 32 px) on a CPU or one GPU, with the
    ``small`` preset's data, optimiser and batch: a 4-block ViT of width 256 on 8-pixel patches
    (a 4 x 4 grid) for 6 epochs; two crops of each image, each with colour jitter of strength 2
    and the source of two token views (60% and 25% of the tokens); a 512-wide projector to 16
    dims, SIGReg weight 0.02 (LeJEPA's lambda) on 1024 slices, and VICReg (weight 0.3) on each
    view's encoder tokens; no EMA teacher and no predictor. Measured on Fashion-MNIST:
    docs/results.md.

    >>> lejepa_small().data.options.color_jitter
    2.0
    """
    base = small()
    return attrs.evolve(
        base,
        preset="lejepa_small",
        data=attrs.evolve(
            base.data, options=attrs.evolve(base.data.options, multi_crop=True, local_crops=0, color_jitter=2.0)
        ),
        encoder=ComponentConfig(
            "vit", ViTConfig(size="tiny", patch_size=8, img_size=32, depth=4, embed_dim=256, num_heads=4)
        ),
        **lejepa_sections(
            proj_hidden_dim=512,
            proj_dim=16,
            num_slices=1024,
            token_views=TokenViewsConfig(),
            vicreg_weight=0.3,
            vicreg_apply_to="tokens",
        ),
        train=attrs.evolve(base.train, epochs=6, out_dir="runs/lejepa_small"),
    )


def lejepa_small_bf16() -> RunConfig:
    """``lejepa_small`` for hardware with fast bf16 (GPUs, CPUs with bf16 instructions): bf16
    autocast, 8 attention heads of 32 channels instead of 4 of 64 (the same work in a shape
    that runs faster there) and 8 epochs instead of 6, in less time than ``lejepa_small`` in fp32
    where bf16 gains enough (on CPUs it can gain little or be slower: ``jepa doctor`` times both
    precisions).
    Measured on Fashion-MNIST: docs/results.md.

    >>> cfg = lejepa_small_bf16()
    >>> cfg.train.precision, cfg.train.epochs, cfg.encoder.options.num_heads
    ('bf16', 8, 8)
    """
    base = lejepa_small()
    return attrs.evolve(
        base,
        preset="lejepa_small_bf16",
        encoder=attrs.evolve(base.encoder, options=attrs.evolve(base.encoder.options, num_heads=8)),
        train=attrs.evolve(base.train, precision="bf16", epochs=8, out_dir="runs/lejepa_small_bf16"),
    )


def lejepa_small_muon() -> RunConfig:
    """``lejepa_small_bf16`` with its weight matrices stepped by Muon (``optim.optimizer="muon"``)
    at peak lr 3e-3; the schedules, biases, norms and embeddings (AdamW) unchanged. Muon gains on
    this network and data, not on the demos' smaller ones.
    Measured on Fashion-MNIST: docs/results.md.

    >>> cfg = lejepa_small_muon()
    >>> cfg.optim.optimizer, cfg.optim.lr, cfg.train.precision
    ('muon', 0.003, 'bf16')
    """
    base = lejepa_small_bf16()
    return attrs.evolve(
        base,
        preset="lejepa_small_muon",
        optim=attrs.evolve(base.optim, optimizer="muon", lr=3e-3),
        train=attrs.evolve(base.train, out_dir="runs/lejepa_small_muon"),
    )


def lejepa_small_fast() -> RunConfig:
    """``lejepa_small_muon`` for 6 epochs instead of 8, with its views drawn batch-wide
    (``data.batch_views``) and prepared in the training process (``train.num_workers=0``) from
    images decoded once and kept in memory (``data.cache``): the time the per-image PIL views
    and the data workers took on a 2-core CPU, given back.
    Measured on Fashion-MNIST: docs/results.md.

    >>> cfg = lejepa_small_fast()
    >>> cfg.train.epochs, cfg.data.options.batch_views, cfg.data.options.cache, cfg.train.num_workers
    (6, True, True, 0)
    """
    base = lejepa_small_muon()
    return attrs.evolve(
        base,
        preset="lejepa_small_fast",
        data=attrs.evolve(base.data, options=attrs.evolve(base.data.options, batch_views=True, cache=True)),
        train=attrs.evolve(base.train, epochs=6, num_workers=0, out_dir="runs/lejepa_small_fast"),
    )


def lejepa_small_views() -> RunConfig:
    """``lejepa_small_fast`` with four local token views per image instead of two (2 global + 4
    local views of the two crops): more of the step spent on the views that differ most, for
    about 1.3 times the training time.
    Measured on Fashion-MNIST: docs/results.md.

    >>> cfg = lejepa_small_views()
    >>> cfg.masker.options.global_views, cfg.masker.options.local_views, cfg.train.epochs
    (2, 4, 6)
    """
    base = lejepa_small_fast()
    return attrs.evolve(
        base,
        preset="lejepa_small_views",
        masker=attrs.evolve(base.masker, options=attrs.evolve(base.masker.options, local_views=4)),
        train=attrs.evolve(base.train, out_dir="runs/lejepa_small_views"),
    )


def lejepa_small_mlp2() -> RunConfig:
    """``lejepa_small_views`` with MLPs twice as wide as the embedding instead of four times
    (``encoder.mlp_ratio=2``): a sixth less time per training step, for CPUs on which
    ``lejepa_small_views`` takes longer than the small recipes' time.
    Measured on Fashion-MNIST: docs/results.md.

    >>> cfg = lejepa_small_mlp2()
    >>> cfg.encoder.options.resolved(), cfg.masker.options.local_views
    ((256, 4, 8, 2.0), 4)
    """
    base = lejepa_small_views()
    return attrs.evolve(
        base,
        preset="lejepa_small_mlp2",
        encoder=attrs.evolve(base.encoder, options=attrs.evolve(base.encoder.options, mlp_ratio=2.0)),
        train=attrs.evolve(base.train, out_dir="runs/lejepa_small_mlp2"),
    )


def lejepa_vits8() -> RunConfig:
    """LeJEPA's minimal recipe (Imagenette-scale folders): ViT-S/8 at 128 px, batch 256, 2 global
    (128 px) + 2 local (64 px) crops with flips, colour jitter, greyscale and blur, lr 2e-3,
    lambda 0.02, a 2048-2048-16 batch-norm projector, 256 slices, 800 epochs, bf16. The local crop
    size, augmentation strengths, warmup and weight decay are this project's choices."""
    return RunConfig(
        plugin="image",
        preset="lejepa_vits8",
        encoder=ComponentConfig("vit", ViTConfig(size="small", patch_size=8, img_size=128)),
        data=ComponentConfig(
            "image_folder",
            ImageFolderConfig(
                resolution=128,
                crop_scale=(0.3, 1.0),
                multi_crop=True,
                global_crops=2,
                local_crops=2,
                local_resolution=64,
                local_crop_scale=(0.05, 0.3),
                flip=True,
                color_jitter=1.0,
                grayscale=0.2,
                blur=0.5,
            ),
        ),
        **lejepa_sections(proj_hidden_dim=2048, proj_dim=16, num_slices=256),
        optim=OptimConfig(
            lr=2e-3,
            start_lr=2e-4,
            final_lr=1e-6,
            warmup_epochs=10,
            weight_decay=0.05,
            final_weight_decay=0.05,
            ema_start=1.0,
            ema_end=1.0,
        ),
        train=TrainConfig(
            epochs=800,
            batch_size=256,
            num_workers=8,
            precision="bf16",
            log_every=20,
            checkpoint_every=1000,
            out_dir="runs/lejepa_vits8",
        ),
    )


def preset_specs() -> list[PresetSpec]:
    return [
        PresetSpec(name="demo", build=demo, description="tiny ViT on synthetic shapes; CPU; ends with a linear probe"),
        PresetSpec(
            name="lejepa_demo",
            build=lejepa_demo,
            description="the demo trained with LeJEPA on token views of two colour-jittered crops; CPU; linear probe",
        ),
        PresetSpec(
            name="small",
            build=small,
            description=(
                "small real images (32 px class folders, e.g. Fashion-MNIST); CPU or one GPU; ends with a linear probe"
            ),
        ),
        PresetSpec(
            name="lejepa_small",
            build=lejepa_small,
            description="LeJEPA on small real images (32 px class folders): ViT 4 x 256 / 8 px, token views",
        ),
        PresetSpec(
            name="lejepa_small_bf16",
            build=lejepa_small_bf16,
            description="lejepa_small in bf16 with 8 heads for 8 epochs; GPUs and CPUs with bf16 instructions",
        ),
        PresetSpec(
            name="lejepa_small_muon",
            build=lejepa_small_muon,
            description="lejepa_small_bf16 with Muon on its weight matrices at peak lr 3e-3",
        ),
        PresetSpec(
            name="lejepa_small_fast",
            build=lejepa_small_fast,
            description="lejepa_small_muon for 6 epochs with batch-wide views and no data workers",
        ),
        PresetSpec(
            name="lejepa_small_views",
            build=lejepa_small_views,
            description="lejepa_small_fast with 2 global + 4 local token views",
        ),
        PresetSpec(
            name="lejepa_small_mlp2",
            build=lejepa_small_mlp2,
            description="lejepa_small_views with MLPs of twice the embedding width instead of four times",
        ),
        PresetSpec(
            name="lejepa_vits8",
            build=lejepa_vits8,
            description="LeJEPA's minimal recipe: ViT-S/8, 128 px, 2+2 crops, 800 ep",
        ),
        PresetSpec(name="vith14", build=vith14, description="official: ViT-H/14, 224px, 300 ep, IN-1k"),
        PresetSpec(name="vith16_448", build=vith16_448, description="official: ViT-H/16, 448px, 300 ep, IN-1k"),
        PresetSpec(name="vith14_in22k", build=vith14_in22k, description="official: ViT-H/14, 224px, 66 ep, IN-22k"),
        PresetSpec(name="vitg16_in22k", build=vitg16_in22k, description="official: ViT-G/16, 224px, 44 ep, IN-22k"),
        PresetSpec(name="vitb16", build=vitb16, description="paper: ViT-B/16, 224px, 600 ep, predictor depth 6"),
        PresetSpec(name="vitl16", build=vitl16, description="paper: ViT-L/16, 224px, 600 ep, predictor depth 12"),
    ]
