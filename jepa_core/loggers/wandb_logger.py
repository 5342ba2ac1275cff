"""The ``wandb`` logger (optional extra ``jepaforge[wandb]``): a Weights & Biases run, offline
by default, kept in the run directory (``wandb/``).

``wandb sync runs/x/wandb/offline-run-*`` uploads it later; ``WANDB_MODE=online`` logs live and
``WANDB_PROJECT`` names the project (default ``jepaforge``). Scalars of one step are sent
together; images are ``wandb.Image``; the resolved config is the run's config.

>>> logger = WandbLogger(LoggerContext(out_dir="runs/x", run_name="x"))   # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import torch

from .base import LoggerContext, hwc

DEFAULT_PROJECT = "jepaforge"


class WandbLogger:
    """See the module docstring."""

    def __init__(self, context: LoggerContext) -> None:
        import wandb

        self.wandb = wandb
        context.out_dir.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", DEFAULT_PROJECT),
            name=context.run_name,
            dir=str(context.out_dir),
            mode=os.environ.get("WANDB_MODE", "offline"),
        )
        self._step: int | None = None
        self._pending: dict[str, Any] = {}

    def _put(self, tag: str, value: Any, step: int) -> None:
        if self._step is not None and step != self._step:
            self.flush()
        self._step = step
        self._pending[tag] = value

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        self._put(tag, value, step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self._put(tag, self.wandb.Image(hwc(image)), step)

    def log_config(self, config: dict[str, Any]) -> None:
        self.run.config.update(config, allow_val_change=True)

    def flush(self) -> None:
        if self._pending:
            self.run.log(self._pending, step=self._step)
            self._pending = {}

    def close(self) -> None:
        self.flush()
        self.run.finish()
