"""Training callbacks that report: console progress + TensorBoard, and the per-step loss log.
They never stop a run: non-finite losses are :mod:`jepa_core.nonfinite`'s, unreadable samples
:mod:`jepa_core.bad_samples`'s (this module reports their count).

Everything that needs a host sync (``.item()``, ``.tolist()``) happens only every ``log_every``
steps (and before a checkpoint): losses stay on the device in between.

>>> progress = ProgressLogger(total_steps=100, log_every=10, stream=None)
>>> losses = LossLog("runs/x/losses.tsv", log_every=10)             # doctest: +SKIP
>>> trainer.fit(loader, epochs=1, callbacks=[progress, losses])     # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import torch

from jepa_core.absent import NoTarget
from jepa_core.bad_samples import BadSampleTally
from jepa_core.callback_base import Callback
from jepa_core.console import echo
from jepa_core.hardware import usable_cores
from jepa_core.safe_write import writing

MAX_BAD_SAMPLES_PRINTED = 10
"""Unreadable samples named one by one on the console; later ones are only counted."""


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class ProgressLogger(Callback):
    """Console line ``step | epoch | loss | lr | img/s | ETA`` and TensorBoard scalars; the
    speed's unit follows ``sample_noun`` (``clips/s`` for ``"clips"``; the TensorBoard scalar
    stays ``perf/images_per_s``).

    ``writer`` is where the scalars go (anything with ``add_scalar``, e.g. the run's
    :class:`~jepa_core.loggers.LoggerFanOut`, which this logger flushes and closes at the end);
    without one, ``tensorboard_dir`` opens a TensorBoard writer there and ``None`` logs no scalars.
    ``stream=None`` disables the console. At the end it prints the run's average training speed
    (images/s over all logged steps, evaluations left out), the number ``jepa doctor`` predicts.
    Given ``bad_samples`` (a :class:`~jepa_core.bad_samples.BadSampleTally` that counts each step
    before this logger runs), it names the first ``MAX_BAD_SAMPLES_PRINTED`` unreadable samples on
    the console, logs their count as the TensorBoard scalar ``data/bad_samples`` and sums them up
    at the end. It also reports the share of the training time this process spent waiting for
    batches (the trainer's ``data_wait_seconds``): ``perf/data_wait_fraction`` per logged window
    and at the end, with a hint to raise ``train.num_workers`` (given as ``data_workers``) when
    the input held training back and the machine has cores to spare.

    >>> logger = ProgressLogger(total_steps=10, log_every=5, stream=None, bad_samples=BadSampleTally())
    """

    def __init__(
        self,
        *,
        total_steps: int,
        log_every: int,
        tensorboard_dir: str | Path | None = None,
        stream: TextIO | None = sys.stdout,
        images_per_step_factor: int = 1,
        bad_samples: BadSampleTally | None = None,
        writer: Any = None,
        data_workers: int | None = None,
        cores: int | None = None,
        sample_noun: str = "images",
    ) -> None:
        self.total_steps, self.log_every, self.stream = total_steps, log_every, stream
        self.sample_noun = sample_noun  # the dataset's (DatasetSpec.sample_noun)
        self.rate_unit = "img/s" if sample_noun == "images" else f"{sample_noun}/s"
        self.images_factor = images_per_step_factor  # world size: log global images/s
        self.bad_samples = bad_samples if bad_samples is not None else BadSampleTally()  # none counted
        self._named = 0  # unreadable samples named on the console so far
        self.writer = writer
        if writer is None and tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(tensorboard_dir))
        self._loss_sum: torch.Tensor | None = None
        self._part_sums: dict[str, torch.Tensor] = {}  # named loss parts (loss_pred, loss_reg)
        self._steps = 0
        self._images = 0
        self._t0 = time.perf_counter()
        self._t_start = self._t0
        self.history: list[tuple[int, float]] = []  # (step, mean loss over the window)
        self.train_seconds = 0.0  # training time of the logged windows (evaluations excluded)
        self.train_images = 0  # images (all processes) of the logged windows
        self.data_wait_seconds = 0.0  # of train_seconds, waiting for the loader (this process)
        self._wait_mark: float | None = None  # the trainer's data_wait_seconds at the window's start
        self.data_workers = data_workers
        self.cores = cores if cores is not None else usable_cores()

    def on_fit_start(self, trainer: Any) -> None:
        self._wait_mark = getattr(trainer, "data_wait_seconds", None)

    def exclude_time(self, seconds: float) -> None:
        """Leave ``seconds`` spent outside training (e.g. an online evaluation) out of img/s and ETA."""
        self._t0 += seconds

    def on_step_end(self, trainer: Any, out: Any) -> None:
        loss = out.loss.float()
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        for name, value in getattr(out, "parts", {}).items():
            self._part_sums[name] = self._part_sums.get(name, 0) + value
        self._steps += 1
        self._images += out.batch_size * self.images_factor
        self._name_new_bad_samples()
        if trainer.step % self.log_every == 0 or trainer.step == self.total_steps:
            self.flush(trainer, out)

    def _name_new_bad_samples(self) -> None:
        """Print the unreadable samples met since the last step, up to ``MAX_BAD_SAMPLES_PRINTED`` in all."""
        met = self.bad_samples.samples
        while self._named < min(len(met), MAX_BAD_SAMPLES_PRINTED):
            self._named += 1
            more = " (further ones are only counted)" if self._named == MAX_BAD_SAMPLES_PRINTED else ""
            echo(f"skipped sample {self._named}: {met[self._named - 1]}{more}", self.stream)

    def flush(self, trainer: Any, out: Any) -> None:
        if self._loss_sum is None:
            return
        mean_loss = float((self._loss_sum / self._steps).item())
        parts = {}
        if self._part_sums:
            names = sorted(self._part_sums)
            values = (torch.stack([self._part_sums[n] for n in names]) / self._steps).tolist()
            parts = dict(zip(names, values, strict=True))
        now = time.perf_counter()
        rate = self._images / max(now - self._t0, 1e-9)
        remaining = (self.total_steps - trainer.step) * (now - self._t0) / max(self._steps, 1)
        self.history.append((trainer.step, mean_loss))
        self.train_seconds += now - self._t0
        self.train_images += self._images
        waited = self._waited(trainer)
        self.data_wait_seconds += waited
        target = getattr(trainer, "target", None)
        has_target = not isinstance(target, NoTarget) and getattr(target, "uses_momentum", True)  # no EMA to report
        ema = f" | ema {out.momentum:.4f}" if has_target else ""
        if self.stream is not None:
            count = len(self.bad_samples.samples)
            bad = f" | {count} bad samples" if count else ""
            echo(
                f"step {trainer.step:>6}/{self.total_steps} | epoch {trainer.epoch} "
                f"| loss {mean_loss:.4f}{_parts_text(parts)} "
                f"| lr {out.lr:.2e} | wd {out.weight_decay:.3f}{ema} "
                f"| {rate:,.0f} {self.rate_unit} | ETA {_fmt_duration(remaining)}{bad}",
                self.stream,
            )
        if self.writer is not None:
            s = trainer.step
            self.writer.add_scalar("train/loss", mean_loss, s)
            for name, value in parts.items():
                self.writer.add_scalar(f"train/{name}", value, s)
            self.writer.add_scalar("train/lr", out.lr, s)
            self.writer.add_scalar("train/weight_decay", out.weight_decay, s)
            if has_target:
                self.writer.add_scalar("train/ema_momentum", out.momentum, s)
            self.writer.add_scalar("train/grad_norm", float(out.grad_norm.item()), s)
            self.writer.add_scalar("perf/images_per_s", rate, s)
            self.writer.add_scalar("perf/data_wait_fraction", waited / max(now - self._t0, 1e-9), s)
            self.writer.add_scalar("data/bad_samples", len(self.bad_samples.samples), s)
        self._loss_sum, self._steps, self._images, self._t0 = None, 0, 0, now
        self._part_sums = {}

    def on_fit_end(self, trainer: Any) -> None:
        if self._steps:
            self.flush(trainer, _LastOut(trainer))
        if self.train_images and self.train_seconds > 0:
            echo(
                f"trained on {self.train_images:,} {self.sample_noun} in {_fmt_duration(self.train_seconds)}: "
                f"{self.train_images / self.train_seconds:,.0f} {self.rate_unit} on average, "
                f"{self.data_wait_fraction:.0%} of that time waiting for data{self._workers_hint()}",
                self.stream,
            )
        tally = self.bad_samples
        if tally.samples:
            echo(
                f"skipped {len(tally.samples)} unreadable samples ({tally.bad_draws} of {tally.drawn} "
                f"samples drawn; the next readable sample was used instead), e.g. {tally.samples[0]}",
                self.stream,
            )
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
            self.writer = None

    @property
    def data_wait_fraction(self) -> float:
        """The share of the logged training time spent waiting for batches (0 before any)."""
        return self.data_wait_seconds / self.train_seconds if self.train_seconds > 0 else 0.0

    def _waited(self, trainer: Any) -> float:
        """Seconds the trainer waited for data since the last window (0 for a trainer that does not count them)."""
        total = getattr(trainer, "data_wait_seconds", None)
        if total is None:
            return 0.0
        waited = total - (self._wait_mark if self._wait_mark is not None else total)
        self._wait_mark = total
        return max(waited, 0.0)

    def _workers_hint(self) -> str:
        """``; with 16 cores, --set train.num_workers=8 (now 2) may train faster`` when at least
        ``DATA_WAIT_HINT`` of the time went to waiting for data and the cores could run several
        times the data workers; else empty."""
        workers = self.data_workers
        if workers is None or self.data_wait_fraction < DATA_WAIT_HINT or self.cores < 2 * (workers + 2):
            return ""
        suggested = min(self.cores // 2, max(8, 2 * workers))  # always more than now
        return f"; with {self.cores} cores, --set train.num_workers={suggested} (now {workers}) may train faster"


DATA_WAIT_HINT = 0.2
"""The share of the training time spent waiting for data above which the end-of-run line
suggests more data workers (where the machine has the cores for them)."""


def _parts_text(parts: dict[str, float]) -> str:
    """`` [pred 0.1000 reg 0.5000]`` for ``{"loss_pred": 0.1, "loss_reg": 0.5}``; empty without parts."""
    if not parts:
        return ""
    return " [" + " ".join(f"{n.removeprefix('loss_')} {v:.4f}" for n, v in parts.items()) + "]"


class _LastOut:
    """Hyper-parameters at the trainer's last step, for the final flush."""

    def __init__(self, trainer: Any) -> None:
        s = max(trainer.step - 1, 0)
        self.lr = trainer.schedules.learning_rate(s)
        self.weight_decay = trainer.schedules.weight_decay_at(s)
        self.momentum = trainer.schedules.momentum(s)
        self.grad_norm = torch.zeros(())


class LossLog(Callback):
    """Every step's loss in a text file, ``step<TAB>loss`` per line, without a per-step host sync.

    ``step`` is 1-based (as in the console and checkpoint names); ``loss`` is the exact
    float32 value (``repr`` of the float, so reading it back is bit-exact). Losses stay on the
    device and are copied to the host every ``log_every`` steps, at the end, and whenever
    :meth:`flush` is called (the run's checkpointer calls it before each save, so the file
    always covers every step up to the newest checkpoint). With ``start_step=s`` (a resume
    from step ``s``) lines after ``s`` left by the interrupted run are dropped first, so the
    file holds exactly one line per step of the run that the checkpoints continue.

    >>> log = LossLog("runs/x/losses.tsv", log_every=20, start_step=0)   # doctest: +SKIP
    >>> read_loss_log("runs/x/losses.tsv")[1]                            # doctest: +SKIP
    0.4779171347618103
    """

    FILE_NAME = "losses.tsv"

    def __init__(self, path: str | Path, *, log_every: int, start_step: int = 0) -> None:
        self.path, self.log_every = Path(path), log_every
        self._pending: list[tuple[int, torch.Tensor]] = []
        self._truncate(start_step)

    def _truncate(self, start_step: int) -> None:
        kept = {s: v for s, v in read_loss_log(self.path).items() if s <= start_step} if self.path.exists() else {}
        tmp = self.path.with_name(f".tmp-{self.path.name}")
        with writing(self.path, what="the loss log"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.write_text("".join(f"{s}\t{v!r}\n" for s, v in sorted(kept.items())))
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)

    def on_step_end(self, trainer: Any, out: Any) -> None:
        self._pending.append((out.step + 1, out.loss.detach()))
        if trainer.step % self.log_every == 0:
            self.flush()

    def flush(self, trainer: Any = None) -> None:
        """Append the pending losses (one host sync for all of them)."""
        if not self._pending:
            return
        values = torch.stack([loss.float() for _, loss in self._pending]).cpu().tolist()
        lines = "".join(f"{step}\t{value!r}\n" for (step, _), value in zip(self._pending, values, strict=True))
        with writing(self.path, what="the loss log"), open(self.path, "a") as f:
            f.write(lines)
            f.flush()
        self._pending = []

    def on_fit_end(self, trainer: Any) -> None:
        self.flush()


def read_loss_log(path: str | Path) -> dict[int, float]:
    """``{step: loss}`` from a :class:`LossLog` file; a later line for a step wins.

    Only newline-terminated lines count: a torn last line (a process killed mid-write) is
    ignored.

    >>> read_loss_log("runs/x/losses.tsv")                 # doctest: +SKIP
    {1: 0.4779171347618103, 2: 0.4512...}
    """
    out: dict[int, float] = {}
    for line in Path(path).read_text().split("\n")[:-1]:
        step, value = line.split("\t")
        out[int(step)] = float(value)
    return out
