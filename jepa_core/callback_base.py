"""The base of training callbacks: the hooks :meth:`jepa_core.trainer.Trainer.fit` calls.

Built-in callbacks (checkpoints, progress, monitors, online evaluation, bad-sample and
non-finite checks) subclass it; this module imports nothing of the trainer at run time, so any
module the trainer imports may define a callback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jepa_core.trainer import StepOutput, Trainer

__all__ = ["Callback"]


class Callback:
    """Hooks :meth:`~jepa_core.trainer.Trainer.fit` calls, in the order of its ``callbacks``; each does nothing unless
    a subclass overrides it. ``fit`` calls only the hooks an object has, so an object with some of
    these methods works without subclassing (subclass to be type-checked).

    >>> class PrintLoss(Callback):
    ...     def on_step_end(self, trainer, out):
    ...         print(out.step, float(out.loss))
    >>> trainer.fit(loader, epochs=1, callbacks=[PrintLoss()])    # doctest: +SKIP
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first step of this ``fit`` (also when resuming)."""

    def on_step_end(self, trainer: Trainer, out: StepOutput) -> None:
        """After each optimizer step; ``out`` describes it (the loss stays on the device)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int) -> None:
        """After the last step of an epoch; ``epoch`` counts finished epochs."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """After the last step (also after a stop request)."""
