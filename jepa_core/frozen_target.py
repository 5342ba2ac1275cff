"""The frozen teacher (core built-in ``frozen``): a target provider that no step moves, holding
the context encoder's initial weights or an encoder read from a checkpoint; probes read the
student (its spec's ``probed=False``).

>>> teacher = build_frozen(FrozenConfig(checkpoint="runs/lejepa_demo"), encoder)   # doctest: +SKIP
>>> teacher.update(encoder, momentum=0.0)   # nothing changes                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import torch
from torch import nn

from jepa_core.errors import CheckpointError
from jepa_core.interop import load_network, read_checkpoint
from jepa_core.targets import EMATargetProvider
from jepa_core.validators import path_or_none

FROZEN = "frozen"  # the registered name of the frozen teacher


@attrs.frozen
class FrozenConfig:
    """A teacher that never moves. ``checkpoint``: a run directory or checkpoint file whose
    encoder becomes the teacher (``network``: ``target`` its target encoder, ``context`` its
    (context) encoder, ``auto`` the one its run's probes read, :func:`teacher_network`);
    ``None``: the context encoder's own initial weights (a frozen random teacher).
    ``layer_norm_targets`` as ``ema``'s.
    """

    checkpoint: str | None = attrs.field(default=None, validator=path_or_none)
    network: Literal["auto", "target", "context"] = "auto"
    layer_norm_targets: bool = True


class FrozenTargetProvider(EMATargetProvider):
    """The teacher's targets, as ``ema``'s, from weights that no step changes."""

    uses_momentum = False  # the progress line and loggers leave the EMA momentum out
    teacher_checkpoint: str | None = None  # target.checkpoint; None: the encoder's initial weights

    @torch.no_grad()
    def update(self, context_encoder: nn.Module, momentum: float) -> None:
        """Nothing: the teacher stays as built."""


def teacher_network(state: dict[str, Any], network: str) -> str:
    """The network of a checkpoint's ``state`` that ``target.network`` names: ``target_encoder``,
    ``encoder``, or for ``auto`` the one its run's probes read: the target encoder when the state
    holds one and its run's teacher was not itself frozen, else the encoder.

    >>> teacher_network({"target_encoder": {}, "encoder": {"w": 0}}, "auto")   # a LeJEPA run
    'encoder'
    """
    if network != "auto":
        return "target_encoder" if network == "target" else "encoder"
    run_config = state.get("config")
    target = run_config.get("target") if isinstance(run_config, dict) else None
    frozen = isinstance(target, dict) and target.get("name") == FROZEN
    return "target_encoder" if state.get("target_encoder") and not frozen else "encoder"


def build_frozen(cfg: FrozenConfig, context_encoder: nn.Module) -> FrozenTargetProvider:
    """The teacher: a copy of ``context_encoder`` (same architecture), loaded from ``cfg.checkpoint``
    when given; a checkpoint of another architecture is a CheckpointError naming the difference.

    >>> teacher = build_frozen(FrozenConfig(checkpoint="runs/lejepa_demo"), encoder)   # doctest: +SKIP
    """
    provider = FrozenTargetProvider(context_encoder, layer_norm_targets=cfg.layer_norm_targets)
    provider.teacher_checkpoint = cfg.checkpoint
    if cfg.checkpoint is not None:
        ckpt = read_checkpoint(cfg.checkpoint)
        name = teacher_network(ckpt.state, cfg.network)
        if name == "target_encoder" and not ckpt.state.get("target_encoder"):
            raise CheckpointError(
                f"checkpoint '{ckpt.source}' has no target encoder (its run had no teacher); "
                "set target.network=context or auto."
            )
        try:
            load_network(
                provider.encoder, ckpt.network(name), what=name, source=ckpt.source, trained_as=ckpt.trained_as()
            )
        except CheckpointError as err:
            raise CheckpointError(f"the frozen teacher (target.checkpoint): {err}") from err
    return provider
