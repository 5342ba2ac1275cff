"""jepa_core: a modality-agnostic core for joint-embedding predictive architectures.

Parts (encoder, predictor, masker, target provider, loss, dataset) come from plugins found
through the ``jepa.plugins`` entry-point group (:func:`build_registry`); :func:`build_parts`
builds them from a :class:`RunConfig`, :func:`build_loader` feeds them masked batches and
:class:`Trainer` trains them, one step at a time or a whole ``fit`` (with :class:`Callback`
hooks). :func:`train_run` does all of it in a run directory (checkpoints, resume, logging), and
:func:`load_encoder` gives back a trained encoder. The interfaces a plugin implements are
:class:`Encoder`, :class:`Predictor`, :class:`Masker`, :class:`TargetProvider` and :class:`Loss`;
it registers with :data:`hookimpl`.

>>> from jepa_core import build_registry, train_run, load_encoder
>>> registry = build_registry()
>>> cfg = registry.preset("image", "demo").build()             # doctest: +SKIP
>>> result = train_run(cfg, registry)                          # doctest: +SKIP
>>> encoder = load_encoder(str(result.out_dir))                # doctest: +SKIP
"""

from jepa_core.build import Parts, build_dataset, build_parts
from jepa_core.callback_base import Callback
from jepa_core.config import ComponentConfig, OptimConfig, ProbeConfig, RunConfig, TrainConfig
from jepa_core.data import Batch, build_loader
from jepa_core.errors import JepaError
from jepa_core.extract import load_encoder
from jepa_core.hookspecs import hookimpl
from jepa_core.interfaces import Encoder, Loss, Masker, MaskSet, Predictor, TargetProvider
from jepa_core.registry import Registry, build_registry
from jepa_core.run import RunResult, train_run
from jepa_core.schedules import Schedules
from jepa_core.trainer import StepOutput, Trainer

__all__ = [
    "Batch",
    "Callback",
    "ComponentConfig",
    "Encoder",
    "JepaError",
    "Loss",
    "MaskSet",
    "Masker",
    "OptimConfig",
    "Parts",
    "Predictor",
    "ProbeConfig",
    "Registry",
    "RunConfig",
    "RunResult",
    "Schedules",
    "StepOutput",
    "TargetProvider",
    "TrainConfig",
    "Trainer",
    "build_dataset",
    "build_loader",
    "build_parts",
    "build_registry",
    "hookimpl",
    "load_encoder",
    "train_run",
]
__version__ = "0.1.0"
