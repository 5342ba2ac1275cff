"""Atomic checkpoint files, safe loading, and retention.

>>> path = save_checkpoint({"step": 3}, "runs/x/checkpoints", step=3)   # doctest: +SKIP
>>> state = load_checkpoint(latest_checkpoint("runs/x/checkpoints"))     # doctest: +SKIP

Files are ``step_00000003.pt`` in the checkpoint folder. A write goes to a temporary file in the
same folder, is flushed and fsynced, then renamed over the final name, so a crash mid-write
leaves every earlier checkpoint intact.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from jepa_core.errors import CheckpointError

FORMAT = "jepaforge"
FORMAT_VERSION = 1
_NAME = re.compile(r"^step_(\d{8,})\.pt$")


_TMP_PREFIX = ".tmp-"


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint after ``step`` optimizer steps.

    >>> checkpoint_name(1200)
    'step_00001200.pt'
    """
    return f"step_{step:08d}.pt"


def save_checkpoint(state: dict[str, Any], folder: str | Path, *, step: int) -> Path:
    """Write ``state`` atomically as ``folder/step_{step}.pt``; disk errors keep older files.

    The bytes go to ``folder/.tmp-*.pt``, are flushed and fsynced, and the file is renamed over
    the final name; any failure removes the temporary file, and an ``OSError`` (disk full,
    permissions) becomes a :class:`CheckpointError`.

    >>> save_checkpoint({"step": 3}, "runs/x/checkpoints", step=3)   # doctest: +SKIP
    PosixPath('runs/x/checkpoints/step_00000003.pt')
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(step)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, final)
    except OSError as err:
        Path(tmp_name).unlink(missing_ok=True)
        why = "the disk is full" if err.errno == errno.ENOSPC else str(err)
        raise CheckpointError(
            f"could not write checkpoint {final} ({why}); the previous checkpoints are kept."
        ) from err
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return final


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not support fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every finished checkpoint in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The finished checkpoint with the highest step, or ``None``; temporary files are ignored.

    >>> latest_checkpoint("runs/x/checkpoints")            # doctest: +SKIP
    PosixPath('runs/x/checkpoints/step_00000009.pt')
    """
    found = list_checkpoints(folder)
    return found[-1][1] if found else None


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete ``.tmp-*.pt`` files that a process killed mid-write left behind; return them.

    Call it only when no other process writes checkpoints into ``folder`` (the main rank at
    start-up).

    >>> remove_temp_files("runs/x/checkpoints")            # doctest: +SKIP
    [PosixPath('runs/x/checkpoints/.tmp-k2j3.pt')]
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(p for p in folder.iterdir() if p.name.startswith(_TMP_PREFIX) and p.name.endswith(".pt"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def prune_checkpoints(folder: str | Path, *, keep_last: int, keep_every: int = 0) -> list[Path]:
    """Delete all but the newest ``keep_last`` and those whose step is a multiple of ``keep_every``.

    ``keep_every=0`` keeps no periodic checkpoints. Returns the deleted paths.

    >>> prune_checkpoints("runs/x/checkpoints", keep_last=2, keep_every=1000)   # doctest: +SKIP
    [PosixPath('runs/x/checkpoints/step_00000300.pt')]
    """
    found = list_checkpoints(folder)
    removed = []
    for step, path in found[:-keep_last] if keep_last > 0 else found:
        if keep_every and step % keep_every == 0:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; refuses files that need arbitrary unpickling.

    Only tensors, numbers, strings and containers are unpickled, so a file holding e.g. a
    custom class instance is a :class:`CheckpointError` (never executed); so is a missing,
    truncated or corrupt file.

    >>> state = load_checkpoint("runs/x/checkpoints/step_00000009.pt")   # doctest: +SKIP
    >>> state["step"]                                                    # doctest: +SKIP
    9
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", str(err), flags=re.IGNORECASE)
        what = f"it references {found.group(1)}" if found else _first_line(err)
        raise CheckpointError(
            f"checkpoint '{path}' is refused because loading it needs arbitrary unpickling ({what}); "
            "only tensors, numbers, strings and containers are loaded, so re-save it as a plain state dict."
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"checkpoint '{path}' is unreadable or truncated: {_first_line(err)}.") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint '{path}' holds a {type(state).__name__}, not a dict of states.")
    return state


def _first_line(err: BaseException) -> str:
    """The first line of ``err``'s message, without ANSI escapes or a trailing period."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    return (text.splitlines()[0] if text else type(err).__name__).rstrip(".")


def strip_prefix(state_dict: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Remove a leading ``module.`` (DDP) from every key that has it."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


def load_module_state(module: torch.nn.Module, state_dict: dict[str, Any], *, what: str) -> None:
    """Strict load that names missing, unexpected and mis-shaped keys in one sentence."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state_dict))
        if hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches (checkpoint vs model) {_few(shapes)}")
        raise CheckpointError(f"the {what} in the checkpoint does not match the model: {'; '.join(parts)}.")
    module.load_state_dict(state_dict, strict=True)


def _few(items: list[str], n: int = 5) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")
