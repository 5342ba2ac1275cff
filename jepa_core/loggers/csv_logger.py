"""The ``csv`` logger: one file per run, ``metrics.csv`` in the run directory, one row per step
that logged anything.

The first column is ``step``; every scalar tag gets a column (in the order first logged) and a
row leaves the cells of tags not logged at its step empty. Values are written exactly (Python's
``repr`` of the float). Rows are appended as steps complete; when a new tag appears the file is
rewritten with the wider header (so it is always one valid table). A resumed run first drops the
rows an interrupted run wrote after the step it resumes from. Images and the config are not
written (the run directory's ``config.yaml`` holds the config).

>>> logger = CsvLogger(LoggerContext(out_dir="runs/x"))             # doctest: +SKIP
>>> read_metrics("runs/x/metrics.csv")[20]["train/loss"]            # doctest: +SKIP
0.4213
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import torch

from jepa_core.safe_write import writing

from .base import LoggerContext

FILE_NAME = "metrics.csv"


class CsvLogger:
    """See the module docstring."""

    def __init__(self, context: LoggerContext) -> None:
        self.path = Path(context.out_dir) / FILE_NAME
        self.columns: list[str] = []
        self.rows: dict[int, dict[str, float]] = {}
        self._written: set[int] = set()  # steps whose rows are in the file
        self._rewrite = True
        if self.path.is_file():
            kept = {s: r for s, r in read_metrics(self.path).items() if s <= context.start_step}
            self.columns = _header(self.path)
            self.rows = kept
        self._sync()

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        if tag not in self.columns:
            self.columns.append(tag)
            self._rewrite = True
        if step in self._written:
            self._rewrite = True  # a late value for a row already in the file
        if self.rows and step > max(self.rows):
            self._sync()  # the steps so far are complete
        self.rows.setdefault(step, {})[tag] = float(value)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        """Images are not written to the table."""

    def log_config(self, config: dict[str, Any]) -> None:
        """The config is not written (the run directory's ``config.yaml`` holds it)."""

    def flush(self) -> None:
        self._sync()

    def close(self) -> None:
        self._sync()

    def _sync(self) -> None:
        """Write the rows not in the file yet: append them, or rewrite the file when needed."""
        steps = sorted(self.rows)
        if self._rewrite:
            text = self._table(steps, header=True)
            tmp = self.path.with_name(f".tmp-{self.path.name}")
            with writing(self.path, what="the metrics table"):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    tmp.write_text(text)
                    os.replace(tmp, self.path)
                finally:
                    tmp.unlink(missing_ok=True)
            self._written = set(steps)
            self._rewrite = False
            return
        new = [s for s in steps if s not in self._written]
        if new:
            with writing(self.path, what="the metrics table"), open(self.path, "a", newline="") as f:
                f.write(self._table(new, header=False))
            self._written.update(new)

    def _table(self, steps: list[int], *, header: bool) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        if header:
            w.writerow(["step", *self.columns])
        for step in steps:
            row = self.rows[step]
            w.writerow([step, *(repr(row[c]) if c in row else "" for c in self.columns)])
        return out.getvalue()


def _header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        first = next(csv.reader(f), [])
    return first[1:]


def read_metrics(path: str | Path) -> dict[int, dict[str, float]]:
    """``{step: {tag: value}}`` from a ``metrics.csv`` (empty cells left out).

    >>> read_metrics("runs/x/metrics.csv")                 # doctest: +SKIP
    {20: {'train/loss': 0.42, 'train/lr': 0.0002, ...}, ...}
    """
    out: dict[int, dict[str, float]] = {}
    with open(path, newline="") as f:
        for record in csv.DictReader(f):
            try:
                step = int(record.pop("step"))
                out[step] = {k: float(v) for k, v in record.items() if k is not None and v not in ("", None)}
            except (TypeError, ValueError):
                continue  # a torn line
    return out
