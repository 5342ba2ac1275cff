"""Unreadable training samples: counted once each, and the run stopped when too many were drawn.

The loader hands each step's unreadable samples to the callbacks (``out.bad_samples``: a
:class:`~jepa_core.data.BadSample`, or a plain message, per sample it could not read).
:class:`BadSampleTally` counts them; :class:`BadSampleLimit` decides whether the run goes on; the
progress logger (:mod:`jepa_core.progress`) reports the tally.

>>> tally = BadSampleTally()
>>> limit = BadSampleLimit(tally, max_fraction=0.01, min_samples=200, log_every=10, total_steps=100)
>>> trainer.fit(loader, epochs=1, callbacks=[tally, progress, limit])     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jepa_core.callback_base import Callback
from jepa_core.data import BadSample
from jepa_core.errors import DataError


class BadSampleTally(Callback):
    """The samples drawn so far and the unreadable ones among them.

    Each unreadable sample is kept once (a :class:`~jepa_core.data.BadSample` by its dataset
    index, a plain message by its text) in ``samples``, in the order met. ``bad_draws`` counts
    the draws that were unreadable: a sample drawn in two epochs counts twice, and samples tried
    in place of an unreadable one are not draws. As a callback it counts each step's batch; put it
    before the callbacks that read it.

    >>> tally = BadSampleTally()
    >>> tally.record(8, [BadSample("unreadable image 'a.png'", sample_index=3, drawn=True)])
    ["unreadable image 'a.png'"]
    >>> tally.drawn, tally.bad_draws
    (8, 1)
    """

    def __init__(self) -> None:
        self.drawn = 0
        self.bad_draws = 0
        self.samples: list[str] = []
        self._keys: set[object] = set()
        self._drawn_keys: set[object] = set()

    def record(self, batch_size: int, messages: Iterable[str] = ()) -> list[str]:
        """Count ``batch_size`` drawn samples and the unreadable ``messages`` met while drawing
        them; returns the messages of the samples met for the first time."""
        self.drawn += batch_size
        new = []
        for msg in messages:
            drawn = bool(getattr(msg, "drawn", True))
            self.bad_draws += int(drawn)
            key: object = msg.sample_index if isinstance(msg, BadSample) else msg
            if drawn:
                self._drawn_keys.add(key)
            if key in self._keys:
                continue
            self._keys.add(key)
            self.samples.append(msg)
            new.append(msg)
        return new

    def on_step_end(self, trainer: object, out: Any) -> None:
        self.record(out.batch_size, out.bad_samples or ())

    @property
    def distinct_drawn(self) -> int:
        """How many distinct unreadable samples were among the draws."""
        return len(self._drawn_keys)

    @property
    def only_tried(self) -> int:
        """How many unreadable samples were met only as samples tried in place of an unreadable draw."""
        return len(self._keys - self._drawn_keys)


class BadSampleLimit(Callback):
    """Stops the run with a :class:`~jepa_core.errors.DataError` naming examples when more than
    ``max_fraction`` (``train.max_bad_fraction``) of the samples drawn were unreadable.

    The fraction is judged at every log step (every ``log_every`` steps) once ``min_samples``
    samples were drawn, and at the end of every epoch and of the run whatever the count. It reads
    ``tally``: put it after the tally in the callback list, and after the progress logger and the
    checkpointer, so that the end-of-run report comes first and the state at an epoch's or the
    run's end is saved before it stops the run.

    >>> BadSampleLimit(BadSampleTally(), max_fraction=0.1, min_samples=200, log_every=10, total_steps=100)
    BadSampleLimit(max_fraction=0.1, min_samples=200)
    """

    def __init__(
        self, tally: BadSampleTally, *, max_fraction: float, min_samples: int, log_every: int, total_steps: int
    ) -> None:
        self.tally, self.max_fraction, self.min_samples = tally, max_fraction, min_samples
        self.log_every, self.total_steps = log_every, total_steps

    def __repr__(self) -> str:
        return f"BadSampleLimit(max_fraction={self.max_fraction}, min_samples={self.min_samples})"

    def check(self, *, final: bool = False) -> None:
        """Raise :class:`DataError` when more than ``max_fraction`` of the samples drawn so far were
        unreadable; before ``min_samples`` draws only when ``final`` (an epoch or the run ended)."""
        drawn, bad, samples = self.tally.drawn, self.tally.bad_draws, self.tally.samples
        if not bad or not drawn or (not final and drawn < self.min_samples):
            return
        if bad / drawn > self.max_fraction:
            detail = f"{bad / drawn:.1%}"
            if self.tally.distinct_drawn < bad:
                detail += f", {self.tally.distinct_drawn} distinct"
            if self.tally.only_tried:
                detail += f", and {self.tally.only_tried} more met only among the samples tried in their place"
            examples = "; ".join(s.rstrip(".") for s in samples[:3])
            raise DataError(
                f"{bad} of {drawn} samples drawn were unreadable ({detail}), "
                f"more than train.max_bad_fraction={self.max_fraction}; e.g. {examples}"
            )

    def on_step_end(self, trainer: Any, out: object) -> None:
        if trainer.step % self.log_every == 0 and trainer.step < self.total_steps:
            self.check()

    def on_epoch_end(self, trainer: object, epoch: int) -> None:
        self.check(final=True)

    def on_fit_end(self, trainer: object) -> None:
        self.check(final=True)
