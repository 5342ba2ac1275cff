"""What every logger receives, and the interface it implements.

A logger gets the same scalars (``train/loss``, ``monitor/*``, ``eval/*``, ...), images (the
mask pictures, uint8 ``[3, H, W]``) and the resolved config as every other selected logger::

    logger = spec.build(LoggerContext(out_dir=Path("runs/x"), config=to_dict(cfg), run_name="x"))
    logger.log_config(config)
    logger.log_scalar("train/loss", 0.42, step=20)
    logger.log_image("masks", picture, step=500)
    logger.flush(); logger.close()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
import torch


@attrs.frozen(kw_only=True)
class LoggerContext:
    """Where and what a logger logs: the run directory, the resolved config (plain data, as
    written to ``config.yaml``), a run name (the run directory's name) and the step the run
    starts at (0, or the step of the checkpoint it resumes: a logger keeping its own file drops
    what an interrupted run logged after it)."""

    out_dir: Path = attrs.field(converter=Path)
    config: dict[str, Any] = attrs.field(factory=dict)
    run_name: str = "run"
    start_step: int = 0


@runtime_checkable
class Logger(Protocol):
    """The methods a logger built by a :class:`~jepa_core.specs.LoggerSpec` has."""

    def log_scalar(self, tag: str, value: float, step: int) -> None: ...

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None: ...

    def log_config(self, config: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def hwc(image: torch.Tensor) -> Any:
    """A uint8 ``[3, H, W]`` picture as a numpy ``[H, W, 3]`` array (what wandb and mlflow take).

    >>> hwc(torch.zeros(3, 2, 4, dtype=torch.uint8)).shape
    (2, 4, 3)
    """
    return image.detach().cpu().permute(1, 2, 0).contiguous().numpy()


def flat_params(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The config as ``{"section.key": "value"}`` strings (for trackers with flat parameters).

    >>> flat_params({"optim": {"lr": 0.001, "betas": [0.9, 0.999]}, "plugin": "image"})
    {'optim.lr': '0.001', 'optim.betas': '[0.9, 0.999]', 'plugin': 'image'}
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, f"{name}."))
        else:
            out[name] = str(value)
    return out
