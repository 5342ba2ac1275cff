"""Helpers for datasets read from folders (images, frame folders, audio files): any modality.

The built-in folder datasets (``image_folder``, ``video_frames``, ``wav_folder``) share these so
that they agree on layout rules, error sentences and the held-out split; third-party plugins
can use them too.

Example::

    root = check_root(cfg.root, dataset="wav_folder", layout="root/<class>/**/<clip>.wav")
    files = files_under(root, (".wav",))
    train_idx, val_idx = split_holdout(len(files), 0.1, what="clip")
"""

from __future__ import annotations

import os
from typing import Any

import attrs
import numpy as np

from jepa_core.errors import DataError

VAL_SPLIT_SEED = 0
"""Seed of the fixed permutation that picks the ``val_fraction`` held-out samples."""


def check_fraction(_inst: Any, attr: attrs.Attribute, value: float) -> None:
    """attrs validator for ``val_fraction``: in ``[0, 1)``."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{attr.name} must be in [0, 1), got {value!r}")


def check_root(root: str | os.PathLike | None, *, dataset: str, layout: str) -> str:
    """``root`` as a path string; a :class:`DataError` sentence when it is unset, missing or not a folder."""
    if root is None:
        raise DataError(f"the {dataset} dataset needs a data path: pass --data PATH or set data.root.")
    path = os.fspath(root)
    if not os.path.exists(path):
        raise DataError(f"data path '{path}' does not exist; pass {layout}.")
    if not os.path.isdir(path):
        raise DataError(f"data path '{path}' is not a directory; pass {layout}.")
    return path


def is_visible_file(name: str, extensions: tuple[str, ...]) -> bool:
    """Not hidden and ending (case-insensitively) with one of ``extensions``."""
    return not name.startswith(".") and name.lower().endswith(extensions)


def files_under(folder: str, extensions: tuple[str, ...]) -> list[str]:
    """All files below ``folder`` with one of ``extensions`` (recursive, symlinks followed,
    hidden files and folders skipped), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(os.path.join(dirpath, f) for f in filenames if is_visible_file(f, extensions))
    return sorted(found)


def class_names(root: str | os.PathLike) -> list[str]:
    """Sorted non-hidden sub-folder names of ``root`` (empty for a flat folder)."""
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def split_holdout(
    n: int, fraction: float, seed: int = VAL_SPLIT_SEED, *, what: str = "sample"
) -> tuple[list[int], list[int]]:
    """Deterministic ``(train_indices, val_indices)`` of ``range(n)``, each sorted, at least one
    on each side. ``what`` names a sample in the error for ``n < 2``.

    >>> split_holdout(10, 0.2) == split_holdout(10, 0.2) and len(split_holdout(10, 0.2)[1])
    2
    """
    if n < 2:
        raise DataError(f"cannot hold out a val split (data.val_fraction={fraction}) from only {n} {what}.")
    n_val = min(max(int(round(n * fraction)), 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return sorted(perm[n_val:].tolist()), sorted(perm[:n_val].tolist())


def scan_class_folders(
    root: str | os.PathLike | None,
    extensions: tuple[str, ...],
    *,
    dataset: str,
    noun: str,
    classes: list[str] | None = None,
) -> tuple[list[str], list[tuple[str, int]]]:
    """``(classes, samples)`` of ``root``: one sub-folder per class (files found recursively;
    labels index the sorted class names, or ``classes`` when given, e.g. train's) or a flat
    folder of files (labels ``-1``). ``noun`` names the files in errors (``"images"``).

    Raises :class:`DataError` for a missing root, a root mixing files and sub-folders, a class
    not in ``classes``, or no file at all.

    >>> scan_class_folders("data/esc50", (".wav",), dataset="wav_folder", noun="WAV files")  # doctest: +SKIP
    (['dog', 'rain'], [('data/esc50/dog/1.wav', 0), ...])
    """
    layout = f"a folder of {noun} or of class sub-folders"
    path = check_root(root, dataset=dataset, layout=layout)
    sub = class_names(path)
    top = sorted(os.path.join(path, f) for f in os.listdir(path) if is_visible_file(f, extensions))
    if sub and top:
        raise DataError(
            f"data path '{path}' holds both {noun} and sub-folders; use either one sub-folder per class "
            f"or a flat folder of {noun}."
        )
    samples: list[tuple[str, int]]
    if sub:
        classes = sub if classes is None else list(classes)
        unknown = [c for c in sub if c not in classes]
        if unknown:
            raise DataError(f"class folder '{unknown[0]}' in '{path}' is not one of the training classes {classes}.")
        index = {c: i for i, c in enumerate(classes)}
        samples = [(f, index[c]) for c in sub for f in files_under(os.path.join(path, c), extensions)]
    else:
        classes, samples = [], [(f, -1) for f in top]
    if not samples:
        exts = ", ".join(e.lstrip(".") for e in extensions)
        raise DataError(f"no {noun} found in '{path}'; accepted extensions are {exts} (any case).")
    return classes, samples
