"""The run's own training callbacks: checkpointing, preemption signals, and the TensorBoard monitors.

Console progress and the loss log are :mod:`jepa_core.progress`'s, non-finite checks
:mod:`jepa_core.nonfinite`'s, the unreadable-sample count and limit :mod:`jepa_core.bad_samples`'s;
:func:`jepa_core.run.train_run` puts them all together.

>>> checkpointer = Checkpointer(Path("runs/x/checkpoints"), cfg, detect())   # doctest: +SKIP
>>> with PreemptionHandler(trainer) as preemption:                           # doctest: +SKIP
...     trainer.fit(loader, epochs=cfg.train.epochs, callbacks=[progress, checkpointer])
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from jepa_core import checkpoint as ckpt
from jepa_core.build import Parts
from jepa_core.callback_base import Callback
from jepa_core.config import RunConfig, to_dict
from jepa_core.console import silence
from jepa_core.dist import DistInfo, barrier
from jepa_core.interfaces import token_grid
from jepa_core.monitors import CollapseMonitor, MaskPictures
from jepa_core.nonfinite import check_finite_state
from jepa_core.parallel import is_sharded
from jepa_core.progress import ProgressLogger
from jepa_core.trainer import Trainer


class Checkpointer(Callback):
    """Writes checkpoints every ``every`` steps, at each epoch end and at the end (main rank only).

    It refuses to save non-finite state: if any step so far had a non-finite loss or gradient,
    or a weight is NaN/inf, it raises :class:`~jepa_core.errors.NonFiniteLossError` and the
    earlier checkpoints stay the newest. ``data_layout`` (the training data's size and steps per
    epoch) is stored with each checkpoint, for the resume check. ``before_save`` callables (e.g. :meth:`LossLog.flush`)
    run right before each write. Retention: the newest ``train.keep_checkpoints`` plus every
    step that is a multiple of ``train.keep_every``. Temporary files a killed write left
    behind are removed at start-up.

    >>> checkpointer = Checkpointer(Path("runs/x/checkpoints"), cfg, detect())   # doctest: +SKIP
    """

    def __init__(
        self,
        folder: Path,
        cfg: RunConfig,
        info: DistInfo,
        *,
        before_save: Sequence[Callable[[Trainer], None]] = (),
        data_layout: ckpt.DataLayout | None = None,
    ) -> None:
        self.folder, self.cfg, self.info = folder, cfg, info
        self.data_layout = data_layout
        self.before_save = tuple(before_save)
        self.last_saved_step = -1
        if info.is_main:
            ckpt.remove_temp_files(folder)

    def check_finite(self, trainer: Trainer) -> None:
        """Raise :class:`NonFiniteLossError` unless every step and every weight is finite (one sync)."""
        check_finite_state(trainer, self.folder)

    def save(self, trainer: Trainer) -> None:
        if trainer.step == self.last_saved_step:
            return
        self.check_finite(trainer)  # never overwrite good checkpoints with non-finite weights
        for hook in self.before_save:
            hook(trainer)
        train_state = trainer.state_dict()  # every rank: gathering sharded (FSDP) state is a collective
        if self.info.is_main:
            state = {**train_state, "config": to_dict(self.cfg), "world_size": self.info.world_size}
            if self.data_layout is not None:
                state["data_layout"] = self.data_layout.as_dict()
            ckpt.save_checkpoint(state, self.folder, step=trainer.step)
            ckpt.prune_checkpoints(
                self.folder, keep_last=self.cfg.train.keep_checkpoints, keep_every=self.cfg.train.keep_every
            )
        self.last_saved_step = trainer.step
        barrier()

    def on_step_end(self, trainer: Trainer, out: Any) -> None:
        every = self.cfg.train.checkpoint_every
        if every and trainer.step % every == 0:
            self.save(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int) -> None:
        self.save(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        self.save(trainer)


HANGUP = getattr(signal, "SIGHUP", None)
"""The signal a closed terminal (a dropped ssh connection) sends; absent on Windows."""


class PreemptionHandler(Callback):
    """SIGTERM/SIGUSR1 ask the trainer to stop after the current step (then a checkpoint is written).
    So does a first Ctrl-C (SIGINT) where Python's own handler is in place; a second one raises
    ``KeyboardInterrupt`` at once. So does SIGHUP where it is at its default (not under ``nohup``):
    the terminal is gone, so the console outputs that were the terminal or a pipe (whose reader
    the same signal stops) go to the null device first, and the last lines and the checkpoint are
    written without an error.

    >>> with PreemptionHandler(trainer) as preemption:       # doctest: +SKIP
    ...     trainer.fit(loader, epochs=1, callbacks=[checkpointer])
    >>> preemption.received                                  # doctest: +SKIP
    15
    """

    SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None)) if s)

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._terminals: list[int] = []

    def __enter__(self) -> PreemptionHandler:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored, not the embedder's own
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._interrupt)
        if HANGUP is not None and signal.getsignal(HANGUP) is signal.SIG_DFL:
            self._terminals = [fd for fd in (1, 2) if _dies_with_the_terminal(fd)]  # a hung-up one no longer says
            self._previous[HANGUP] = signal.signal(HANGUP, self._hangup)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum
        self.trainer.stop_requested = True

    def _hangup(self, signum: int, frame: FrameType | None) -> None:
        silence(*self._terminals)  # writes to a hung-up terminal fail (EIO)
        self._handle(signum, frame)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next Ctrl-C stops at once
        self._handle(signum, frame)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _dies_with_the_terminal(fd: int) -> bool:
    """Whether output ``fd`` is a terminal, or a pipe (``| tee log``: its reader gets the same SIGHUP)."""
    try:
        return os.isatty(fd) or stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def monitors(
    cfg: RunConfig, info: DistInfo, progress: ProgressLogger, parts: Parts, log: Callable[[str], None]
) -> list[CollapseMonitor | MaskPictures]:
    """The TensorBoard monitors ``cfg`` asks for (main rank only), writing through ``progress``'s writer.

    ``train.monitor_every`` -> :class:`~jepa_core.monitors.CollapseMonitor` (skipped, with a
    note, when FSDP shards the encoders: the extra forward would be a collective on one rank),
    ``train.mask_image_every`` -> :class:`~jepa_core.monitors.MaskPictures`; 0 turns either off.

    >>> monitors(cfg, detect(), progress, parts, print)               # doctest: +SKIP
    [<jepa_core.monitors.CollapseMonitor ...>, <jepa_core.monitors.MaskPictures ...>]
    """
    if not info.is_main:
        return []
    out: list[CollapseMonitor | MaskPictures] = []
    if cfg.train.monitor_every:
        if is_sharded(parts.encoder):
            log("train.monitor_every: collapse monitors are off under FSDP (sharded encoders)")
        else:
            out.append(CollapseMonitor(progress, every=cfg.train.monitor_every))
    if cfg.train.mask_image_every:
        out.append(MaskPictures(progress, every=cfg.train.mask_image_every, grid=token_grid(parts.encoder)))
    return out
