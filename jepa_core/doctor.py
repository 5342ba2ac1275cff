"""``jepa doctor``: what this machine is, how fast it multiplies, and how long the demo will take.

It prints the versions (Python, PyTorch and the other dependencies, the optional extras), the
device a run would use, the CPU model, thread settings and BLAS library, then runs a matmul
benchmark (fp32, 1024 x 1024, about 5 seconds on the CPU) and times a few of the image demo's
own training steps (:mod:`jepa_core.demo_speed`) in fp32 and in bf16, whose rate at the precision
the demo trains at gives the expected time of ``make demo``::

    $ jepa doctor
    ...
    matmul:   163.8 GFLOP/s (float32 1024x1024 on the CPU, 2 threads, 5.0 s)
    demo:     398 img/s (32 training steps of the image demo in bf16, 5.1 s)
    expected: make demo (CPU) about 1m38s on this machine ...

Without the image plugin the expectation falls back on the matmul rate and
:data:`DEMO_IMAGES_PER_GFLOP`, a relation that holds on the CPU kind it was measured on only.
Either way the estimate is a guide, not a promise; other jobs on the CPU slow the benchmark and
the demo alike.

>>> report = collect(seconds=0.2)                                   # doctest: +SKIP
>>> print("\\n".join(format_report(report)))                        # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import platform
import re
import sys
import time
from pathlib import Path

import attrs
import torch

from jepa_core.demo_speed import DemoSpeed, demo_precision, expected_demo_seconds, measure_demo_speed
from jepa_core.errors import ConfigError
from jepa_core.hardware import Precision, cpu_multiplies_bf16, usable_cores
from jepa_core.registry import Registry

DEMO_IMAGES_PER_GFLOP = 2.28
"""The image demo's training images/s (at the precision it trains at) per fp32 benchmark GFLOP/s,
the fallback relation where the demo's own steps cannot be timed. It depends on the CPU kind, and
on whether the CPU has bf16 units (the demo trains in bf16 there): it was measured on a 2-core AMD
EPYC with AVX-512 bf16 units, where the demo's steps run 1.4-1.6 times as fast in bf16 as in
fp32, so on a CPU without them it predicts the demo faster than it runs.

Measured with ``python benchmarks/calibrate_doctor.py --rounds 4`` (torch 2.14.1, 2 threads) on
2026-12-06: four interleaved pairs of 20 demo training steps in bf16 and a 3-second
:func:`matmul_gflops` run gave 343-379 img/s against 146-167 GFLOP/s, ratios 2.09-2.44, median
2.28."""

REQUIRED = ("torch", "torchvision", "timm", "numpy", "pluggy", "attrs", "einops", "tensorboard", "pyyaml", "pillow")
OPTIONAL = {"wandb": "wandb", "mlflow": "mlflow-skinny", "submitit": "submitit", "av": "av"}
"""Extras: the extra's name -> the distribution it installs (``pip install 'jepaforge[EXTRA]'``)."""

BF16_FASTER = 1.1
"""bf16 autocast must train the demo's steps this much faster than fp32 before ``jepa doctor``
suggests it: a smaller gain is within the timing noise of a few seconds of steps. Its speed-up
depends on the CPU (docs/results.md, bf16 on a CPU): a 2-core Intel Xeon with AMX ran the
``small`` preset's steps 0.76 times as fast in bf16, a 2-core AMD EPYC with AVX-512 bf16 ran
``lejepa_small`` 1.35 times as fast."""

MATMUL_SIZE = 1024
DEFAULT_SECONDS = 5.0


@attrs.frozen(kw_only=True)
class Benchmark:
    """One matmul benchmark: the rate, what was multiplied, on what, for how long."""

    gflops: float
    size: int
    device: str
    dtype: str
    seconds: float
    threads: int


@attrs.frozen(kw_only=True)
class DoctorReport:
    """Everything ``jepa doctor`` prints (see :func:`format_report`)."""

    versions: dict[str, str | None]
    optional: dict[str, str | None]
    python: str
    platform: str
    device: str
    cpu_model: str
    cores: int
    usable_cores: int
    threads: int
    interop_threads: int
    thread_env: dict[str, str]
    blas: str
    cpu_capability: str
    load: float | None
    cpu: Benchmark | None
    accelerator: Benchmark | None = None
    demo: DemoSpeed | None = None
    demo_bf16: DemoSpeed | None = None
    demo_precision: Precision = "fp32"
    """The precision the demo trains at here: its expected time reads the steps timed at it."""

    def demo_at_its_precision(self) -> tuple[DemoSpeed | None, Precision]:
        """The demo's timed steps at the precision it trains at, and that precision (fp32 where
        bf16 was not timed)."""
        if self.demo_precision == "bf16" and self.demo_bf16 is not None:
            return self.demo_bf16, "bf16"
        return self.demo, "fp32"


def version_of(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None.

    >>> version_of("no-such-distribution-xyz") is None
    True
    """
    try:
        return md.version(distribution)
    except md.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def blas_library() -> str:
    """The BLAS PyTorch was built with, e.g. ``mkl (oneAPI Math Kernel Library Version 2024.2)``."""
    text = torch.__config__.show()
    found = re.search(r"BLAS_INFO=([\w.-]+)", text)
    name = found.group(1) if found else "unknown"
    detail = re.search(r"(Math Kernel Library Version [\d.]+|OpenBLAS[^\n,]*)", text)
    return f"{name} ({detail.group(1).strip()})" if detail else name


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), or None where the system has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def run_device() -> str:
    """The device ``train.device=auto`` picks, with its name."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        count = torch.cuda.device_count()
        return f"cuda:0 {props.name} ({props.total_memory / 2**30:.0f} GiB){f', {count} GPUs' if count > 1 else ''}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps (Apple GPU)"
    return "cpu (no CUDA device)"


def matmul_gflops(
    seconds: float = DEFAULT_SECONDS, size: int = MATMUL_SIZE, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> Benchmark:
    """Multiply two ``size x size`` matrices repeatedly for about ``seconds``; the rate in GFLOP/s
    (``2 size^3`` per product).

    >>> matmul_gflops(seconds=0.1, size=64).gflops > 0
    True
    """
    dev = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(dev, dtype)
    b = torch.randn(size, size, generator=gen).to(dev, dtype)
    out = torch.empty(size, size, device=dev, dtype=dtype)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    torch.mm(a, b, out=out)  # warm-up: allocations, kernel choice
    sync()
    count, start = 0, time.perf_counter()
    batch = 1
    while True:
        for _ in range(batch):
            torch.mm(a, b, out=out)
        sync()
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        batch = min(batch * 2, max(1, int(count * (seconds - elapsed) / max(elapsed, 1e-9)) or 1))
    gflops = 2 * size**3 * count / elapsed / 1e9
    return Benchmark(
        gflops=gflops,
        size=size,
        device=dev.type,
        dtype=str(dtype).removeprefix("torch."),
        seconds=elapsed,
        threads=torch.get_num_threads(),
    )


def expected_demo(gflops: float) -> tuple[float, float]:
    """``(seconds, images/s)``: the image demo's expected wall time and training speed on a CPU
    whose benchmark rate is ``gflops``.

    >>> [round(x) for x in expected_demo(206.2)]
    [85, 470]
    """
    rate = DEMO_IMAGES_PER_GFLOP * gflops
    return expected_demo_seconds(rate), rate


def collect(seconds: float = DEFAULT_SECONDS, registry: Registry | None = None) -> DoctorReport:
    """Gather the report; ``seconds`` is the CPU benchmark's length (0 skips it) and, given the
    ``registry``, that of the image demo's timed steps (fp32, then bf16). With a CUDA device its bf16 matmul rate is
    measured too (:func:`collect_accelerator`)."""
    report = DoctorReport(
        versions={"jepaforge": version_of("jepaforge"), **{name: version_of(name) for name in REQUIRED}},
        optional={extra: version_of(dist) for extra, dist in OPTIONAL.items()},
        python=f"{platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        platform=platform.platform(),
        device=run_device(),
        cpu_model=cpu_model(),
        cores=os.cpu_count() or 1,
        usable_cores=usable_cores(),
        threads=torch.get_num_threads(),
        interop_threads=torch.get_num_interop_threads(),
        thread_env={
            k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ
        },
        blas=blas_library(),
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        load=load_average(),
        cpu=matmul_gflops(seconds) if seconds > 0 else None,
        accelerator=collect_accelerator(seconds),
    )
    return with_demo_speeds(report, registry, seconds) if seconds > 0 and registry is not None else report


def with_demo_speeds(report: DoctorReport, registry: Registry, seconds: float) -> DoctorReport:
    """``report`` with the image demo's steps timed for about ``seconds`` in fp32 and in bf16
    autocast, and the precision the demo trains at here."""
    return attrs.evolve(
        report,
        demo=measure_demo_speed(registry, seconds),
        demo_bf16=measure_demo_speed(registry, seconds, "bf16"),
        demo_precision=demo_precision(registry),
    )


def collect_accelerator(seconds: float) -> Benchmark | None:
    """The CUDA device's bf16 matmul rate (4096 x 4096, at most a second), or None without one."""
    if seconds <= 0 or not torch.cuda.is_available():
        return None
    return matmul_gflops(min(seconds, 1.0), 4096, "cuda", torch.bfloat16)


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def bf16_line(fp32: DemoSpeed, bf16: DemoSpeed) -> str:
    """Whether bf16 autocast trains the demo's steps faster than fp32 on this CPU, and the switch.

    >>> fp32, bf16 = DemoSpeed(images_per_s=300, steps=20, seconds=5), DemoSpeed(images_per_s=390, steps=26, seconds=5)
    >>> bf16_line(fp32, bf16)[:40]
    'bf16:     390 img/s with bf16 autocast ('
    """
    ratio = bf16.images_per_s / fp32.images_per_s
    auto = "bf16" if cpu_multiplies_bf16() else "fp32"
    if ratio >= BF16_FASTER:
        advice = (
            "--set train.precision=bf16 trains faster on this CPU for models like the demo's (not every model: "
            f"benchmarks/bench_precision_cpu.py times a preset; train.precision=auto picks {auto} here)"
        )
    else:
        advice = f"keep fp32 on this CPU (train.precision=auto picks {auto} here)"
    return (
        f"bf16:     {bf16.images_per_s:.0f} img/s with bf16 autocast ({ratio:.2f}x fp32, {bf16.steps} steps, "
        f"{bf16.seconds:.1f} s): {advice}"
    )


def format_report(report: DoctorReport) -> list[str]:
    """The report as the lines ``jepa doctor`` prints."""
    versions = ", ".join(f"{k} {v or 'MISSING'}" for k, v in report.versions.items())
    optional = ", ".join(f"{k} {v}" if v else f"{k} not installed" for k, v in report.optional.items())
    env = ", ".join(f"{k}={v}" for k, v in report.thread_env.items()) or "no *_NUM_THREADS set"
    lines = [
        f"python:   {report.python}",
        f"platform: {report.platform}",
        f"versions: {versions}",
        f"extras:   {optional}",
        f"device:   {report.device}",
        f"cpu:      {report.cpu_model}, {report.cores} cores ({report.usable_cores} usable), {report.cpu_capability}",
        f"threads:  torch {report.threads} intra-op, {report.interop_threads} inter-op ({env})",
        f"blas:     {report.blas}",
    ]
    if report.load is not None:
        busy = report.load > 0.5 * report.usable_cores
        note = " - the CPU is busy: the benchmark and any run are slower than on an idle machine" if busy else " (idle)"
        lines.append(f"load:     {report.load:.1f} runnable processes on {report.usable_cores} cores{note}")
    if report.cpu is not None:
        b = report.cpu
        lines.append(
            f"matmul:   {b.gflops:.1f} GFLOP/s ({b.dtype} {b.size}x{b.size} on the CPU, "
            f"{b.threads} threads, {b.seconds:.1f} s)"
        )
    d, precision = report.demo_at_its_precision()
    if d is not None:
        seconds, rate = expected_demo_seconds(d.images_per_s), d.images_per_s
        lines.append(
            f"demo:     {rate:.0f} img/s ({d.steps} training steps of the image demo in {precision}, {d.seconds:.1f} s)"
        )
        basis = "its timed steps"
    elif report.cpu is not None:
        seconds, rate = expected_demo(report.cpu.gflops)
        basis = "the matmul rate alone, as the image demo is not loaded: off by up to 1.6x on some CPU kinds"
    if d is not None or report.cpu is not None:
        lines.append(
            f"expected: make demo (CPU) about {_duration(seconds)} on this machine, about {rate:.0f} img/s while "
            f"training (from {basis}; jepa train prints img/s at every log step; other jobs on the CPU slow both)"
        )
    if report.demo is not None and report.demo_bf16 is not None:
        lines.append(bf16_line(report.demo, report.demo_bf16))
    if report.accelerator is not None:
        a = report.accelerator
        lines.append(f"gpu:      {a.gflops / 1000:.1f} TFLOP/s ({a.dtype} {a.size}x{a.size} matmul, {a.seconds:.1f} s)")
    return lines


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``jepa doctor`` command."""
    d = sub.add_parser(
        "doctor",
        help="versions, device, threads, BLAS, a matmul benchmark, the demo's timed steps and its expected time",
    )
    d.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"seconds of the matmul benchmark and of the demo's timed steps (default {DEFAULT_SECONDS:g}; 0 skips)",
    )


def run(args: argparse.Namespace, registry: Registry | None = None) -> int:
    """Print the machine's description at once, then the benchmarks and the expectation."""
    seconds = args.seconds
    if not (0 <= seconds <= 600):
        raise ConfigError(f"--seconds must be between 0 and 600, got {seconds:g}.")
    report = collect(seconds=0)
    shown = format_report(report)
    print("\n".join(shown), flush=True)
    if seconds > 0:
        print(f"(measuring fp32 matmul speed for about {seconds:g} s ...)", flush=True)
        full = attrs.evolve(report, cpu=matmul_gflops(seconds), accelerator=collect_accelerator(seconds))
        if registry is not None:
            print(f"(timing the image demo's training steps for about {seconds:g} s, in fp32 and bf16 ...)", flush=True)
            full = with_demo_speeds(full, registry, seconds)
        print("\n".join(format_report(full)[len(shown) :]))
    return 0
