"""The ``tensorboard`` logger (the default): event files in the run's ``tensorboard/`` folder.

Scalars and images keep their tags; the resolved config is a text summary named ``config``.

>>> logger = TensorBoardLogger(LoggerContext(out_dir="runs/x"))     # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch

from jepa_core.config_files import dump_text

from .base import LoggerContext

FOLDER = "tensorboard"


class TensorBoardLogger:
    """Writes to ``out_dir/tensorboard`` with ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(self, context: LoggerContext) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(context.out_dir / FOLDER))

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.writer.add_image(tag, image, step)

    def log_config(self, config: dict[str, Any]) -> None:
        text = dump_text(config, "yaml")
        self.writer.add_text("config", "".join(f"    {line}\n" for line in text.splitlines()), 0)  # a code block

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
