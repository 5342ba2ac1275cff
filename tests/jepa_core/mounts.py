"""Real small and read-only file systems for write-failure tests (size-limited tmpfs mounts).

Mounting needs root (or CAP_SYS_ADMIN); where it is not permitted the tests that use these
helpers are skipped with the reason.

    with tmpfs(tmp_path / "disk", size="600k") as disk:      # ENOSPC once 600 KiB are used
        ...
    with tmpfs(tmp_path / "ro", readonly=True) as ro:         # EROFS on any write
        ...
"""

from __future__ import annotations

import functools
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@functools.lru_cache(maxsize=1)
def mount_problem() -> str | None:
    """Why a tmpfs cannot be mounted here, or None when it can."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "tmpfs mounts need a POSIX system"
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    with tempfile.TemporaryDirectory() as where:
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", where], capture_output=True, text=True
        )
        if proc.returncode != 0:
            return f"mounting a tmpfs is not permitted here: {proc.stderr.strip() or proc.returncode}"
        subprocess.run(["umount", where], capture_output=True)
    return None


def require_mounts() -> None:
    """Skip the calling test when tmpfs mounts are not permitted."""
    problem = mount_problem()
    if problem is not None:
        pytest.skip(problem)


@contextmanager
def tmpfs(where: Path, *, size: str = "1m", readonly: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (created), read-only if asked; unmounted after."""
    require_mounts()
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_readonly(where: Path) -> None:
    """Make the tmpfs at ``where`` read-only (its files stay)."""
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def fill(where: Path) -> None:
    """Write into ``where`` until its file system is full (no block left)."""
    with open(where / "filler.bin", "wb", buffering=0) as f:
        chunk = b"\0" * 4096
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    assert os.statvfs(where).f_bavail == 0
