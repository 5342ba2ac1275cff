"""jepa doctor: versions, device, threads, BLAS, CPU, the benchmarks and the expected demo time."""

from __future__ import annotations

import attrs
import pytest

from jepa_core import demo_speed, doctor


def test_a_short_benchmark_measures_a_positive_rate():
    bench = doctor.matmul_gflops(seconds=0.2, size=128)
    assert bench.gflops > 0 and bench.seconds >= 0.2 and bench.size == 128 and bench.device == "cpu"


def test_expected_demo_time_follows_the_measured_relation():
    seconds, rate = doctor.expected_demo(100.0)
    assert rate == pytest.approx(100.0 * doctor.DEMO_IMAGES_PER_GFLOP)
    assert seconds == pytest.approx(demo_speed.DEMO_TRAIN_IMAGES / rate * demo_speed.DEMO_WALL_PER_TRAIN_TIME)
    assert doctor.expected_demo(200.0)[0] == pytest.approx(seconds / 2)  # twice the rate, half the time


def test_the_report_names_versions_device_threads_blas_cpu_and_the_expectation():
    report = doctor.collect(seconds=0)
    assert report.cpu is None and report.versions["torch"] and report.threads >= 1
    gflops = demo_speed.DEMO_TRAIN_IMAGES * demo_speed.DEMO_WALL_PER_TRAIN_TIME / doctor.DEMO_IMAGES_PER_GFLOP / 95
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
    assert "matmul rate alone" in text  # no timed demo steps: the fallback says what it rests on


def test_timed_demo_steps_set_the_expectation_over_the_matmul_rate():
    report = doctor.collect(seconds=0)
    bench = doctor.Benchmark(gflops=1.0, size=1024, device="cpu", dtype="float32", seconds=5.0, threads=2)
    rate = demo_speed.DEMO_TRAIN_IMAGES * demo_speed.DEMO_WALL_PER_TRAIN_TIME / 125  # the demo in 2m05s
    speed = demo_speed.DemoSpeed(images_per_s=rate, steps=24, seconds=5.2)
    lines = doctor.format_report(attrs.evolve(report, cpu=bench, demo=speed))
    demo_line = next(line for line in lines if line.startswith("demo:"))
    expected = next(line for line in lines if line.startswith("expected:"))
    assert f"{rate:.0f} img/s" in demo_line and "24 training steps" in demo_line
    assert "2m05s" in expected and "its timed steps" in expected  # not the 1 GFLOP/s matmul's hours


@pytest.mark.parametrize(("precision", "expected"), [("bf16", "1m00s"), ("fp32", "2m00s")])
def test_the_expectation_reads_the_steps_at_the_demos_precision(precision, expected):
    rate = demo_speed.DEMO_TRAIN_IMAGES * demo_speed.DEMO_WALL_PER_TRAIN_TIME / 120  # fp32: the demo in 2m00s
    fp32 = demo_speed.DemoSpeed(images_per_s=rate, steps=24, seconds=5.0)
    bf16 = demo_speed.DemoSpeed(images_per_s=2 * rate, steps=48, seconds=5.0)
    report = attrs.evolve(doctor.collect(seconds=0), demo=fp32, demo_bf16=bf16, demo_precision=precision)
    lines = doctor.format_report(report)
    demo_line = next(line for line in lines if line.startswith("demo:"))
    assert f"image demo in {precision}" in demo_line
    assert expected in next(line for line in lines if line.startswith("expected:"))


def test_without_timed_bf16_steps_the_expectation_reads_the_fp32_steps_and_says_so():
    rate = demo_speed.DEMO_TRAIN_IMAGES * demo_speed.DEMO_WALL_PER_TRAIN_TIME / 120
    fp32 = demo_speed.DemoSpeed(images_per_s=rate, steps=24, seconds=5.0)
    report = attrs.evolve(doctor.collect(seconds=0), demo=fp32, demo_bf16=None, demo_precision="bf16")
    lines = doctor.format_report(report)
    assert "image demo in fp32" in next(line for line in lines if line.startswith("demo:"))
    assert "2m00s" in next(line for line in lines if line.startswith("expected:"))


def test_doctor_cli_times_the_demo_steps_when_the_image_plugin_is_loaded(capsys):
    from jepa_core.cli.app import main

    assert main(["doctor", "--seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "demo:" in out and "img/s (" in out and "from its timed steps" in out
    assert "img/s with bf16 autocast" in out  # the same steps timed in bf16 beside fp32


@pytest.mark.parametrize(
    ("bf16_rate", "advice"),
    [(390.0, "--set train.precision=bf16 trains faster"), (310.0, "keep fp32"), (200.0, "keep fp32")],
)
def test_bf16_line_suggests_bf16_only_where_it_is_clearly_faster(bf16_rate, advice):
    fp32 = demo_speed.DemoSpeed(images_per_s=300.0, steps=24, seconds=5.0)
    bf16 = demo_speed.DemoSpeed(images_per_s=bf16_rate, steps=30, seconds=5.0)
    report = attrs.evolve(doctor.collect(seconds=0), demo=fp32, demo_bf16=bf16)
    line = next(line for line in doctor.format_report(report) if line.startswith("bf16:"))
    assert f"{bf16_rate:.0f} img/s" in line and f"{bf16_rate / 300:.2f}x fp32" in line and advice in line
    assert not any(line.startswith("bf16:") for line in doctor.format_report(attrs.evolve(report, demo_bf16=None)))


@pytest.mark.parametrize(("native", "picks"), [(True, "bf16"), (False, "fp32")])
@pytest.mark.parametrize("bf16_rate", [390.0, 200.0])
def test_bf16_line_says_what_auto_picks_on_this_cpu(monkeypatch, native, picks, bf16_rate):
    monkeypatch.setattr(doctor, "cpu_multiplies_bf16", lambda: native)
    fp32 = demo_speed.DemoSpeed(images_per_s=300.0, steps=24, seconds=5.0)
    bf16 = demo_speed.DemoSpeed(images_per_s=bf16_rate, steps=30, seconds=5.0)
    assert f"train.precision=auto picks {picks} here" in doctor.bf16_line(fp32, bf16)
