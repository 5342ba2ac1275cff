"""The core's own plugin: modality-agnostic built-ins (EMA targets, losses, regularisers).

Registered first by :func:`jepa_core.registry.build_registry` under the name ``core``.
"""

from __future__ import annotations

from jepa_core.hookspecs import hookimpl
from jepa_core.losses import (
    CosineConfig, CosineLoss, L1Config, L1Loss, L2Config, L2Loss, SmoothL1Config, SmoothL1Loss,
)
from jepa_core.regularizers import (
    NoRegularizer, NoRegularizerConfig, SIGReg, SIGRegConfig, VICReg, VICRegConfig,
)
from jepa_core.specs import LossSpec, RegularizerSpec, TargetProviderSpec
from jepa_core.targets import EMAConfig, build_ema


@hookimpl
def jepa_target_providers():
    yield TargetProviderSpec(
        name="ema", config_type=EMAConfig, build=build_ema,
        description="momentum (EMA) copy of the context encoder; layer-normed targets",
        example=EMAConfig,  # paired with every registered encoder in the conformance tests
    )


@hookimpl
def jepa_losses():
    yield LossSpec(
        name="smooth_l1", config_type=SmoothL1Config, build=lambda cfg: SmoothL1Loss(cfg.beta),
        description="Huber loss, beta=1 in the reference recipe", example=SmoothL1Config,
    )
    yield LossSpec(
        name="l2", config_type=L2Config, build=lambda cfg: L2Loss(), description="mean squared error",
        example=L2Config,
    )
    yield LossSpec(
        name="l1", config_type=L1Config, build=lambda cfg: L1Loss(),
        description="mean absolute error (V-JEPA)", example=L1Config,
    )
    yield LossSpec(
        name="cosine", config_type=CosineConfig, build=lambda cfg: CosineLoss(),
        description="2 - 2 cos per token (Audio-JEPA)", example=CosineConfig,
    )


@hookimpl
def jepa_regularizers():
    yield RegularizerSpec(
        name="none", config_type=NoRegularizerConfig, build=lambda cfg: NoRegularizer(),
        description="no regulariser (the official recipes)", example=NoRegularizerConfig,
    )
    yield RegularizerSpec(
        name="vicreg", config_type=VICRegConfig, build=VICReg,
        description="VICReg variance hinge + off-diagonal covariance (C-JEPA)", example=VICRegConfig,
    )
    yield RegularizerSpec(
        name="sigreg", config_type=SIGRegConfig, build=SIGReg,
        description="LeJEPA's sketched isotropic Gaussian test (Epps-Pulley on random slices)",
        example=lambda: SIGRegConfig(num_slices=64),
    )
