"""jepa_core: a modality-agnostic core for joint-embedding predictive architectures.

Parts (encoder, predictor, masker, target provider, loss, dataset) come from plugins found
through the ``jepa.plugins`` entry-point group; :class:`Trainer` trains them.

>>> from jepa_core import build_registry, Trainer
"""

from jepa_core.config import ComponentConfig, OptimConfig, ProbeConfig, RunConfig, TrainConfig
from jepa_core.data import Batch, build_loader
from jepa_core.errors import JepaError
from jepa_core.hookspecs import hookimpl
from jepa_core.interfaces import Encoder, Loss, Masker, MaskSet, Predictor, TargetProvider
from jepa_core.registry import Registry, build_registry
from jepa_core.schedules import Schedules
from jepa_core.trainer import StepOutput, Trainer

__all__ = [
    "Batch", "ComponentConfig", "Encoder", "JepaError", "Loss", "MaskSet", "Masker", "OptimConfig",
    "Predictor", "ProbeConfig", "Registry", "RunConfig", "Schedules", "StepOutput", "TargetProvider",
    "TrainConfig", "Trainer", "build_loader", "build_registry", "hookimpl",
]
__version__ = "0.1.0"
