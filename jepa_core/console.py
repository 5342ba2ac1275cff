"""Console text that any output encoding can print, and one-line warnings for the CLI.

File names on POSIX are bytes: one that is not valid UTF-8 reaches Python with surrogate
escapes (``'\\udcff'``), which a strict UTF-8 stream (``PYTHONIOENCODING=utf-8``) or an ASCII
terminal refuses to print. :func:`printable` shows such bytes as ``\\xff`` instead.

>>> printable("bad name '\\udcff.png'", encoding="utf-8")
"bad name '\\\\xff.png'"
>>> printable("caf\\u00e9", encoding="ascii")
'caf\\\\xe9'
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


def printable(text: str, stream: TextIO | None = None, *, encoding: str | None = None) -> str:
    """``text`` with undecodable file-name bytes and characters ``stream``'s encoding lacks escaped.

    ``encoding`` overrides the stream's (default: ``stream.encoding``, else UTF-8).
    """
    raw = text.encode("utf-8", "surrogateescape")  # undecodable bytes back to what they were
    shown = raw.decode("utf-8", "backslashreplace")
    enc = encoding or getattr(stream, "encoding", None) or "utf-8"
    try:
        return shown.encode(enc, "backslashreplace").decode(enc)
    except LookupError:  # an encoding Python does not know: plain ASCII is safe everywhere
        return shown.encode("ascii", "backslashreplace").decode("ascii")


CONSOLE_GONE = (errno.EIO, errno.EPIPE)
"""The errors of a write to a console that is gone: a closed terminal, a pipe whose reader exited."""


def echo(text: str, stream: TextIO | None) -> None:
    """Print ``text`` (made :func:`printable`) to ``stream`` and flush; nothing when ``stream`` is None.
    A stream whose console is gone (:data:`CONSOLE_GONE`) is sent to the null device
    (:func:`silence`) and the text dropped, so a run outlives its terminal."""
    if stream is None:
        return
    try:
        print(printable(text, stream), file=stream, flush=True)
    except OSError as err:
        if err.errno not in CONSOLE_GONE:
            raise
        silence(stream.fileno())


def silence(*fds: int) -> None:
    """Point the file descriptors ``fds`` at the null device (what a stream on one still buffers
    goes there too)."""
    quiet = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(quiet, fd)
    finally:
        os.close(quiet)


def _one_line(message: Any, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
    return f"warning: {printable(str(message), sys.stderr)}\n"


@contextmanager
def one_line_warnings() -> Iterator[None]:
    """Inside, warnings print as ``warning: MESSAGE`` (one line, no source location).

    Only the formatting changes: filters and recording (``pytest.warns``) work as before.

    >>> with one_line_warnings():            # doctest: +SKIP
    ...     warnings.warn("3 files are reached twice")
    warning: 3 files are reached twice
    """
    before = warnings.formatwarning
    warnings.formatwarning = _one_line
    try:
        yield
    finally:
        warnings.formatwarning = before
