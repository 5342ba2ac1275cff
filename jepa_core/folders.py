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
import warnings
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


class FolderWalk:
    """Recursive file listing that follows symbolic links once each, by resolved path.

    Folders are visited in sorted order; a folder whose resolved path was already visited (a
    link loop such as ``ln -s . loop``, or a second link to one folder) is not entered again,
    and a file whose resolved path was already listed (a linked file) is listed once. What was
    skipped is collected across calls, so one walk can list several class folders and
    :meth:`report` the duplicates among all of them in one warning.

    >>> walk = FolderWalk((".png",))
    >>> files = walk.files("data/train/cat") + walk.files("data/train/dog")   # doctest: +SKIP
    >>> walk.report("data/train")                                            # doctest: +SKIP
    """

    def __init__(self, extensions: tuple[str, ...]) -> None:
        self.extensions = extensions
        self._dirs: dict[str, str] = {}  # resolved path -> the path it was first reached by
        self._files: dict[str, str] = {}
        self.skipped_folders: list[tuple[str, str]] = []  # (path, the path already visited)
        self.duplicate_files: list[tuple[str, str]] = []  # (path, the path already listed)

    def files(self, folder: str | os.PathLike) -> list[str]:
        """The visible files with one of the extensions below ``folder``, sorted, each file once."""
        root = os.fspath(folder)
        if not self._enter(root, os.path.realpath(root)):
            return []
        found: list[str] = []
        stack = [(root, os.path.realpath(root))]
        while stack:
            path, real = stack.pop()
            try:
                with os.scandir(path) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue  # an unreadable folder holds nothing we can read
            subdirs = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                link = entry.is_symlink()
                resolved = os.path.realpath(entry.path) if link else os.path.join(real, entry.name)
                try:
                    is_dir = entry.is_dir()  # follows links; a broken link is neither
                except OSError:
                    continue
                if is_dir:
                    if self._enter(entry.path, resolved):
                        subdirs.append((entry.path, resolved))
                elif is_visible_file(entry.name, self.extensions) and self._list(entry.path, resolved):
                    found.append(entry.path)
            stack.extend(reversed(subdirs))
        return sorted(found)

    def _enter(self, path: str, resolved: str) -> bool:
        first = self._dirs.setdefault(resolved, path)
        if first != path:
            self.skipped_folders.append((path, first))
            return False
        return True

    def _list(self, path: str, resolved: str) -> bool:
        first = self._files.setdefault(resolved, path)
        if first != path:
            self.duplicate_files.append((path, first))
            return False
        return True

    def report(self, root: str | os.PathLike) -> None:
        """One ``UserWarning`` naming what was skipped, if anything (nothing to say: no warning)."""
        parts = []
        if self.skipped_folders:
            path, first = self.skipped_folders[0]
            n = len(self.skipped_folders)
            parts.append(
                f"{n} linked folder{'s' if n > 1 else ''} lead{'' if n > 1 else 's'} to a folder already "
                f"scanned and {'are' if n > 1 else 'is'} skipped (e.g. '{path}' is '{first}')"
            )
        if self.duplicate_files:
            path, first = self.duplicate_files[0]
            n = len(self.duplicate_files)
            parts.append(
                f"{n} file{'s' if n > 1 else ''} reached by a second path {'are' if n > 1 else 'is'} "
                f"used once (e.g. '{path}' is '{first}')"
            )
        if parts:
            warnings.warn(f"data path '{os.fspath(root)}': {'; '.join(parts)}.", UserWarning, stacklevel=3)


def files_under(folder: str, extensions: tuple[str, ...]) -> list[str]:
    """All files below ``folder`` with one of ``extensions`` (recursive, hidden files and folders
    skipped), sorted. Symbolic links are followed once each (see :class:`FolderWalk`); link
    loops and files reached twice are skipped with one warning."""
    walk = FolderWalk(extensions)
    found = walk.files(folder)
    walk.report(folder)
    return found


def unique_by_resolved_path(items: list[tuple[str, Any]], *, root: str, noun: str) -> list[tuple[str, Any]]:
    """``items`` (``(path, label)`` pairs) without later ones whose path resolves to an earlier
    one's; a warning names the first duplicate. For folder layouts walked to a fixed depth
    (e.g. clip folders), where a link cannot loop but can repeat a sample.

    >>> unique_by_resolved_path([("a/1", 0), ("b/1", 1)], root="data", noun="clip folders")  # doctest: +SKIP
    """
    seen: dict[str, str] = {}
    kept, dropped = [], []
    for item in items:
        first = seen.setdefault(os.path.realpath(item[0]), item[0])
        if first == item[0]:
            kept.append(item)
        else:
            dropped.append((item[0], first))
    if dropped:
        path, first = dropped[0]
        n = len(dropped)
        warnings.warn(
            f"data path '{root}': {n} of the {noun} {'are' if n > 1 else 'is'} reached by a second path "
            f"and used once (e.g. '{path}' is '{first}').",
            UserWarning,
            stacklevel=2,
        )
    return kept


def class_names(root: str | os.PathLike[str]) -> list[str]:
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
    top = sorted(
        os.path.join(path, f)
        for f in os.listdir(path)
        if is_visible_file(f, extensions) and not os.path.isdir(os.path.join(path, f))
    )
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
        walk = FolderWalk(extensions)  # one walk: a file linked into two classes is used once
        samples = [(f, index[c]) for c in sub for f in walk.files(os.path.join(path, c))]
        walk.report(path)
    else:
        classes = []
        samples = unique_by_resolved_path([(f, -1) for f in top], root=path, noun=noun)
    if not samples:
        exts = ", ".join(e.lstrip(".") for e in extensions)
        raise DataError(f"no {noun} found in '{path}'; accepted extensions are {exts} (any case).")
    return classes, samples


def file_samples(dataset: Any) -> list[tuple[str, int]] | None:
    """The ``samples`` of a dataset backed by files, a list of ``(path, label)`` (the folder
    datasets of the built-in plugins expose one), or None for any other dataset.

    >>> class Folder:
    ...     samples = [("a/1.png", 0), ("b/2.png", 1)]
    >>> file_samples(Folder())
    [('a/1.png', 0), ('b/2.png', 1)]
    """
    samples = getattr(dataset, "samples", None)
    if not isinstance(samples, (list, tuple)) or not samples:
        return None
    if not all(
        isinstance(s, (list, tuple))
        and len(s) == 2
        and isinstance(s[0], (str, os.PathLike))
        and isinstance(s[1], (int, np.integer))
        and not isinstance(s[1], bool)
        for s in samples
    ):
        return None
    return [(os.fspath(path), int(label)) for path, label in samples]
