"""Writing outputs: one-sentence errors for full disks, read-only file systems and paths in the way.

Every file a run or a command writes (checkpoints, ``config.yaml``, ``losses.tsv``,
``probe.json``, ``eval --json``, exports) goes through these helpers, so a write failure the
user can fix is an :class:`~jepa_core.errors.OutputError` naming the path and the reason, and
output paths are checked before any long work starts.

>>> check_output_dir("runs/demo", flag="--out")                      # doctest: +SKIP
>>> write_text("runs/demo/probe.json", "{}", what="the probe results", fix="choose a writable --out")  # doctest: +SKIP
>>> with writing("model.pth", what="the exported model", fix="choose another --out"):   # doctest: +SKIP
...     torch.save(state, "model.pth")
"""

from __future__ import annotations

import errno
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jepa_core.errors import JepaError, OutputError

REASONS: dict[int, str] = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EFBIG: "the file is too large for the file system",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENAMETOOLONG: "the name is too long",
}

NO_STORAGE = "a virtual file system with no storage"
"""Why nothing can be written under /proc or /sys (no blocks at all, so not 'the disk is full')."""

OUT_OF_SPACE: frozenset[int] = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""Errors a write can hit at any time, however well the path was checked beforehand."""

WRITE_ONLY_ERRNOS: frozenset[int] = OUT_OF_SPACE | {errno.EROFS}
"""Errors that only a write raises (a read never does): safe to report as a failed write."""


def os_error_in(err: BaseException | None) -> OSError | None:
    """``err`` itself if it is an ``OSError``, else the first one in its cause/context chain.

    ``torch.save`` on a full disk raises ``RuntimeError("unexpected pos ...")`` with the
    ``ENOSPC`` ``OSError`` as its context; this finds it.

    >>> os_error_in(RuntimeError("x")) is None
    True
    """
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ if err.__cause__ is not None else (None if err.__suppress_context__ else err.__context__)
    return None


_TORCH_WRITER = re.compile(r"inline_container|iostream error|PytorchStreamWriter|file write failed")
"""torch.save given a path writes from C++: a failed write is a RuntimeError with no OSError behind it."""


def _diagnosed(err: BaseException, path: Path) -> OSError | None:
    """For a torch writer's RuntimeError: an OSError for what is wrong with ``path``'s file system."""
    if not (isinstance(err, RuntimeError) and _TORCH_WRITER.search(str(err))):
        return None
    folder = _nearest_existing(path.parent)
    problem = _folder_problem(folder) if folder.is_dir() else None
    codes = {text: code for code, text in REASONS.items()}
    code = codes.get(problem or "", errno.EIO)
    return OSError(code, problem or "the write failed", os.fspath(path))


def reason(err: OSError) -> str:
    """A short lower-case reason for ``err``: ``'the disk is full'``, ``'the file system is read-only'``...

    >>> reason(OSError(errno.ENOSPC, "No space left on device"))
    'the disk is full'
    """
    if err.errno in REASONS:
        return REASONS[err.errno]
    text = (err.strerror or str(err) or type(err).__name__).rstrip(".")
    return text[:1].lower() + text[1:]


def default_fix(err: OSError, flag: str | None = None) -> str:
    """What the user can do about ``err`` (``flag`` names the option that chose the path)."""
    where = f"another {flag}" if flag else "another path"
    if err.errno in OUT_OF_SPACE:
        return f"free some space or choose {where}"
    return f"choose {where}"


@contextmanager
def writing(path: str | os.PathLike, *, what: str, fix: str | None = None, flag: str | None = None) -> Iterator[None]:
    """Turn any ``OSError`` raised inside (also one chained under another exception) into an
    :class:`OutputError`: ``could not write WHAT 'PATH' (REASON); FIX.``

    ``fix`` defaults to freeing space or choosing another path (named by ``flag``).
    """
    try:
        yield
    except JepaError:  # already one sentence
        raise
    except Exception as err:
        found = os_error_in(err) or _diagnosed(err, Path(path))
        if found is None:
            raise
        raise OutputError(
            f"could not write {what} '{os.fspath(path)}' ({reason(found)}); {fix or default_fix(found, flag)}."
        ) from err


def write_text(
    path: str | os.PathLike, text: str, *, what: str, fix: str | None = None, flag: str | None = None
) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename); errors as :func:`writing`.

    A failed write leaves the previous file (if any) as it was and no temporary file behind.
    """
    path = Path(path)
    with writing(path, what=what, fix=fix, flag=flag):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(".")


def _folder_problem(folder: Path) -> str | None:
    """Why nothing can be written into the existing folder ``folder``, or None."""
    try:
        stats = os.statvfs(folder)
    except OSError:
        stats = None
    if stats is not None and stats.f_flag & os.ST_RDONLY:
        return REASONS[errno.EROFS]
    if not os.access(folder, os.W_OK | os.X_OK):
        return REASONS[errno.EACCES]
    if stats is not None and stats.f_blocks == 0:  # /proc, /sys: no storage behind them at all
        return NO_STORAGE
    if stats is not None and stats.f_bavail == 0:
        return REASONS[errno.ENOSPC]
    return None


def _check_creatable(target: Path, folder: Path, flag: str) -> None:
    """Raise when directory ``folder`` (holding or being ``target``) could not be created or written."""
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{flag} '{target}' cannot be created because '{existing}' is a file; choose another {flag}.")
    problem = _folder_problem(existing)
    if problem is not None:
        fix = "free some space or choose another" if problem == REASONS[errno.ENOSPC] else "choose a writable"
        raise OutputError(f"{flag} '{target}' cannot be written ({problem} at '{existing}'); {fix} {flag}.")


def check_output_dir(path: str | os.PathLike, *, flag: str) -> None:
    """Fail early, creating nothing, when directory ``path`` could not be created or written.

    Raises :class:`OutputError` when ``path`` is a file, lies under a file, or its nearest
    existing folder is on a read-only or full file system or not writable. ``flag`` names the
    option that chose the path (``--out``).

    >>> check_output_dir("/etc/hostname", flag="--out")     # doctest: +SKIP
    Traceback (most recent call last):
    OutputError: --out '/etc/hostname' is a file, not a directory; choose a directory for --out.
    """
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise OutputError(f"{flag} '{path}' is a file, not a directory; choose a directory for {flag}.")
    _check_creatable(path, path, flag)


def check_output_file(path: str | os.PathLike, *, flag: str) -> None:
    """Fail early, creating nothing, when file ``path`` could not be written.

    Raises :class:`OutputError` when ``path`` is a directory, lies under a file, or its folder
    (or nearest existing ancestor) is read-only, full or not writable.

    >>> check_output_file("results/", flag="--json")         # doctest: +SKIP
    Traceback (most recent call last):
    OutputError: --json 'results' is a directory; give a file name for --json.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} '{path}' is a directory; give a file name for {flag}.")
    _check_creatable(path, path.parent, flag)
    if os.path.lexists(path) and not os.access(path, os.W_OK):
        raise OutputError(f"{flag} '{path}' cannot be written ({REASONS[errno.EACCES]}); choose a writable {flag}.")
