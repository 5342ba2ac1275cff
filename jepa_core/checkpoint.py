"""Atomic checkpoint files, safe loading, and retention.

>>> path = save_checkpoint({"step": 3}, "runs/x/checkpoints", step=3)   # doctest: +SKIP
>>> state = load_checkpoint(latest_checkpoint("runs/x/checkpoints"))     # doctest: +SKIP

Files are ``step_00000003.pt`` in the checkpoint folder. A write goes to a temporary file in the
same folder, is flushed and fsynced, then renamed over the final name, so a crash mid-write
leaves every earlier checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import attrs
import torch

from jepa_core.errors import CheckpointError
from jepa_core.safe_write import default_fix, os_error_in, reason

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
    read-only file system, a file in the way), also one ``torch.save`` chains under its own
    ``RuntimeError``, becomes a :class:`CheckpointError`.

    >>> save_checkpoint({"step": 3}, "runs/x/checkpoints", step=3)   # doctest: +SKIP
    PosixPath('runs/x/checkpoints/step_00000003.pt')
    """
    folder = Path(folder)
    final = folder / checkpoint_name(step)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    tmp_name: str | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".pt", dir=folder)
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, final)
    except BaseException as err:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
        cause = os_error_in(err) if isinstance(err, Exception) else None
        if cause is None:
            raise
        raise CheckpointError(
            f"could not write checkpoint {final} ({reason(cause)}); the previous checkpoints are kept "
            f"({default_fix(cause, 'train.out_dir')})."
        ) from err
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


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip archive
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a"  # the legacy format starts with a protocol-2 pickled magic number


def _looks_like_torch_file(path: Path) -> bool | None:
    """True/False from the first bytes; None for an empty file."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        return None
    return head == _ZIP_MAGIC or head == _LEGACY_MAGIC


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; refuses files that need arbitrary unpickling.

    Only tensors, numbers, strings and containers are unpickled, so a file holding e.g. a
    custom class instance is a :class:`CheckpointError` (never executed); so is a missing,
    truncated or corrupt file, and a file that is no ``torch.save`` output at all.

    >>> state = load_checkpoint("runs/x/checkpoints/step_00000009.pt")   # doctest: +SKIP
    >>> state["step"]                                                    # doctest: +SKIP
    9
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint '{path}' is a directory; give a checkpoint file or a run directory with checkpoints/."
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist.")
    try:
        kind = _looks_like_torch_file(path)
    except OSError as err:
        raise CheckpointError(f"checkpoint '{path}' is unreadable: {_first_line(err)}.") from err
    if kind is None:
        raise CheckpointError(f"checkpoint '{path}' is unreadable or truncated: the file is empty.")
    if not kind:
        raise CheckpointError(
            f"'{path}' is not a checkpoint: it is neither a PyTorch zip archive nor a legacy torch.save file; "
            "give a checkpoint written by jepa train or a released I-JEPA .pth.tar file."
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        what = _unsafe_content(str(err))
        if what is None:  # malformed pickle data; torch's own text would suggest weights_only=False
            raise CheckpointError(
                f"checkpoint '{path}' is unreadable or corrupt: its pickled data is malformed."
            ) from err
        raise CheckpointError(
            f"checkpoint '{path}' is refused because loading it needs arbitrary unpickling ({what}); "
            "only tensors, numbers, strings and containers are loaded, so re-save it as a plain state dict."
        ) from err
    except Exception as err:  # noqa: BLE001 - any failure to decode the file's bytes means a broken file
        raise CheckpointError(f"checkpoint '{path}' is unreadable or truncated: {_first_line(err)}.") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint '{path}' holds a {type(state).__name__}, not a dict of states.")
    return state


POSITION_KEYS: tuple[str, ...] = ("step", "epoch", "step_in_epoch")


@attrs.frozen
class DataLayout:
    """What a checkpoint's position in an epoch counts in: the training split's sample count and
    the steps of one epoch. Stored with each checkpoint (``data_layout``); a resume on data of
    another layout would continue a different epoch and re-lay the schedules.

    >>> DataLayout(samples=320, steps_per_epoch=10).describe()
    '320 training samples (10 steps per epoch)'
    """

    samples: int
    steps_per_epoch: int

    def as_dict(self) -> dict[str, int]:
        return {"samples": self.samples, "steps_per_epoch": self.steps_per_epoch}

    @classmethod
    def stored_in(cls, state: dict[str, Any]) -> DataLayout | None:
        """The layout a checkpoint recorded; None for one written before layouts were stored."""
        stored = state.get("data_layout")
        if not isinstance(stored, dict):
            return None
        samples, steps = stored.get("samples"), stored.get("steps_per_epoch")
        if not (isinstance(samples, int) and isinstance(steps, int)):
            return None
        return cls(samples=samples, steps_per_epoch=steps)

    def describe(self) -> str:
        return f"{self.samples:,} training samples ({self.steps_per_epoch} steps per epoch)"


def check_position(state: dict[str, Any], source: str | Path) -> None:
    """A :class:`CheckpointError` unless the training position (``step``, ``epoch``,
    ``step_in_epoch``) holds non-negative integers; absent keys are left to the loader.

    >>> check_position({"step": "3"}, "x.pt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    jepa_core.errors.CheckpointError: checkpoint 'x.pt' has step='3', not a non-negative integer; it is damaged ...
    """
    for key in POSITION_KEYS:
        if key not in state:
            continue
        value = state[key]
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
            raise CheckpointError(
                f"checkpoint '{source}' has {key}={shown}, not a non-negative integer; it is damaged or "
                "not a training checkpoint of jepa train."
            )


def _unsafe_content(text: str) -> str | None:
    """What in a refused pickle needs arbitrary unpickling (from torch's message), or None when
    the data is merely malformed."""
    found = re.search(r"unsupported (?:global: )?GLOBAL (\S+)", text, flags=re.IGNORECASE)
    if found:
        return f"it references {found.group(1)}"
    found = re.search(r"(?:allowlisted|add_safe_globals`?),? but got (<class '[^']+'>|\S+)", text)
    if found:
        return f"it holds {found.group(1)}"
    if "unrecognized function" in text:
        return "it calls a function that is not allowed"
    return None


def _first_line(err: BaseException) -> str:
    """The first line of ``err``'s message, without ANSI escapes or a trailing period."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    line = (text.splitlines()[0] if text else type(err).__name__).rstrip(".")
    return "its data is malformed" if "weights_only" in line else line


def strip_prefix(state_dict: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Remove a leading ``module.`` (DDP) from every key that has it."""
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state_dict.items()}


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
