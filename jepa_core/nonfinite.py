"""Non-finite losses, gradients and weights: recorded, checked and reported here only.

The trainer records the first step whose loss or gradient norm is NaN or inf in a device tensor
(:func:`record_step`, no host sync). :class:`NonFiniteGuard` reads that record every
``log_every`` steps and at the end of training; :func:`check_finite_state` reads it and checks
every weight before a checkpoint is written. Both raise :class:`NonFiniteLossError`: training
stops, and the last good checkpoint stays the newest.

>>> guard = NonFiniteGuard(log_every=10, total_steps=100, checkpoint_dir="runs/x/checkpoints")
>>> trainer.fit(loader, epochs=1, callbacks=[guard, progress])      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from jepa_core.callback_base import Callback
from jepa_core.errors import NonFiniteLossError


class TrainingState(Protocol):
    """What the checks read from a trainer (:class:`~jepa_core.trainer.Trainer` has it)."""

    step: int
    device: torch.device
    first_nonfinite_step: torch.Tensor

    def networks(self) -> dict[str, torch.nn.Module]: ...


def record_step(
    first_nonfinite_step: torch.Tensor, step: int, loss: torch.Tensor, grad_norm: torch.Tensor
) -> torch.Tensor:
    """``first_nonfinite_step`` updated on the device: ``step`` (1-based) if it is the first whose
    ``loss`` or ``grad_norm`` is not finite, else unchanged (-1: none so far).

    >>> record_step(torch.tensor(-1), 3, torch.tensor(float("nan")), torch.tensor(1.0))
    tensor(3)
    """
    finite = torch.isfinite(loss.detach()) & torch.isfinite(grad_norm)
    unset = first_nonfinite_step < 0
    return torch.where(unset & ~finite, torch.full_like(first_nonfinite_step, step), first_nonfinite_step)


def nonfinite_error(step: int, checkpoint_dir: str | Path | None = None) -> NonFiniteLossError:
    """The error for a run whose loss or gradient first became non-finite at ``step`` (1-based).

    >>> str(nonfinite_error(7))[:60]
    'the loss or gradient became non-finite at step 7; training s'
    """
    kept = (
        f"the last good checkpoint in {checkpoint_dir} is kept"
        if checkpoint_dir
        else "the last good checkpoint is kept"
    )
    return NonFiniteLossError(
        f"the loss or gradient became non-finite at step {step}; training stopped without saving it and "
        f"{kept} (lower optim.lr, set optim.clip_grad, or check the data)."
    )


def raise_if_nonfinite(trainer: TrainingState, checkpoint_dir: str | Path | None = None) -> None:
    """One host sync: raise :class:`NonFiniteLossError` if any step so far was non-finite.

    >>> raise_if_nonfinite(trainer)    # doctest: +SKIP
    """
    bad_step = int(trainer.first_nonfinite_step.item())
    if bad_step >= 0:
        raise nonfinite_error(bad_step, checkpoint_dir)


def nonfinite_parameters(modules: dict[str, torch.nn.Module]) -> list[str]:
    """Names (``what.param``) of parameters holding NaN or inf; one host sync for all of them.

    Sharded parameters (DTensor) are checked on this rank's shard.

    >>> nonfinite_parameters({"encoder": torch.nn.Linear(2, 2)})
    []
    """
    named = [(f"{what}.{name}", p) for what, m in modules.items() for name, p in m.named_parameters()]
    if not named:
        return []
    local = [p.to_local() if hasattr(p, "to_local") else p for _, p in named]
    flags = torch.stack([torch.isfinite(p.detach()).all() for p in local]).cpu().tolist()
    return [name for (name, _), ok in zip(named, flags, strict=True) if not ok]


def check_finite_state(trainer: TrainingState, checkpoint_dir: str | Path) -> None:
    """Raise :class:`NonFiniteLossError` unless every step so far and every weight is finite.

    With several processes the ranks agree (an all-reduce): a non-finite shard on one rank stops all.

    >>> check_finite_state(trainer, "runs/x/checkpoints")     # doctest: +SKIP
    """
    raise_if_nonfinite(trainer, checkpoint_dir)
    names = nonfinite_parameters(trainer.networks())
    count = torch.tensor(len(names), device=trainer.device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX)  # shards: agree on all ranks
    if int(count.item()):
        shown = ", ".join(names[:3]) or "a parameter shard on another rank"
        raise NonFiniteLossError(
            f"the weights became non-finite after step {trainer.step} ({shown}); training stopped without "
            f"saving them and the last good checkpoint in {checkpoint_dir} is kept "
            "(lower optim.lr or set optim.clip_grad)."
        )


class NonFiniteGuard(Callback):
    """Stops training at the first log step (every ``log_every`` steps, and the last of
    ``total_steps``) after a non-finite step, and at the end of training: one host sync each.

    Put it before the loggers in the callback list, so a non-finite loss is never logged.

    >>> NonFiniteGuard(log_every=10, total_steps=100)
    NonFiniteGuard(log_every=10, total_steps=100)
    """

    def __init__(self, *, log_every: int, total_steps: int, checkpoint_dir: str | Path | None = None) -> None:
        self.log_every, self.total_steps, self.checkpoint_dir = log_every, total_steps, checkpoint_dir

    def __repr__(self) -> str:
        return f"NonFiniteGuard(log_every={self.log_every}, total_steps={self.total_steps})"

    def on_step_end(self, trainer: TrainingState, out: object) -> None:
        if trainer.step % self.log_every == 0 or trainer.step == self.total_steps:
            raise_if_nonfinite(trainer, self.checkpoint_dir)

    def on_fit_end(self, trainer: TrainingState) -> None:
        raise_if_nonfinite(trainer, self.checkpoint_dir)
