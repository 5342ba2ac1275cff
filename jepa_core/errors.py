"""User-facing errors.

Every error a user can cause (bad preset, config key, data path, checkpoint...) is a
:class:`JepaError` carrying one clear sentence; the CLI prints it and exits with code 2.
"""

from __future__ import annotations


class JepaError(Exception):
    """An error the user caused and can fix; its message is one sentence naming the bad value."""


class ConfigError(JepaError):
    """A configuration key, type or value is invalid."""


class RegistryError(JepaError):
    """A plugin failed to load, a name is unknown, or two plugins claim the same name."""


class DataError(JepaError):
    """A data path is missing, empty, or holds too many unreadable samples."""


class CheckpointError(JepaError):
    """A checkpoint is missing, unsafe to load, or does not match the model."""


class OutputError(JepaError):
    """An output path cannot be written: a full disk, a read-only file system, or a file or
    folder in the way."""


class RunDirBusyError(JepaError):
    """Another process holds the run directory's lock."""


class MaskingError(JepaError):
    """A masker configuration cannot be satisfied on the token grid."""


class NonFiniteLossError(JepaError):
    """Training produced a non-finite loss or gradient."""


class BadSampleError(DataError):
    """Raised by a dataset for ONE unreadable sample (corrupt or truncated file).

    The core loader catches only this error: it counts the sample as bad, uses the next
    readable one in its place and reports the count; anything else propagates.
    """


def user_message(err: BaseException) -> str:
    """The one-sentence message of ``err``, also when a DataLoader worker re-raised it.

    A worker's exception comes back as the same type with the worker traceback in its message;
    its last line is ``module.Type: message``.

    >>> user_message(DataError("folder '/x' has no images."))
    "folder '/x' has no images."
    """
    text = str(err)
    if "Original Traceback" not in text:
        return text
    last = [line for line in text.strip().splitlines() if line.strip()][-1]
    prefix = f"{type(err).__module__}.{type(err).__name__}: "
    return last[len(prefix) :] if last.startswith(prefix) else last.split(": ", 1)[-1]
