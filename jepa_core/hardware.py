"""What the machine offers a run: the precision ``train.precision=auto`` picks for a device, the
CPU cores this process may use and the physical memory.

``auto`` trains in bf16 autocast on a CUDA GPU that supports bf16 and on a CPU that multiplies
bf16 natively (AMX or AVX-512 BF16: Linux reports ``amx_bf16`` or ``avx512_bf16``), and in fp32
everywhere else: without those units bf16 is slower on a CPU, with them the demos' steps run
1.7-2.2 times as fast (the measurements are in ``docs/results.md``). A narrow model can still
lose in bf16 on such a CPU, so presets that know better ask for ``fp32`` or ``bf16`` by name
(``jepa doctor`` times both)::

    resolve_precision("auto", torch.device("cpu"))      # 'bf16' on such a CPU, else 'fp32'
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16", "auto"]


BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
"""The CPU flags (``/proc/cpuinfo``) of native bf16 multiplication."""


def resolve_precision(preference: Precision, device: torch.device) -> Precision:
    """``auto`` -> ``bf16`` on a CUDA device that supports it or a CPU with native bf16
    (:func:`cpu_multiplies_bf16`), else ``fp32``; any other value is returned as it is.

    >>> resolve_precision("fp16", torch.device("cpu"))
    'fp16'
    >>> resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_multiplies_bf16() else "fp32")
    True
    """
    if preference != "auto":
        return preference
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_multiplies_bf16():
        return "bf16"
    return "fp32"


@functools.cache
def cpu_multiplies_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU reports a native bf16 unit (:data:`BF16_CPU_FLAGS`); False where
    ``cpuinfo`` cannot be read (not Linux).

    >>> isinstance(cpu_multiplies_bf16(), bool)
    True
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return any(flag in line.split() for flag in BF16_CPU_FLAGS)
    return False


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
