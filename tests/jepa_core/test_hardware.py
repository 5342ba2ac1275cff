import pytest
import torch

from jepa_core import hardware
from jepa_core.hardware import resolve_precision


@pytest.mark.parametrize("explicit", ["fp32", "bf16", "fp16"])
def test_explicit_precision_is_kept(explicit: str) -> None:
    assert resolve_precision(explicit, torch.device("cpu")) == explicit


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cpu_follows_native_bf16(monkeypatch: pytest.MonkeyPatch, native: bool, expected: str) -> None:
    monkeypatch.setattr(hardware, "cpu_multiplies_bf16", lambda: native)
    assert resolve_precision("auto", torch.device("cpu")) == expected


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", True),  # AMD EPYC (Zen 4)
        ("fpu sse2 avx2 avx512f amx_bf16 amx_tile amx_int8", True),  # Intel Xeon (Sapphire Rapids)
        ("fpu sse2 avx2 avx512f avx512_vnni", False),  # AVX-512 without bf16
        ("fpu sse2 avx2 avx512_bf16x", False),  # whole flags only
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags: str, native: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: some CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    assert hardware.cpu_multiplies_bf16(str(cpuinfo)) is native


def test_no_cpuinfo_means_no_native_bf16(tmp_path) -> None:
    assert hardware.cpu_multiplies_bf16(str(tmp_path / "absent")) is False
    assert hardware.cpu_multiplies_bf16(str(tmp_path)) is False  # a folder: unreadable as text


@pytest.mark.parametrize(("supported", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_cuda_follows_bf16_support(monkeypatch: pytest.MonkeyPatch, supported: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    assert resolve_precision("auto", torch.device("cuda")) == expected
