"""The core's own plugin: modality-agnostic built-ins (EMA targets, losses, regularisers,
objectives, the token-views masker, and the ``none`` placeholders).

Registered first by :func:`jepa_core.registry.build_registry` under the name ``core``.
"""

from __future__ import annotations

from jepa_core.absent import NoMasker, NoneConfig, NoPredictor, NoTarget
from jepa_core.frozen_target import FROZEN, FrozenConfig, build_frozen
from jepa_core.hookspecs import hookimpl
from jepa_core.loggers import builtin_logger_specs
from jepa_core.losses import (
    CosineConfig,
    CosineLoss,
    L1Config,
    L1Loss,
    L2Config,
    L2Loss,
    SmoothL1Config,
    SmoothL1Loss,
)
from jepa_core.objectives import LeJEPAConfig, LeJEPAObjective, PredictiveConfig, PredictiveObjective
from jepa_core.regularizers import (
    NoRegularizer,
    NoRegularizerConfig,
    SIGReg,
    SIGRegConfig,
    VICReg,
    VICRegConfig,
)
from jepa_core.specs import (
    Example,
    LossSpec,
    MaskerSpec,
    ObjectiveSpec,
    PredictorSpec,
    RegularizerSpec,
    TargetProviderSpec,
)
from jepa_core.targets import EMAConfig, build_ema
from jepa_core.views import TokenViewsConfig, TokenViewsMasker


@hookimpl
def jepa_target_providers():
    yield TargetProviderSpec(
        name="none",
        config_type=NoneConfig,
        build=lambda cfg, encoder: NoTarget(),
        description="no target provider (objectives without a teacher, e.g. lejepa)",
        placeholder=True,
        probed=False,
    )
    yield TargetProviderSpec(
        name="ema",
        config_type=EMAConfig,
        build=build_ema,
        description="momentum (EMA) copy of the context encoder; layer-normed targets",
        example=EMAConfig,  # paired with every registered encoder in the conformance tests
    )
    yield TargetProviderSpec(
        name=FROZEN,
        config_type=FrozenConfig,
        build=build_frozen,
        description="a teacher that never moves: the encoder's initial weights or target.checkpoint's",
        example=FrozenConfig,
        probed=False,
    )


@hookimpl
def jepa_losses():
    yield LossSpec(
        name="smooth_l1",
        config_type=SmoothL1Config,
        build=lambda cfg: SmoothL1Loss(cfg.beta),
        description="Huber loss, beta=1 in the reference recipe",
        example=SmoothL1Config,
    )
    yield LossSpec(
        name="l2",
        config_type=L2Config,
        build=lambda cfg: L2Loss(),
        description="mean squared error",
        example=L2Config,
    )
    yield LossSpec(
        name="l1",
        config_type=L1Config,
        build=lambda cfg: L1Loss(),
        description="mean absolute error (V-JEPA)",
        example=L1Config,
    )
    yield LossSpec(
        name="cosine",
        config_type=CosineConfig,
        build=lambda cfg: CosineLoss(),
        description="2 - 2 cos per token (Audio-JEPA)",
        example=CosineConfig,
    )


@hookimpl
def jepa_regularizers():
    yield RegularizerSpec(
        name="none",
        config_type=NoRegularizerConfig,
        build=lambda cfg: NoRegularizer(),
        description="no regulariser (the official recipes)",
        example=NoRegularizerConfig,
    )
    yield RegularizerSpec(
        name="vicreg",
        config_type=VICRegConfig,
        build=VICReg,
        description="VICReg variance hinge + off-diagonal covariance (C-JEPA)",
        example=VICRegConfig,
    )
    yield RegularizerSpec(
        name="sigreg",
        config_type=SIGRegConfig,
        build=SIGReg,
        description="LeJEPA's sketched isotropic Gaussian test (Epps-Pulley on random slices)",
        example=lambda: SIGRegConfig(num_slices=64),
    )


@hookimpl
def jepa_predictors():
    yield PredictorSpec(
        name="none",
        config_type=NoneConfig,
        build=lambda cfg, encoder: NoPredictor(),
        description="no predictor (objectives without one, e.g. lejepa)",
        placeholder=True,
    )


@hookimpl
def jepa_maskers():
    yield MaskerSpec(
        name="none",
        config_type=NoneConfig,
        build=lambda cfg: NoMasker(),
        description="no masks (views come from the data, e.g. multi-crop)",
        placeholder=True,
    )
    yield MaskerSpec(
        name="token_views",
        config_type=TokenViewsConfig,
        build=TokenViewsMasker,
        description="views by token dropping, any grid (LeVJEPA): global and local random token subsets",
        example=lambda: Example(options=TokenViewsConfig(), grid=(4, 4)),
    )


@hookimpl
def jepa_objectives():
    yield ObjectiveSpec(
        name="predictive",
        config_type=PredictiveConfig,
        build=PredictiveObjective,
        description="predict the target encoder's features of masked tokens (I-JEPA, V-JEPA)",
        requires=("target", "predictor"),
        example=PredictiveConfig,
    )
    yield ObjectiveSpec(
        name="lejepa",
        config_type=LeJEPAConfig,
        build=LeJEPAObjective,
        description="views -> projector; invariance + SIGReg, no teacher, no predictor (LeJEPA)",
        excludes=("target", "predictor"),
        example=lambda: LeJEPAConfig(proj_hidden_dim=32, num_slices=32),
    )


@hookimpl
def jepa_loggers():
    return builtin_logger_specs()
