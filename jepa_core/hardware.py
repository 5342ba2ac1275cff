"""What the machine offers: bf16 matrix units on the CPU, and the precision ``auto`` picks.

``train.precision=auto`` trains in bf16 autocast where bf16 matrix multiplies run natively (a
CUDA GPU that supports bf16, or a CPU with AMX or AVX-512 BF16 units, where bf16 steps of the
small presets run about twice as fast as fp32) and in fp32 elsewhere (CPUs without bf16 units
emulate it, which is slower than fp32)::

    resolve_precision("auto", torch.device("cpu"))      # 'bf16' on a Sapphire Rapids Xeon, else 'fp32'
"""

from __future__ import annotations

from pathlib import Path

import torch

CPU_BF16_FLAGS: tuple[str, ...] = ("amx_bf16", "avx512_bf16")


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo is not available)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX tiles or AVX-512 BF16)."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    if all(callable(c) for c in checks):
        return any(bool(c()) for c in checks)  # type: ignore[misc]
    return bool(cpu_flags() & set(CPU_BF16_FLAGS))


def resolve_precision(preference: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where bf16 is native on ``device`` (see the module docstring), else ``fp32``;
    any other value is returned as it is.

    >>> resolve_precision("fp16", torch.device("cpu"))
    'fp16'
    """
    if preference != "auto":
        return preference
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and cpu_has_bf16() else "fp32"
