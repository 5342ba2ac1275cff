"""Claiming a run directory: output pre-flight, a lock against a second run, and the resume check.

Before a run does any work, :func:`claim` (rank 0 only; the other ranks wait for its verdict)

1. checks that ``train.out_dir`` can be created and written (a file in the way, a read-only or
   full file system: one sentence, see :mod:`jepa_core.safe_write`);
2. takes the directory's lock, ``run.lock``: an advisory ``flock`` on a file naming the holder's
   host, pid and start time. A second ``jepa train`` on the same directory stops naming the
   holder. The kernel drops the ``flock`` when its process dies, so the lock of a killed run is
   stale and taken over; where the file system has no ``flock``, the file's pid is checked
   instead (on this host);
3. when a checkpoint will be resumed, compares the stored ``config.yaml`` (an older run's
   ``config.json``) with the command's
   config: a difference outside :data:`RESUMABLE_CHANGES` stops the run naming the keys, unless
   ``allow_config_change``.

The lock is released (and the file removed) when the run ends, and folders the claim created
are removed again if the run left them empty (e.g. it stopped at a data error).

>>> with claim(cfg, registry, detect(), resume=True, log=print):     # doctest: +SKIP
...     train(...)
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.config import RunConfig, from_dict, save_config, to_dict
from jepa_core.config_files import CONFIG_FILE, read_config_file, run_config_file
from jepa_core.dist import DistInfo
from jepa_core.errors import ConfigError, JepaError, RunDirBusyError
from jepa_core.registry import Registry
from jepa_core.safe_write import check_output_dir, writing

LOCK_NAME = "run.lock"
CONFIG_NAME = CONFIG_FILE  # config.yaml; an older run's config.json is still read
OUT_FLAG = "train.out_dir (--out)"

RESUMABLE_CHANGES: tuple[str, ...] = (
    "train.max_steps",
    "train.log_every",
    "train.loss_log",
    "train.monitor_every",
    "train.mask_image_every",
    "train.eval_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.keep_every",
    "train.max_bad_fraction",
    "train.num_workers",
    "train.device",
    "train.out_dir",
    "train.init_from",
    "train.strategy",
    "train.compile",
    "train.activation_checkpointing",
    "train.micro_batch_size",
    "train.loggers",
    "probe.*",
    "eval.*",
)
"""Config keys a resumed run may change without ``--allow-config-change``: when to stop, logging,
checkpoint retention, where and how it executes, and the evaluations; not what is optimised.
``section.*`` covers a whole section."""


# ------------------------------------------------------------------------------ lock
@attrs.frozen
class LockHolder:
    """Who holds (or held) a run directory's lock."""

    host: str
    pid: int
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started}"


def _me() -> LockHolder:
    return LockHolder(socket.gethostname(), os.getpid(), time.strftime("%Y-%m-%d %H:%M:%S"))


def _parse(text: str) -> LockHolder | None:
    try:
        data = json.loads(text)
        return LockHolder(str(data["host"]), int(data["pid"]), str(data.get("started", "?")))
    except (ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


class RunLock:
    """The advisory lock of one run directory (``folder/run.lock``).

    >>> lock = RunLock("runs/demo"); stale = lock.acquire()   # doctest: +SKIP
    >>> lock.release()                                        # doctest: +SKIP
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> LockHolder | None:
        """Take the lock; return the holder of a stale lock taken over (None if there was none).

        Raises :class:`RunDirBusyError` naming the holder when a live process holds it.
        """
        me = _me()
        for _ in range(5):  # the holder may be removing the file right now: retry on the new one
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy(self._read_holder()) from None
            except OSError as err:
                os.close(fd)
                if err.errno not in _NO_FLOCK:
                    raise
                return self._acquire_by_pid(me)
            try:
                same_file = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same_file = False
            if not same_file:
                os.close(fd)
                continue
            previous = _parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            self._write(fd, me)
            return previous
        raise self._busy(self._read_holder())

    def _acquire_by_pid(self, me: LockHolder) -> LockHolder | None:
        """Without ``flock``: an exclusively created file, taken over when its pid is dead (same host)."""
        stale = None
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self._read_holder()
                if holder is None or holder.host != me.host or _alive(holder.pid):
                    raise self._busy(holder) from None
                stale = holder
                self.path.unlink(missing_ok=True)
                continue
            self._write(fd, me)
            return stale
        raise self._busy(self._read_holder())

    def _write(self, fd: int, me: LockHolder) -> None:
        data = json.dumps({"host": me.host, "pid": me.pid, "started": me.started}).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise
        self._fd = fd
        atexit.register(self.release)

    def _read_holder(self) -> LockHolder | None:
        try:
            return _parse(self.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None

    def _busy(self, holder: LockHolder | None) -> RunDirBusyError:
        who = holder.describe() if holder else "another process"
        return RunDirBusyError(
            f"run directory '{self.folder}' is in use by another jepa run ({who}); wait for it to finish or "
            f"choose another --out (delete {self.path} only if that process is gone)."
        )

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # e.g. the file system became read-only; the kernel still drops the flock below
        os.close(fd)
        atexit.unregister(self.release)


# --------------------------------------------------------------------- config change
def _flat(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section, value in data.items():
        if isinstance(value, dict):
            out.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            out[section] = value
    return out


def _normalised(data: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """``data`` as a config file, with defaults filled in where it can be rebuilt (older files)."""
    try:
        data = to_dict(from_dict(data, registry))
    except JepaError:
        pass  # a plugin that is not loaded, say: compare what is there
    return json.loads(json.dumps(data))


def resumable(key: str) -> bool:
    """Whether ``key`` may change when a run is resumed (see :data:`RESUMABLE_CHANGES`).

    >>> resumable("train.max_steps"), resumable("probe.epochs"), resumable("train.seed")
    (True, True, False)
    """
    return key in RESUMABLE_CHANGES or f"{key.split('.')[0]}.*" in RESUMABLE_CHANGES


ABSENT = object()
"""The value :func:`config_differences` gives a key that one of the configs lacks."""


def config_differences(first: dict[str, Any], second: dict[str, Any], registry: Registry) -> list[tuple[str, Any, Any]]:
    """``(key, first's value, second's value)`` for every ``section.key`` whose values differ, in key
    order (:data:`ABSENT` where one config lacks the key; defaults filled in where a config can be
    rebuilt).

    >>> config_differences(to_dict(cfg), to_dict(attrs.evolve(cfg, ...)), registry)   # doctest: +SKIP
    [('train.seed', 0, 1)]
    """
    old, new = _flat(_normalised(first, registry)), _flat(_normalised(second, registry))
    return [
        (key, old.get(key, ABSENT), new.get(key, ABSENT))
        for key in sorted(set(old) | set(new))
        if old.get(key, ABSENT) != new.get(key, ABSENT)
    ]


def config_changes(stored: dict[str, Any], cfg: RunConfig, registry: Registry) -> list[str]:
    """``key: old -> new`` for every key outside :data:`RESUMABLE_CHANGES` that differs.

    >>> config_changes(to_dict(cfg), attrs.evolve(cfg, ...), registry)    # doctest: +SKIP
    ['train.seed: 0 -> 1']
    """
    return [
        f"{key}: {show_value(a, limit=40)} -> {show_value(b, limit=40)}"
        for key, a, b in config_differences(stored, to_dict(cfg), registry)
        if not resumable(key)
    ]


def show_value(value: Any, *, limit: int | None = None) -> str:
    """A config value as JSON text ('(absent)' for :data:`ABSENT`), cut to ``limit`` characters."""
    text = "(absent)" if value is ABSENT else json.dumps(value)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def check_resume_config(folder: Path, cfg: RunConfig, registry: Registry) -> None:
    """A :class:`ConfigError` naming the keys when the run in ``folder`` was started with another
    config (``folder/config.yaml``, or an older run's ``config.json``) in anything but
    :data:`RESUMABLE_CHANGES`."""
    path = run_config_file(folder)
    try:
        stored = read_config_file(path) if path is not None else None
    except ConfigError:
        return  # no readable record of the earlier config: nothing to compare with
    if not isinstance(stored, dict):
        return
    changes = config_changes(stored, cfg, registry)
    if changes:
        shown = "; ".join(changes[:6]) + (f"; and {len(changes) - 6} more" if len(changes) > 6 else "")
        raise ConfigError(
            f"run directory '{folder}' holds a run with another config ({shown}); resuming it would mix two "
            "runs: choose another --out, or pass --allow-config-change to continue it with the new values."
        )


def check_fresh_run_dir(cfg: RunConfig) -> None:
    """A :class:`ConfigError` when ``cfg``'s run directory already holds a checkpoint (``--no-resume``).

    >>> check_fresh_run_dir(cfg)        # doctest: +SKIP
    """
    existing = ckpt.latest_checkpoint(Path(cfg.train.out_dir) / "checkpoints")
    if existing is not None:
        raise ConfigError(
            f"run directory '{cfg.train.out_dir}' already holds checkpoint {existing.name}; "
            "choose another --out or drop --no-resume to continue it."
        )


def save_run_config(cfg: RunConfig) -> Path:
    """Write ``cfg`` as the run directory's ``config.yaml`` (``jepa train --config`` re-runs it).

    >>> save_run_config(cfg)            # doctest: +SKIP
    PosixPath('runs/demo/config.yaml')
    """
    path = Path(cfg.train.out_dir) / CONFIG_NAME
    with writing(path, what="the run config", flag="--out"):
        return save_config(cfg, path)


# ---------------------------------------------------------------------------- claim
def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate):
            break
        missing.append(candidate)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return


def _agree(ok: bool, info: DistInfo, device: torch.device | None) -> bool:
    """Whether every rank is ``ok`` (one all-reduce; just ``ok`` in a single process)."""
    if not (info.enabled and torch.distributed.is_available() and torch.distributed.is_initialized()):
        return ok
    flag = torch.tensor([1 if ok else 0], dtype=torch.int32, device=device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
    return bool(flag.item())


@contextmanager
def claim(
    cfg: RunConfig,
    registry: Registry,
    info: DistInfo,
    *,
    resume: bool = True,
    allow_config_change: bool = False,
    log: Callable[[str], None] = lambda msg: None,
    device: torch.device | None = None,
) -> Iterator[RunLock | None]:
    """Pre-flight, lock and resume check of ``cfg.train.out_dir`` (see the module docstring).

    Rank 0 does the work and holds the lock; with several processes the others wait for its
    verdict and stop too when it fails (``device``: where the verdict's all-reduce runs).
    Yields the lock (None on other ranks) and releases it on exit.
    """
    folder = Path(cfg.train.out_dir)
    lock = RunLock(folder) if info.is_main else None
    created: list[Path] = []
    failure: BaseException | None = None
    if lock is not None:
        try:
            check_output_dir(folder, flag=OUT_FLAG)
            created = _missing_folders(folder)
            with writing(folder / LOCK_NAME, what="the run lock", flag="--out"):
                folder.mkdir(parents=True, exist_ok=True)
                stale = lock.acquire()
            if stale is not None:
                log(f"took over the stale lock of an earlier run that is no longer running ({stale.describe()})")
            if resume and not allow_config_change and ckpt.latest_checkpoint(folder / "checkpoints") is not None:
                check_resume_config(folder, cfg, registry)
        except BaseException as err:
            failure = err
    if not _agree(failure is None, info, device):
        if lock is not None:
            lock.release()
            _remove_if_empty(created)
        if failure is not None:
            raise failure
        raise JepaError("rank 0 could not claim the run directory (see its error); stopping this rank too.")
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()
            _remove_if_empty(created)
