"""Metrics loggers: ``train.loggers`` selects any registered ones (``jepa_loggers`` hook).

Built-ins: ``tensorboard`` (the default; ``tensorboard/`` event files), ``csv`` (one
``metrics.csv`` per run, a row per log step), and the optional extras ``wandb``
(``pip install 'jepaforge[wandb]'``) and ``mlflow`` (``pip install 'jepaforge[mlflow]'``), both
offline in the run directory by default. Every selected logger receives the same scalars, images
(mask pictures) and the resolved config::

    jepa train --plugin image --preset demo --set train.loggers=tensorboard,csv

    check_loggers(("tensorboard", "wandb"), registry)   # before any work: unknown name or missing package
    writer = open_loggers(("tensorboard", "csv"), registry, LoggerContext(out_dir="runs/x", config=to_dict(cfg)))
    writer.add_scalar("train/loss", 0.42, 20)           # SummaryWriter-like fan-out
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jepa_core.errors import ConfigError
from jepa_core.specs import LoggerSpec

from .base import Logger, LoggerContext
from .fanout import LoggerFanOut

if TYPE_CHECKING:
    from jepa_core.registry import Registry

__all__ = ["Logger", "LoggerContext", "LoggerFanOut", "builtin_logger_specs", "check_loggers", "open_loggers"]


def _tensorboard(context: LoggerContext) -> Any:
    from .tensorboard import TensorBoardLogger

    return TensorBoardLogger(context)


def _csv(context: LoggerContext) -> Any:
    from .csv_logger import CsvLogger

    return CsvLogger(context)


def _wandb(context: LoggerContext) -> Any:
    from .wandb_logger import WandbLogger

    return WandbLogger(context)


def _mlflow(context: LoggerContext) -> Any:
    from .mlflow_logger import MlflowLogger

    return MlflowLogger(context)


def builtin_logger_specs() -> list[LoggerSpec]:
    """The core's loggers (registered by :mod:`jepa_core.builtins`)."""
    return [
        LoggerSpec(
            name="tensorboard", build=_tensorboard, description="TensorBoard event files in tensorboard/ (default)"
        ),
        LoggerSpec(name="csv", build=_csv, description="metrics.csv: one row per log step, one column per scalar"),
        LoggerSpec(
            name="wandb",
            build=_wandb,
            requires=("wandb",),
            extra="wandb",
            description="Weights & Biases, offline in wandb/ unless WANDB_MODE=online",
        ),
        LoggerSpec(
            name="mlflow",
            build=_mlflow,
            requires=("mlflow",),
            extra="mlflow",
            description="MLflow file store in mlruns/ unless MLFLOW_TRACKING_URI is set",
        ),
    ]


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it).

    >>> module_available("json"), module_available("no_such_module_xyz")
    (True, False)
    """
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def check_loggers(names: Sequence[str], registry: Registry) -> list[LoggerSpec]:
    """The specs of ``train.loggers``; a :class:`ConfigError` (one sentence) for an unknown or
    repeated name or a logger whose package is not installed.

    >>> [s.name for s in check_loggers(("tensorboard", "csv"), build_registry())]   # doctest: +SKIP
    ['tensorboard', 'csv']
    """
    specs: list[LoggerSpec] = []
    valid = ", ".join(registry.loggers()) or "none"
    for name in names:
        if name.strip().lower().replace("-", "_") not in registry.loggers():
            raise ConfigError(f"train.loggers names an unknown logger '{name}'; valid loggers: {valid}.")
        spec = registry.logger(name)
        if spec in specs:
            raise ConfigError(f"train.loggers names '{spec.name}' twice; name each logger once.")
        missing = [m for m in spec.requires if not module_available(m)]
        if missing:
            how = f"pip install 'jepaforge[{spec.extra}]'" if spec.extra else f"pip install {' '.join(missing)}"
            raise ConfigError(
                f"train.loggers names '{spec.name}', which needs the optional package {missing[0]}; "
                f"install it with {how} or drop it from train.loggers."
            )
        specs.append(spec)
    return specs


def open_loggers(names: Sequence[str], registry: Registry, context: LoggerContext) -> LoggerFanOut:
    """Build the loggers ``names`` (checked with :func:`check_loggers`), hand each the resolved
    config, and return their fan-out. A logger that fails to start closes those already built."""
    loggers: list[Any] = []
    try:
        for spec in check_loggers(names, registry):
            loggers.append(spec.build(context))
        fanout = LoggerFanOut(loggers)
        fanout.log_config(context.config)
    except BaseException:
        for logger in loggers:
            try:
                logger.close()
            except Exception:
                pass  # the original error is the one to report
        raise
    return fanout
