"""Claiming a run directory: a second run on a directory in use stops naming the holder, a dead
run's lock is taken over, only rank 0 locks, a resumed run keeps its config (but for allowed
keys), and an unwritable --out is one sentence before any work."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from jepa_core import rundir
from jepa_core.cli import main
from jepa_core.dist import DistInfo, worker_process_group
from jepa_core.errors import ConfigError, RunDirBusyError
from jepa_core.registry import build_registry
from jepa_core.rundir import LOCK_NAME, RunLock, claim, config_changes
from tests import toy_seq_plugin
from tests.jepa_core.mounts import fill, tmpfs

TOY = [
    "--no-autoload",
    "-p",
    "tests.toy_seq_plugin",
    "train",
    "--plugin",
    "toyseq",
    "--preset",
    "tiny",
    "--set",
    "train.device=cpu",
    "--set",
    "train.log_every=1",
]
REPO = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from jepa_core.rundir import RunLock
RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/run."""
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield run, proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_second_run_on_a_directory_in_use_exits_2_naming_the_holder(tmp_path, capsys, holder):
    run, pid = holder
    err = _one_line_error(capsys, [*TOY, "--out", str(run), "--set", "train.max_steps=1"])
    assert f"run directory '{run}' is in use by another jepa run (pid {pid} on host {socket.gethostname()}" in err
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing written: no config, no tensorboard


def _dead_pid() -> int:
    return int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
        ).stdout
    )


def test_lock_of_a_killed_run_is_taken_over_and_removed_at_exit(tmp_path, capsys):
    # What a killed run leaves: its lock file (the kernel dropped its flock with the process).
    run = tmp_path / "run"
    run.mkdir()
    pid = _dead_pid()
    (run / LOCK_NAME).write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "started": "earlier"}))
    assert main([*TOY, "--out", str(run), "--set", "train.max_steps=1"]) == 0
    out = capsys.readouterr().out
    assert f"took over the stale lock of an earlier run that is no longer running (pid {pid} on host" in out
    assert not (run / LOCK_NAME).exists()


def test_lock_in_process_is_exclusive_and_released(tmp_path):
    first = RunLock(tmp_path)
    assert first.acquire() is None and first.held
    holder = json.loads((tmp_path / LOCK_NAME).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(RunDirBusyError, match=f"pid {os.getpid()} on host"):
        RunLock(tmp_path).acquire()  # a second open file: flock conflicts within one process too
    first.release()
    first.release()  # idempotent
    assert not (tmp_path / LOCK_NAME).exists()
    second = RunLock(tmp_path)
    assert second.acquire() is None
    second.release()


def test_without_flock_a_dead_pid_is_stale_and_a_live_one_is_busy(tmp_path, monkeypatch):
    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(rundir.fcntl, "flock", no_flock)
    dead, host = _dead_pid(), socket.gethostname()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": host, "pid": dead, "started": "x"}))
    lock = RunLock(tmp_path)
    assert lock.acquire().pid == dead
    with pytest.raises(RunDirBusyError, match=f"pid {os.getpid()} on host {host}"):
        RunLock(tmp_path).acquire()
    lock.release()
    (tmp_path / LOCK_NAME).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": "x"}))
    with pytest.raises(
        RunDirBusyError, match=r"pid 1 on host elsewhere.*delete .*run\.lock only if that process is gone"
    ):
        RunLock(tmp_path).acquire()  # another host's pid cannot be checked: never taken over


def test_only_rank_zero_takes_the_lock(tmp_path):
    cfg = toy_seq_plugin.toy_config()
    cfg = attrs.evolve(cfg, train=attrs.evolve(cfg.train, out_dir=str(tmp_path / "run")))
    registry = build_registry(autoload=False, plugins=[toy_seq_plugin])
    with claim(cfg, registry, DistInfo(rank=1, world_size=2)) as lock:
        assert lock is None and not (tmp_path / "run").exists()
    with claim(cfg, registry, DistInfo(rank=0, world_size=1)) as lock:
        assert lock.held and (tmp_path / "run" / LOCK_NAME).exists()
    assert not (tmp_path / "run").exists()  # created by the claim and left empty: removed


def test_resume_with_another_config_exits_2_naming_the_keys(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main([*TOY, "--out", out, "--set", "train.max_steps=1"]) == 0
    capsys.readouterr()
    stored = (tmp_path / "run" / "config.yaml").read_text()
    err = _one_line_error(
        capsys, [*TOY, "--out", out, "--set", "train.max_steps=2", "--set", "train.seed=5", "--set", "optim.lr=0.002"]
    )
    assert (
        f"run directory '{out}' holds a run with another config (optim.lr: 0.001 -> 0.002; train.seed: 0 -> 5); "
        "resuming it would mix two runs: choose another --out, or pass --allow-config-change"
    ) in err
    assert (tmp_path / "run" / "config.yaml").read_text() == stored  # refused before writing anything
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    # (a resume changing only allowed keys, e.g. max_steps, is what test_resume.py does)


def test_allow_config_change_skips_the_check(tmp_path):
    cfg = toy_seq_plugin.toy_config()
    registry = build_registry(autoload=False, plugins=[toy_seq_plugin])
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "step_00000001.pt").write_bytes(b"")  # only its name matters here
    (run / "config.json").write_text(json.dumps(rundir.to_dict(cfg)))  # as an older run wrote it
    changed = attrs.evolve(cfg, train=attrs.evolve(cfg.train, seed=9, out_dir=str(run)))
    with pytest.raises(ConfigError, match=r"train\.seed: 0 -> 9"):
        with claim(changed, registry, DistInfo()):
            pass
    assert not (run / LOCK_NAME).exists()  # a refused claim releases the lock
    with claim(changed, registry, DistInfo(), allow_config_change=True) as lock:
        assert lock.held
    with claim(changed, registry, DistInfo(), resume=False) as lock:  # a fresh start compares nothing
        assert lock.held


def test_config_changes_lists_only_what_is_not_resumable():
    cfg = toy_seq_plugin.toy_config()
    registry = build_registry(autoload=False, plugins=[toy_seq_plugin])
    new = attrs.evolve(
        cfg,
        train=attrs.evolve(cfg.train, max_steps=7, num_workers=3, log_every=1, epochs=9),
        probe=attrs.evolve(cfg.probe, epochs=3),
    )
    assert config_changes(rundir.to_dict(cfg), new, registry) == ["train.epochs: 4 -> 9"]


@pytest.mark.parametrize("case", ["a file", "under a file"])
def test_out_that_cannot_be_a_directory_is_one_sentence(tmp_path, capsys, case):
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" if case == "a file" else tmp_path / "f" / "run"
    err = _one_line_error(capsys, [*TOY, "--out", str(out)])
    expected = (
        "is a file, not a directory" if case == "a file" else f"cannot be created because '{tmp_path / 'f'}' is a file"
    )
    assert f"train.out_dir (--out) '{out}' " in err and expected in err


@pytest.mark.parametrize("case", ["read-only", "full"])
def test_out_on_a_read_only_or_full_file_system_is_one_sentence(tmp_path, capsys, case):
    with tmpfs(tmp_path / "fs", size="64k", readonly=case == "read-only") as fs:
        if case == "full":
            fill(fs)
        err = _one_line_error(capsys, [*TOY, "--out", str(fs / "run")])
        reason = "the file system is read-only" if case == "read-only" else "the disk is full"
        assert f"train.out_dir (--out) '{fs / 'run'}' cannot be written ({reason} at '{fs}')" in err


def _claim_worker(rank: int, port: int, run: str, out: str) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    with worker_process_group("gloo", rank=rank, world_size=2):
        cfg = toy_seq_plugin.toy_config()
        cfg = attrs.evolve(cfg, train=attrs.evolve(cfg.train, out_dir=run))
        registry = build_registry(autoload=False, plugins=[toy_seq_plugin])
        try:
            with claim(cfg, registry, DistInfo(rank, 2), device=torch.device("cpu")):
                result = "claimed"
        except Exception as err:  # noqa: BLE001 - recorded for the test
            result = f"{type(err).__name__}: {err}"
        Path(out, f"rank{rank}.txt").write_text(result)
        dist.barrier()


def test_when_rank_zero_cannot_claim_every_rank_stops(tmp_path):
    import torch.multiprocessing as mp

    from tests.jepa_core.test_parallel import free_port

    run = tmp_path / "run"
    lock = RunLock(run.mkdir() or run)
    lock.acquire()  # this process holds the directory
    try:
        mp.spawn(_claim_worker, args=(free_port(), str(run), str(tmp_path)), nprocs=2, join=True)
    finally:
        lock.release()
    rank0, rank1 = ((tmp_path / f"rank{r}.txt").read_text() for r in (0, 1))
    assert rank0.startswith("RunDirBusyError: run directory") and f"pid {os.getpid()}" in rank0
    assert rank1 == "JepaError: rank 0 could not claim the run directory (see its error); stopping this rank too."
