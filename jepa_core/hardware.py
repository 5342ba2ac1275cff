"""What the machine offers a run: the precision ``train.precision=auto`` picks for a device, the
CPU cores this process may use and the physical memory.

``auto`` trains in bf16 autocast on a CUDA GPU that supports bf16 and in fp32 everywhere else,
CPUs included: bf16 pays on a CPU only where it multiplies bf16 natively (AMX, AVX-512 BF16), and
there by 1.2-1.6 times on the small presets, elsewhere it is slower (the measurements are in
``docs/results.md``). Ask for ``bf16`` explicitly to use it on a CPU (``jepa doctor`` times both)::

    resolve_precision("auto", torch.device("cpu"))      # 'fp32'
"""

from __future__ import annotations

import os
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16", "auto"]


def resolve_precision(preference: Precision, device: torch.device) -> Precision:
    """``auto`` -> ``bf16`` on a CUDA device that supports it, else ``fp32``; any other value is
    returned as it is.

    >>> resolve_precision("auto", torch.device("cpu"))
    'fp32'
    >>> resolve_precision("fp16", torch.device("cpu"))
    'fp16'
    """
    if preference != "auto":
        return preference
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def usable_cores() -> int:
    """The cores this process may run on (its affinity), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def physical_memory() -> int:
    """This machine's physical memory in bytes (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 0
