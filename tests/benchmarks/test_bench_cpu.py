"""The CPU benchmark scripts run end to end on a tiny batch and print one line per way measured."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import each other as when run from benchmarks/
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize(
    ("script", "argv", "ways"),
    [
        ("bench_lejepa_views", ["--preset", "lejepa_small", "--batch", "4", "--rounds", "1"], 2),
        ("bench_precision_cpu", ["--preset", "demo", "--batch", "4", "--rounds", "1", "--steps", "1"], 2),
        ("bench_precision_cpu", ["--preset", "lejepa_demo", "--batch", "4", "--rounds", "1", "--steps", "1"], 2),
        ("bench_image_views", ["--preset", "lejepa_small_muon", "--batch", "4", "--rounds", "1"], 2),
        ("bench_image_views", ["--preset", "lejepa_demo", "--rgb", "--size", "70", "--batch", "4", "--rounds", "1"], 2),
    ],
)
def test_cpu_benchmark_prints_a_throughput_per_way(script, argv, ways, capsys):
    load(script).main(argv)
    lines = capsys.readouterr().out.strip().splitlines()
    assert "batch 4" in lines[0]
    rates = [line for line in lines[1:] if line.endswith("images/s")]
    assert len(rates) == ways
    assert all(float(line.split(", ")[-1].split()[0]) > 0 for line in rates)


def test_views_benchmark_refuses_a_preset_without_lejepa_views():
    with pytest.raises(SystemExit, match="does not train a LeJEPA view path"):
        load("bench_lejepa_views").main(["--preset", "demo", "--batch", "4", "--rounds", "1"])


def test_precision_benchmark_asks_for_data_where_the_views_come_from_a_folder():
    with pytest.raises(SystemExit, match="takes its views from its data: give --data FOLDER"):
        load("bench_precision_cpu").main(["--preset", "lejepa_small", "--batch", "4", "--rounds", "1"])


def test_views_benchmark_refuses_a_preset_without_image_views():
    with pytest.raises(SystemExit, match="does not read images with training views"):
        load("bench_image_views").main(["--plugin", "video", "--preset", "demo", "--batch", "4", "--rounds", "1"])


def _image_folder(root: Path, n: int = 16) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        path = root / f"c{i % 2}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(path)
    return root


def test_loader_benchmark_times_seeded_unseeded_and_cached_reads(tmp_path, capsys):
    data = _image_folder(tmp_path / "train")
    load("bench_image_loader").main(["--data", str(data), "--batch", "4", "--batches", "2"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert "image/lejepa_small_fast training loader on" in lines[0] and "batch 4" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["seeded reads", "unseeded reads", "cached images"]
    assert all(float(line.split(", ")[-1].split()[0]) > 0 for line in lines[1:])
    with pytest.raises(SystemExit, match="does not draw batch-wide views"):
        load("bench_image_loader").main(["--preset", "small", "--data", str(data), "--batch", "4", "--batches", "1"])


def test_sigreg_benchmark_times_both_forms_of_the_same_statistic(capsys):
    import torch

    bench = load("bench_sigreg")
    bench.main(["--slices", "32", "--batch", "8", "--views", "2", "--rounds", "1", "--calls", "1"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("SIGReg, 32 slices, 2 views of 8 x 16")
    assert len(lines) == 3 and all(float(line.split(", ")[-1].split()[0]) > 0 for line in lines[1:])
    reg = bench.SIGReg(bench.SIGRegConfig(num_slices=32))
    z = torch.randn(8, 16)
    torch.testing.assert_close(bench.direct_sigreg(reg, z, 3), reg(z, step=3))


def test_budget_benchmark_prints_each_ways_schedule_and_its_pretraining_time(capsys):
    tiny = ["--set", "data.num_train=16", "--set", "train.num_workers=0"]
    argv = ["--way", "demo train.batch_size=4", "--way", "demo train.batch_size=8 train.epochs=2", *tiny]
    load("bench_budget").main([*argv, "--rounds", "1", "--steps", "1", "--warmup", "0"])
    header, first, second = capsys.readouterr().out.strip().splitlines()
    assert header.startswith("whole iterations (data + step)")
    assert "(fp32, batch 4)" in first and "20 steps in" in first and "(1.00x)" in first  # 5 epochs of 4 steps
    assert "(fp32, batch 8)" in second and "4 steps in" in second  # 2 epochs of 2 steps
    assert all(float(line.split(", ")[-1].split()[0]) > 0 for line in (first, second))


def test_budget_benchmark_ways_read_their_samples_in_orders_of_their_own():
    import torch

    bench = load("bench_budget")
    tiny = ("data.num_train=64", "train.num_workers=0", "train.batch_size=8")
    ways = [bench.build_way("image", "demo", None, tiny, position) for position in (0, 1, 0)]
    first = [next(way.steps.batches).inputs for way in ways]
    assert not torch.equal(first[0], first[1])  # another order: other files first
    assert torch.equal(first[0], first[2])  # the same position reads the same order


@pytest.mark.parametrize(
    ("way", "message"),
    [("demo train.epochs", "'train.epochs' is not a KEY=VALUE override"), ("no_such_preset", "--way 'no_such_preset'")],
)
def test_budget_benchmark_names_a_way_it_cannot_build(way, message):
    with pytest.raises(SystemExit, match=message):
        load("bench_budget").main(["--way", way, "--rounds", "1"])


def test_muon_benchmark_times_both_ways_over_the_presets_matrices(capsys):
    load("bench_muon").main(["--preset", "lejepa_demo", "--rounds", "1", "--steps", "10"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert "image/lejepa_demo: Newton-Schulz of" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["one matrix at a time", "stacked by shape"]
    assert all(float(line.split(": ")[1].split()[0]) > 0 and line.endswith("over 10 steps") for line in lines[1:])


def test_budget_benchmark_counts_each_ways_matrix_products(capsys):
    tiny = ["--set", "data.num_train=32", "--set", "train.num_workers=0", "--set", "train.precision=fp32"]
    argv = ["--way", "lejepa_demo train.batch_size=4", "--way", "lejepa_demo train.batch_size=8", *tiny]
    load("bench_budget").main([*argv, "--rounds", "1", "--steps", "1", "--warmup", "0", "--flops"])
    lines = capsys.readouterr().out.strip().splitlines()
    rate, small, large = lines[-3:]
    assert rate.startswith("fp32 matrix product") and float(rate.split(": ")[1].split()[0]) > 0
    gflop = [float(line.split(": ")[1].split()[0]) for line in (small, large)]
    assert 1.8 < gflop[1] / gflop[0] < 2.2, gflop  # twice the images, the same views per image: twice the products
    assert all("ms at the fp32 rate" in line and "% of the" in line for line in (small, large))
