"""jepa_core.dist: torchrun/SLURM detection, and `python -m jepa_core train` under torchrun.

The two-process test runs the real CLI with two gloo processes (global batch = 2 x micro-batch,
so no accumulation per rank) and checks it against one process with accumulation 2 on the
same global batch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs
import pytest
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.dist import (
    DistInfo,
    detect,
    exit_process,
    init_distributed,
    rank_seed,
    select_device,
    worker_process_group,
)
from jepa_core.errors import ConfigError
from tests.jepa_core.test_parallel import assert_states_close, torchrun

STEPS = 4


# ------------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DistInfo(0, 1, 0)),
        ({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}, DistInfo(3, 8, 1)),
        ({"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1"}, DistInfo(5, 16, 1)),
        ({"SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_LOCALID": "0"}, DistInfo(0, 1, 0)),  # one srun task
        # torchrun inside an srun allocation: torchrun's variables win.
        (
            {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"},
            DistInfo(1, 2, 1),
        ),
    ],
    ids=["single", "torchrun", "slurm", "slurm-one-task", "torchrun-in-slurm"],
)
def test_detect_maps_torchrun_and_slurm_variables(env, expected):
    assert detect(env) == expected
    assert detect(env).is_main == (expected.rank == 0)
    assert detect(env).enabled == (expected.world_size > 1)


def test_init_distributed_without_master_addr_is_a_config_error(monkeypatch):
    for key in ("MASTER_ADDR", "SLURM_LAUNCH_NODE_IPADDR", "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="rank 1 of 2 was launched without MASTER_ADDR"):
        init_distributed(DistInfo(1, 2, 0), torch.device("cpu"))
    assert "RANK" not in os.environ  # nothing half-set on failure
    init_distributed(DistInfo(), torch.device("cpu"))  # a single process: no-op
    assert not torch.distributed.is_initialized()


def test_rank_seed_differs_per_rank_and_keeps_rank_zero():
    seeds = {rank_seed(3, DistInfo(r, 4, r)) for r in range(4)}
    assert len(seeds) == 4 and rank_seed(3, DistInfo(0, 4, 0)) == 3


def test_select_device_refuses_bad_values():
    assert select_device("cpu", DistInfo()) == torch.device("cpu")
    with pytest.raises(ConfigError, match="train.device must be"):
        select_device("tpu", DistInfo())
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            select_device("cuda", DistInfo())
    with pytest.raises(ConfigError, match="--device must be .* got 'cudax'"):
        select_device("cudax", DistInfo(), option="--device")


def test_select_device_checks_the_gpu_index_against_the_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert select_device("cuda:1", DistInfo()) == torch.device("cuda", 1)
    assert select_device("cuda", DistInfo(rank=3, world_size=4, local_rank=3)) == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"train.device='cuda:2' but this machine has 2 CUDA device\(s\)"):
        select_device("cuda:2", DistInfo())


# ------------------------------------------------------------ spawned workers


def _worker(rank: int, out: str, world_size: int, fail_on: int) -> None:
    with worker_process_group("gloo", init_method=f"file://{out}/store", rank=rank, world_size=world_size):
        total = torch.tensor([rank + 1.0])
        torch.distributed.all_reduce(total)
        if rank == fail_on:
            raise ValueError(f"rank {rank} failed on purpose")
        Path(out, f"rank{rank}.txt").write_text(str(total.item()))
        torch.distributed.barrier()
    Path(out, f"after{rank}.txt").write_text("the block did not end the process")


def test_a_worker_process_group_ends_the_process_when_its_block_completes(tmp_path):
    torch.multiprocessing.spawn(_worker, args=(str(tmp_path), 2, -1), nprocs=2, join=True)
    assert [Path(tmp_path, f"rank{r}.txt").read_text() for r in (0, 1)] == ["3.0", "3.0"]
    assert not list(tmp_path.glob("after*.txt"))


def test_an_exception_in_a_worker_process_group_reaches_the_parent(tmp_path):
    with pytest.raises(torch.multiprocessing.ProcessRaisedException, match="rank 0 failed on purpose"):
        torch.multiprocessing.spawn(_worker, args=(str(tmp_path), 1, 0), nprocs=1, join=True)
    assert not list(tmp_path.glob("after*.txt"))


def _exit_worker(rank: int) -> None:
    exit_process(3)


def test_exit_process_leaves_with_its_code_without_a_process_group():
    with pytest.raises(torch.multiprocessing.ProcessExitedException) as err:
        torch.multiprocessing.spawn(_exit_worker, nprocs=1, join=True)
    assert err.value.exit_code == 3


# ------------------------------------------------------------ python -m jepa_core under torchrun


@pytest.fixture(scope="module")
def torchrun_cli(tmp_path_factory):
    root = tmp_path_factory.mktemp("torchrun")
    args = [
        "-m",
        "jepa_core",
        "-p",
        "tests.toy_seq_plugin",
        "train",
        "--plugin",
        "toyseq",
        "--preset",
        "tiny",
        "--out",
        str(root / "run"),
        "--set",
        "train.batch_size=8",
        "--set",
        "train.micro_batch_size=4",
        "--set",
        f"train.max_steps={STEPS}",
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.device=cpu",
        "--set",
        "train.log_every=1",
    ]
    torchrun(args, log_dir=root / "logs")
    return root


@pytest.fixture(scope="module")
def single_process(tmp_path_factory):
    from jepa_core.registry import build_registry
    from jepa_core.run import train_run
    from tests import toy_seq_plugin

    out = tmp_path_factory.mktemp("single")
    cfg = toy_seq_plugin.toy_config()
    cfg = attrs.evolve(
        cfg,
        train=attrs.evolve(
            cfg.train,
            batch_size=8,
            micro_batch_size=4,
            max_steps=STEPS,
            device="cpu",
            out_dir=str(out),
            log_every=1,
        ),
    )
    result = train_run(cfg, build_registry(autoload=False, plugins=[toy_seq_plugin]), stream=None)
    assert cfg.train.batch_layout(1) == (4, 2) and cfg.train.batch_layout(2) == (4, 1)
    return result, ckpt.load_checkpoint(ckpt.latest_checkpoint(out / "checkpoints"))


def _rank_log(root: Path, rank: int, stream: str) -> str:
    (path,) = (root / "logs").glob(f"**/attempt_0/{rank}/{stream}.log")
    return path.read_text()


def test_two_processes_equal_one_process_with_accumulation(torchrun_cli, single_process):
    _, reference = single_process
    two = ckpt.load_checkpoint(ckpt.latest_checkpoint(torchrun_cli / "run" / "checkpoints"))
    assert two["step"] == reference["step"] == STEPS
    assert two["world_size"] == 2 and reference["world_size"] == 1
    for what in ("encoder", "predictor", "target_encoder"):
        assert_states_close(two[what], reference[what])
    # The weights really moved between the two checkpoints: equality is not trivial.
    earlier = ckpt.load_checkpoint(ckpt.list_checkpoints(torchrun_cli / "run" / "checkpoints")[0][1])
    assert earlier["step"] == 2
    assert (earlier["encoder"]["embed.weight"] - two["encoder"]["embed.weight"]).abs().max() > 1e-4


def test_only_rank_zero_writes_files_and_logs(torchrun_cli):
    run = torchrun_cli / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "latents",
        "online_eval.jsonl",
        "representation.json",
        "tensorboard",
    ]
    steps = [json.loads(line)["step"] for line in (run / "online_eval.jsonl").read_text().splitlines()]
    assert sorted(p.name for p in (run / "latents").iterdir()) == [f"step_{s:08d}.png" for s in steps]
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == [ckpt.checkpoint_name(2), ckpt.checkpoint_name(STEPS)]  # no stray temp files
    assert len(list((run / "tensorboard").rglob("events.*"))) == 1  # one writer, not one per rank
    rank0, rank1 = _rank_log(torchrun_cli, 0, "stdout"), _rank_log(torchrun_cli, 1, "stdout")
    assert "world size 2, strategy ddp" in rank0 and f"step      {STEPS}/{STEPS}" in rank0
    assert rank1 == ""
