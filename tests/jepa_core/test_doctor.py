"""jepa doctor: versions, device, threads, BLAS, CPU, a matmul benchmark and the expected demo time."""

from __future__ import annotations

import attrs
import pytest

from jepa_core import doctor


def test_a_short_benchmark_measures_a_positive_rate():
    bench = doctor.matmul_gflops(seconds=0.2, size=128)
    assert bench.gflops > 0 and bench.seconds >= 0.2 and bench.size == 128 and bench.device == "cpu"


def test_expected_demo_time_follows_the_measured_relation():
    seconds, rate = doctor.expected_demo(100.0)
    assert rate == pytest.approx(100.0 * doctor.DEMO_IMAGES_PER_GFLOP)
    assert seconds == pytest.approx(doctor.DEMO_TRAIN_IMAGES / rate * doctor.DEMO_OVERHEAD_FACTOR)
    assert doctor.expected_demo(200.0)[0] == pytest.approx(seconds / 2)  # twice the rate, half the time


def test_the_report_names_versions_device_threads_blas_cpu_and_the_expectation():
    report = doctor.collect(seconds=0)
    assert report.cpu is None and report.versions["torch"] and report.threads >= 1
    gflops = doctor.DEMO_TRAIN_IMAGES * doctor.DEMO_OVERHEAD_FACTOR / doctor.DEMO_IMAGES_PER_GFLOP / 95  # 95 s
    bench = doctor.Benchmark(gflops=gflops, size=1024, device="cpu", dtype="float32", seconds=5.0, threads=2)
    lines = doctor.format_report(attrs.evolve(report, cpu=bench))
    text = "\n".join(lines)
    for start in (
        "python:",
        "versions:",
        "extras:",
        "device:",
        "cpu:",
        "threads:",
        "blas:",
        "load:",
        "matmul:",
        "expected:",
    ):
        assert any(line.startswith(start) for line in lines), start
    assert "torch " in text and "1m35s" in text and "GFLOP/s" in text
    assert "wandb" in text and "mlflow" in text
