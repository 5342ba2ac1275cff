"""Training callbacks: console progress + TensorBoard, bad-sample and non-finite checks.

Everything that needs a host sync (``.item()``) happens only every ``log_every`` steps: the loss
is summed on the device in between.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

import torch

from jepa_core.errors import DataError, NonFiniteLossError


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class ProgressLogger:
    """Console line ``step | epoch | loss | lr | img/s | ETA`` and TensorBoard scalars.

    ``tensorboard_dir=None`` disables TensorBoard; ``stream=None`` disables the console.
    ``max_bad_fraction`` stops the run when too many samples were unreadable.
    """

    def __init__(
        self, *, total_steps: int, log_every: int, tensorboard_dir: str | Path | None = None,
        stream: TextIO | None = sys.stdout, images_per_step_factor: int = 1,
        max_bad_fraction: float = 0.01, min_samples_for_bad_check: int = 200,
    ) -> None:
        self.total_steps, self.log_every, self.stream = total_steps, log_every, stream
        self.images_factor = images_per_step_factor  # world size: log global images/s
        self.max_bad_fraction, self.min_samples = max_bad_fraction, min_samples_for_bad_check
        self.writer = None
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(tensorboard_dir))
        self._loss_sum: torch.Tensor | None = None
        self._steps = 0
        self._images = 0
        self._t0 = time.perf_counter()
        self._t_start = self._t0
        self.samples_seen = 0
        self.bad_samples: list[str] = []
        self.history: list[tuple[int, float]] = []  # (step, mean loss over the window)

    def on_step_end(self, trainer: Any, out: Any) -> None:
        loss = out.loss.float()
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        self._steps += 1
        self._images += out.batch_size * self.images_factor
        self.samples_seen += out.batch_size
        if out.bad_samples:
            self.bad_samples.extend(out.bad_samples)
            self._check_bad()
        if trainer.step % self.log_every == 0 or trainer.step == self.total_steps:
            self.flush(trainer, out)

    def _check_bad(self) -> None:
        seen = max(self.samples_seen, 1)
        if seen >= self.min_samples and len(self.bad_samples) / seen > self.max_bad_fraction:
            examples = "; ".join(self.bad_samples[:3])
            raise DataError(
                f"{len(self.bad_samples)} of {seen} samples were unreadable, more than "
                f"train.max_bad_fraction={self.max_bad_fraction}; e.g. {examples}"
            )

    def flush(self, trainer: Any, out: Any) -> None:
        if self._loss_sum is None:
            return
        bad_step = int(trainer.first_nonfinite_step.item())
        if bad_step >= 0:
            raise NonFiniteLossError(
                f"the loss or gradient became non-finite at step {bad_step}; stopped without saving, "
                "the last good checkpoint is kept (lower optim.lr or check the data)."
            )
        mean_loss = float((self._loss_sum / self._steps).item())
        now = time.perf_counter()
        rate = self._images / max(now - self._t0, 1e-9)
        remaining = (self.total_steps - trainer.step) * (now - self._t0) / max(self._steps, 1)
        self.history.append((trainer.step, mean_loss))
        if self.stream is not None:
            print(
                f"step {trainer.step:>6}/{self.total_steps} | epoch {trainer.epoch} | loss {mean_loss:.4f} "
                f"| lr {out.lr:.2e} | wd {out.weight_decay:.3f} | ema {out.momentum:.4f} "
                f"| {rate:,.0f} img/s | ETA {_fmt_duration(remaining)}",
                file=self.stream, flush=True,
            )
        if self.writer is not None:
            s = trainer.step
            self.writer.add_scalar("train/loss", mean_loss, s)
            self.writer.add_scalar("train/lr", out.lr, s)
            self.writer.add_scalar("train/weight_decay", out.weight_decay, s)
            self.writer.add_scalar("train/ema_momentum", out.momentum, s)
            self.writer.add_scalar("train/grad_norm", float(out.grad_norm.item()), s)
            self.writer.add_scalar("perf/images_per_s", rate, s)
            self.writer.add_scalar("data/bad_samples", len(self.bad_samples), s)
        self._loss_sum, self._steps, self._images, self._t0 = None, 0, 0, now

    def on_fit_end(self, trainer: Any) -> None:
        if self._steps:
            self.flush(trainer, _LastOut(trainer))
        if self.bad_samples and self.stream is not None:
            print(f"skipped {len(self.bad_samples)} unreadable samples, e.g. {self.bad_samples[0]}", file=self.stream)
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None


class _LastOut:
    """Hyper-parameters at the trainer's last step, for the final flush."""

    def __init__(self, trainer: Any) -> None:
        s = max(trainer.step - 1, 0)
        self.lr = trainer.schedules.learning_rate(s)
        self.weight_decay = trainer.schedules.weight_decay_at(s)
        self.momentum = trainer.schedules.momentum(s)
        self.grad_norm = torch.zeros(())
