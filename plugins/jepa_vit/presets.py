"""Preset parts the plugins share: I-JEPA's optimiser recipe, and for the CPU demos the
small-budget schedule (and the demos' faster-EMA version of it), the demo training loop, the
end-of-run linear probe, and the sections of a LeJEPA run.

Example::

    RunConfig(plugin="video", preset="demo", ..., optim=DEMO_OPTIM,
              train=demo_train("runs/video_demo"), probe=DEMO_PROBE)
"""

from __future__ import annotations

from typing import Literal

import attrs

from jepa_core.absent import NoneConfig
from jepa_core.config import ComponentConfig, EvalConfig, OptimConfig, ProbeConfig, TrainConfig
from jepa_core.hardware import Precision
from jepa_core.losses import L2Config
from jepa_core.objectives import LeJEPAConfig
from jepa_core.regularizers import NoRegularizerConfig, VICRegConfig
from jepa_core.views import TokenViewsConfig

IJEPA_OPTIM = OptimConfig(
    lr=1e-3,
    start_lr=2e-4,
    final_lr=1e-6,
    warmup_epochs=40,
    weight_decay=0.04,
    final_weight_decay=0.4,
    betas=(0.9, 0.999),
    eps=1e-8,
    ema_start=0.996,
    ema_end=1.0,
    ipe_scale=1.0,
    clip_grad=None,
)
"""I-JEPA's official optimiser recipe (AdamW lr 2e-4 -> 1e-3 over 40 warmup epochs -> 1e-6;
weight decay 0.04 -> 0.4; EMA 0.996 -> 1.0); presets change ``warmup_epochs`` with
``attrs.evolve``."""

SMALL_SCALE_OPTIM = OptimConfig(
    lr=1e-3,
    start_lr=1e-4,
    final_lr=1e-5,
    warmup_epochs=1,
    weight_decay=0.04,
    final_weight_decay=0.1,
    ema_start=0.996,
    ema_end=1.0,
)
"""The small-budget schedule of the demos (and of the image plugin's ``small``)."""

DEMO_OPTIM = attrs.evolve(SMALL_SCALE_OPTIM, ema_start=0.99, ema_end=0.999)
"""The demos' schedule: :data:`SMALL_SCALE_OPTIM` with a faster EMA (momentum 0.99 -> 0.999), so
the target encoder, which the probes read, keeps up with the context encoder over a few hundred
steps (measured: docs/results.md)."""

DEMO_VICREG = ComponentConfig("vicreg", VICRegConfig(weight=1.0, apply_to="both"))
"""The video and audio demos' regulariser: VICReg of weight 1 on the context encoder's pooled
feature and tokens (with :data:`DEMO_OPTIM`, what makes them learn in 160 steps)."""

DEMO_PROBE = ProbeConfig(enabled=True, epochs=100, lr=1e-2)
"""The linear probe that ends a demo run (also run on the same network at random init)."""

DEMO_EVAL = EvalConfig(train_samples=1024, val_samples=512)
"""The demos' online evaluation (at the start and each epoch end): small subsets, a few seconds each."""


def demo_train(out_dir: str, precision: Precision = "fp32") -> TrainConfig:
    """Five epochs of batch 64 (in fp32 unless ``precision`` says otherwise) on one data worker,
    with mask images and monitoring.

    >>> demo_train("runs/demo").batch_size
    64
    """
    return TrainConfig(
        epochs=5,
        batch_size=64,
        num_workers=1,
        precision=precision,
        log_every=16,
        checkpoint_every=0,
        monitor_every=40,
        mask_image_every=80,
        out_dir=out_dir,
    )


def lejepa_sections(
    *,
    proj_hidden_dim: int,
    proj_dim: int,
    num_slices: int,
    sigreg_weight: float = 0.02,
    token_views: TokenViewsConfig | None = None,
    vicreg_weight: float = 0.0,
    vicreg_apply_to: Literal["pooled", "tokens", "both"] = "pooled",
) -> dict[str, ComponentConfig]:
    """The sections of a LeJEPA run: no predictor, no target encoder, ``l2`` invariance, the
    ``lejepa`` objective with these projector and SIGReg sizes, the masker ``token_views``
    (LeVJEPA's token dropping) when ``token_views`` is given, else ``none`` (crops from the data),
    and, when ``vicreg_weight`` is positive, VICReg of that weight on each view's pooled embedding,
    tokens or both (``vicreg_apply_to``; else no regulariser besides the objective's SIGReg).

    >>> sorted(lejepa_sections(proj_hidden_dim=64, proj_dim=16, num_slices=64))
    ['loss', 'masker', 'objective', 'predictor', 'regularizer', 'target']
    """
    masker = (
        ComponentConfig("token_views", token_views)
        if token_views is not None
        else ComponentConfig("none", NoneConfig())
    )
    return {
        "predictor": ComponentConfig("none", NoneConfig()),
        "target": ComponentConfig("none", NoneConfig()),
        "regularizer": (
            ComponentConfig("vicreg", VICRegConfig(weight=vicreg_weight, apply_to=vicreg_apply_to))
            if vicreg_weight > 0
            else ComponentConfig("none", NoRegularizerConfig())
        ),
        "masker": masker,
        "loss": ComponentConfig("l2", L2Config()),
        "objective": ComponentConfig(
            "lejepa",
            LeJEPAConfig(
                sigreg_weight=sigreg_weight,
                proj_hidden_dim=proj_hidden_dim,
                proj_dim=proj_dim,
                num_slices=num_slices,
            ),
        ),
    }


def demo_lejepa_sections() -> dict[str, ComponentConfig]:
    """The video and audio ``lejepa_demo`` recipe (:func:`lejepa_sections`): token views (2 global
    keeping 60% of the tokens, 2 local keeping 25%), a 512-wide projector to 64 dims, SIGReg
    weight 0.02 on 256 slices, and VICReg weight 3 on each view's pooled embedding and tokens
    (measured: docs/results.md).

    >>> demo_lejepa_sections()["regularizer"].options.apply_to
    'both'
    """
    return lejepa_sections(
        proj_hidden_dim=512,
        proj_dim=64,
        num_slices=256,
        token_views=TokenViewsConfig(),
        vicreg_weight=3.0,
        vicreg_apply_to="both",
    )
