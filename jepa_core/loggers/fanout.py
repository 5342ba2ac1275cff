"""One writer for the run that passes everything on to each selected logger.

It speaks the subset of TensorBoard's ``SummaryWriter`` that the training callbacks use
(``add_scalar``, ``add_image``, ``flush``, ``close``), so the progress logger, the monitors and
the online evaluation write through it unchanged::

    writer = LoggerFanOut([TensorBoardLogger(ctx), CsvLogger(ctx)])
    writer.add_scalar("train/loss", 0.42, 20)        # -> both loggers' log_scalar
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class LoggerFanOut:
    """``SummaryWriter``-like front of several loggers (see the module docstring).

    >>> LoggerFanOut([]).add_scalar("train/loss", 0.5, 1)   # no loggers: nothing happens
    """

    def __init__(self, loggers: Sequence[Any]) -> None:
        self.loggers = list(loggers)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        value = float(value)
        for logger in self.loggers:
            logger.log_scalar(tag, value, int(step))

    def add_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        for logger in self.loggers:
            logger.log_image(tag, image, int(step))

    def log_config(self, config: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.log_config(config)

    def flush(self) -> None:
        for logger in self.loggers:
            logger.flush()

    def close(self) -> None:
        """Close every logger (all of them, even when one fails; the first error is raised after)."""
        error: BaseException | None = None
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as err:  # close the others before reporting it
                error = error or err
        self.loggers = []
        if error is not None:
            raise error
