"""Train/val overlap: an evaluation whose val samples are also its train samples reads its
accuracy on training data (``--val`` the same folder as ``--train``, ``data.val_root`` equal to
the data root), so it says so.

Datasets backed by files expose ``samples``, a list of ``(path, label)`` (the folder datasets of
the built-in plugins do); others are not checked.

>>> shared_samples(train_set, val_set)        # doctest: +SKIP
(5000, 5000, 'data/val/bag/0001.png')
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from jepa_core.folders import file_samples


def _paths(dataset: Any) -> list[str] | None:
    samples = file_samples(dataset)
    return None if samples is None else _resolved([path for path, _ in samples])


def _resolved(paths: list[str]) -> list[str]:
    """``os.path.realpath`` of each path, each folder resolved once (a dataset's files share a
    few folders): only a file that is itself a link is resolved on its own."""
    folders: dict[str, str] = {}
    out = []
    for path in paths:
        folder, name = os.path.split(path)
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        joined = os.path.join(folders[folder], name)
        out.append(os.path.realpath(joined) if os.path.islink(joined) else joined)
    return out


def shared_samples(train: Any, val: Any) -> tuple[int, int, str | None]:
    """``(shared, val_count, example)``: how many of ``val``'s files are ``train``'s too, out of
    how many, and one of them; ``(0, 0, None)`` when either dataset lists no files."""
    train_paths, val_paths = _paths(train), _paths(val)
    if train_paths is None or val_paths is None:
        return 0, 0, None
    known = set(train_paths)
    shared = [path for path in val_paths if path in known]
    return len(shared), len(val_paths), (shared[0] if shared else None)


def warn_shared_samples(train: Any, val: Any, *, what: str) -> None:
    """A warning when ``val`` shares files with ``train``: its numbers would be read on training data."""
    shared, total, example = shared_samples(train, val)
    if shared:
        warnings.warn(
            f"{shared:,} of the {total:,} val samples of {what} are also train samples (e.g. '{example}'): "
            "the val numbers are read on training data; hold out other files for val.",
            RuntimeWarning,
            stacklevel=2,
        )
