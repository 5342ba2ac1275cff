"""Placeholders for parts an objective does without (core built-ins named ``none``).

LeJEPA has no predictor and no target encoder, and views cut by a data transform need no masker;
the run config then names ``none`` for those sections::

    jepa train --plugin image --preset lejepa_small          # predictor.name=none, target.name=none

Each placeholder fails loudly if an objective calls it anyway.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import torch
from torch import nn


@attrs.frozen
class NoneConfig:
    """A placeholder has no options."""


class NoPredictor(nn.Module):
    """No predictor (no parameters; calling it is an error)."""

    def forward(
        self, context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor
    ) -> torch.Tensor:
        raise RuntimeError("predictor 'none' was called: this objective needs a predictor (set predictor.name)")


class NoTarget(nn.Module):
    """No target provider: no parameters, no targets, and nothing to update after a step."""

    def targets(self, x: torch.Tensor, target_idx: torch.Tensor) -> torch.Tensor:
        raise RuntimeError(
            "target 'none' was asked for targets: this objective needs a target provider (set target.name)"
        )

    def targets_many(self, x: torch.Tensor, target_idx: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [self.targets(x, t) for t in target_idx]

    def update(self, context_encoder: nn.Module, momentum: float) -> None:
        return None


class NoMasker:
    """No masks: ``masker(batch_size, grid, generator)`` returns ``None`` (views come from the data)."""

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> None:
        return None


def is_absent(component: object) -> bool:
    """Whether ``component`` is one of the ``none`` placeholders."""
    return isinstance(component, (NoPredictor, NoTarget, NoMasker))
