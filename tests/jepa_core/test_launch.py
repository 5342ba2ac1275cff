"""``jepa submit`` (jepa_core.cli.submit, jepa_core.launch): executor parameters, local checks before
anything is written, the run's config.yaml and the job's ``jepa train --config`` command, the
optional dependency, and real submissions through submitit's local executor.

submitit is optional: only the tests that submit (or build its objects) skip without it. A
fake ``sbatch``/``srun`` pair on PATH shows what a SLURM submission would contain.

This module is also a test-only plugin (``-p tests.jepa_core.test_launch``): its loss
``signal_once_smooth_l1`` sends ``JEPA_TEST_LAUNCH_SIGNAL=K:SIGNAME:MARKER`` to its own process
during step ``K`` (0-based) of the first attempt only (the marker file records it), a stand-in
for submitit's time-out signal that the requeued attempt does not receive again.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepa_core import hookimpl
from jepa_core.callbacks import PreemptionHandler
from jepa_core.checkpoint import checkpoint_name, latest_checkpoint
from jepa_core.cli import build_parser, main
from jepa_core.cli.submit import add_cluster_args, cluster_options, train_command
from jepa_core.launch import MISSING_SUBMITIT, TrainJob, _ForwardTimeoutSignal, executor_parameters, rank_variables
from jepa_core.losses import SmoothL1Config, SmoothL1Loss
from jepa_core.registry import AUTOLOAD_ENV, PLUGINS_ENV
from jepa_core.rundir import RunLock
from jepa_core.specs import LossSpec
from jepa_core.yaml_io import load_yaml
from tests.jepa_core.test_cli import _error

JEPA_PLUGIN_NAME = "launch_tests"
SIGNAL_ENV = "JEPA_TEST_LAUNCH_SIGNAL"
REPO = Path(__file__).resolve().parents[2]
TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin", "submit", "--plugin", "toyseq", "--preset", "tiny"]
SMALL = ["--set", "train.max_steps=2", "--set", "train.device=cpu", "--set", "train.batch_size=8"]


class SignalOnceSmoothL1:
    def __init__(self, cfg: SmoothL1Config) -> None:
        self.base = SmoothL1Loss(cfg.beta)
        self.calls = 0
        at, name, self.marker = os.environ[SIGNAL_ENV].split(":", 2)
        self.signal_at, self.signum = int(at), getattr(signal, name)

    def __call__(self, predictions, targets):
        if self.calls == self.signal_at and not os.path.exists(self.marker):
            Path(self.marker).write_text("sent\n")
            os.kill(os.getpid(), self.signum)
        self.calls += 1
        return self.base(predictions, targets)


@hookimpl
def jepa_losses():
    yield LossSpec(name="signal_once_smooth_l1", config_type=SmoothL1Config, build=SignalOnceSmoothL1)


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    # submitit's local tasks are new processes: they must import tests.* like this one
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.chdir(REPO)


@pytest.fixture
def submitit():
    return pytest.importorskip("submitit")


def _submit(monkeypatch, argv: list[str]):
    """``main(argv)`` for a submit command; returns submitit's Job."""
    from jepa_core import launch

    jobs = []
    real = launch.submit_job
    monkeypatch.setattr(launch, "submit_job", lambda *a, **k: jobs.append(real(*a, **k)) or jobs[-1])
    assert main(argv) == 0
    (job,) = jobs
    return job


def _wait(job, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not job.done():
        if time.monotonic() > deadline:
            job.cancel()
            pytest.fail(f"job {job.job_id} still running after {timeout}s:\n{job.stdout()}\n{job.stderr()}")
        time.sleep(0.2)
    return job.results()  # one per task


def _cluster(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_cluster_args(p)
    return p.parse_args(argv)


# ------------------------------------------------------------------ executor parameters
def test_executor_parameters_from_the_cluster_options():
    args = _cluster(
        [
            "--nodes",
            "2",
            "--gpus-per-node",
            "8",
            "--partition",
            "learn",
            "--timeout-min",
            "600",
            "--cpus-per-task",
            "12",
            "--mem-gb",
            "480",
            "--account",
            "vision",
            "--qos",
            "high",
            "--constraint",
            "volta32gb",
            "--slurm-arg",
            "exclude=node[1-2]",
            "--slurm-arg",
            "exclusive",
        ]
    )
    opts = cluster_options(args)
    assert (opts.tasks_per_node, opts.world_size) == (8, 16)
    assert executor_parameters(opts, name="jepa-image-vith14") == {
        "name": "jepa-image-vith14",
        "nodes": 2,
        "tasks_per_node": 8,
        "gpus_per_node": 8,
        "cpus_per_task": 12,
        "timeout_min": 600,
        "mem_gb": 480.0,
        "slurm_signal_delay_s": 120,
        "slurm_partition": "learn",
        "slurm_account": "vision",
        "slurm_qos": "high",
        "slurm_constraint": "volta32gb",
        "slurm_additional_parameters": {"exclude": "node[1-2]", "exclusive": True},
    }


def test_executor_parameters_defaults_and_cpu():
    assert executor_parameters(cluster_options(_cluster([]))) == {
        "name": "jepa",
        "nodes": 1,
        "tasks_per_node": 8,
        "gpus_per_node": 8,
        "cpus_per_task": 10,
        "timeout_min": 4320,
        "slurm_signal_delay_s": 120,
    }
    cpu = executor_parameters(cluster_options(_cluster(["--nodes", "3", "--gpus-per-node", "0"])))
    assert cpu["nodes"] == 3 and cpu["tasks_per_node"] == 1 and "gpus_per_node" not in cpu  # one CPU task per node


def test_the_job_runs_train_on_the_written_config_with_the_plugin_options():
    argv = [
        "--no-autoload",
        "-p",
        "a.plugin",
        "-p",
        "b.plugin",
        "--on-plugin-error",
        "warn",
        "submit",
        "--plugin",
        "image",
        "--preset",
        "vith14",
        "--data",
        "/data",
        "--out",
        "runs/x",
        "--set",
        "optim.lr=1e-3",
        "--set",
        "train.epochs=2",
        "--no-resume",
        "--init-from",
        "w.pth",
        "--nodes",
        "2",
        "--partition",
        "p",
    ]
    config = Path("/abs/runs/x/config.json")
    assert train_command(build_parser().parse_args(argv), config) == [
        "--load-plugin",
        "a.plugin",
        "--load-plugin",
        "b.plugin",
        "--no-autoload",
        "--on-plugin-error",
        "warn",
        "train",
        "--config",
        str(config),
    ]  # the run options are in config.yaml; no --no-resume (checked once at submission; a requeued job must
    # resume), no cluster options
    changed = build_parser().parse_args([*argv, "--allow-config-change"])
    assert train_command(changed, config)[-4:] == ["train", "--config", str(config), "--allow-config-change"]


def test_rank_variables_for_slurm_and_local_tasks():
    assert rank_variables("slurm", "42", 1, 0, 0, environ={}) == {}
    assert rank_variables("slurm", "123456", 16, 9, 1, environ={}) == {"MASTER_PORT": "13456"}  # dist.py maps SLURM_*
    assert rank_variables("local", "777", 2, 1, 1, environ={}) == {
        "MASTER_PORT": "10777",
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
    }
    assert rank_variables("slurm", "42", 16, 3, 3, environ={"MASTER_PORT": "29400"}) == {}  # the user's value wins


# ------------------------------------------------------- checks before anything is written
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "optim.lrr=1"], "'optim.lrr'"),
        (["--set", "train.epochs=many"], "'many'"),
        (["--set", "optim.lr=-1"], "'optim.lr'"),
        (["--gpus-per-node", "3"], "train.batch_size=32 cannot be split evenly over 3 processes"),
        (["--set", "train.device=cuda", "--gpus-per-node", "0"], "--gpus-per-node 0 asks for no GPUs"),
        (["--set", "train.device=cpu"], "--gpus-per-node 8 asks for GPUs"),
        (["--nodes", "0"], "--nodes must be at least 1"),
        (["--slurm-arg", "ntasks-per-node=4"], "--slurm-arg ntasks-per-node is set by jepa submit itself"),
        (["--slurm-arg", "exclude="], "--slurm-arg expects KEY=VALUE"),
        (
            ["--executor", "local", "--nodes", "2", "--set", "train.device=auto"],
            "--executor local runs on this machine only",
        ),
    ],
    ids=[
        "preset",
        "set-key",
        "set-type",
        "set-range",
        "batch-split",
        "cuda-no-gpus",
        "cpu-with-gpus",
        "nodes",
        "owned-sbatch-option",
        "slurm-arg-format",
        "local-multi-node",
    ],
)
def test_bad_run_or_cluster_options_exit_2_before_anything_is_written(capsys, tmp_path, extra, expected):
    assert expected in _error(capsys, [*TOY, "--out", str(tmp_path / "run"), *extra])  # the last --preset wins
    assert list(tmp_path.iterdir()) == []  # no run directory, no submitit folder


@pytest.mark.parametrize(
    ("gpus", "asked", "expected"),
    [
        (0, [], "which has 0 GPUs, but --gpus-per-node is 8 (one process per GPU); use --gpus-per-node 0 (one "),
        (2, ["--gpus-per-node", "4"], "which has 2 GPUs, but --gpus-per-node is 4 (one process per GPU); use "),
    ],
)
def test_the_local_executor_asks_for_at_most_this_machines_gpus(capsys, tmp_path, monkeypatch, gpus, asked, expected):
    """Before, the default 8 GPUs per node started 8 CPU processes on a machine without a GPU."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    err = _error(capsys, [*TOY, "--out", str(tmp_path / "run"), "--executor", "local", *asked])
    assert expected in err
    assert list(tmp_path.iterdir()) == []


def test_no_resume_with_a_checkpoint_exits_2_before_submitting(capsys, tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / checkpoint_name(4)).write_bytes(b"")
    err = _error(
        capsys, [*TOY, "--out", str(tmp_path / "run"), "--no-resume", "--gpus-per-node", "0", "--executor", "local"]
    )
    assert "already holds checkpoint step_00000004.pt" in err
    assert not (tmp_path / "run" / "submitit").exists()


def test_a_run_directory_of_another_run_or_in_use_is_refused_before_its_config_is_replaced(submitit, capsys, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / checkpoint_name(4)).write_bytes(b"")
    assert (
        main(
            [
                *TOY[:3],
                "config",
                "show",
                *TOY[4:],
                "--out",
                str(run),
                *SMALL,
                "--set",
                "train.seed=1",
                "--format",
                "json",
            ]
        )
        == 0
    )
    stored = capsys.readouterr().out
    (run / "config.json").write_text(stored)  # as an older run wrote it
    local = [*TOY, "--out", str(run), *SMALL, "--gpus-per-node", "0", "--executor", "local"]
    assert "holds a run with another config (train.seed: 1 -> 0)" in _error(capsys, local)
    lock = RunLock(run)
    lock.acquire()
    try:
        assert "is in use by another jepa run" in _error(capsys, [*local, "--set", "train.seed=1"])
    finally:
        lock.release()
    assert (run / "config.json").read_text() == stored and not (run / "submitit").exists()


# ---------------------------------------------------------------- submitit is optional
def test_missing_submitit_is_one_sentence_and_exit_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` now fails as if not installed
    err = _error(capsys, [*TOY, "--out", str(tmp_path / "run"), "--gpus-per-node", "0", "--executor", "local", *SMALL])
    assert err == f"error: {MISSING_SUBMITIT}"
    assert list(tmp_path.iterdir()) == []


def test_cli_imports_and_runs_without_submitit(tmp_path):
    code = (
        "import sys; sys.modules['submitit'] = None\n"
        "from jepa_core.cli import main\n"
        "assert main(['--no-autoload', '-p', 'tests.toy_seq_plugin', 'config', 'show', '--plugin', 'toyseq',"
        " '--preset', 'tiny']) == 0\n"
        f"sys.exit(main({[*TOY, '--out', str(tmp_path / 'run'), '--gpus-per-node', '0']!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {MISSING_SUBMITIT}" and "plugin: toyseq" in proc.stdout  # config show: YAML


# ------------------------------------------------------------------------ submissions
def test_checkpoint_requeues_the_same_arguments(submitit):
    job = TrainJob(main, ["--no-autoload", "train", "--config", "/runs/x/config.json"])
    delayed = job.checkpoint()
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    assert delayed.function.argv == job.argv and delayed.function.program is main
    assert (delayed.args, delayed.kwargs) == ((), {})


def test_slurm_submission_with_a_fake_sbatch(submitit, tmp_path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\ncp "$1" {tmp_path}/job.sh\necho "Submitted batch job 4242"\n')
    for exe in bin_dir.iterdir():
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run = tmp_path / "run"
    job = _submit(
        monkeypatch,
        [
            *TOY,
            "--out",
            str(run),
            "--set",
            "train.batch_size=64",
            "--nodes",
            "2",
            "--partition",
            "learn",
            "--slurm-arg",
            "exclude=node7",
            "--timeout-min",
            "60",
        ],
    )
    out = capsys.readouterr().out
    assert job.job_id == "4242" and "submitted job 4242 to SLURM: 2 node(s) x 8 task(s) (one per GPU)" in out
    assert f"logs: {run / 'submitit'}" in out
    script = (tmp_path / "job.sh").read_text()
    for line in (
        "--nodes=2",
        "--ntasks-per-node=8",
        "--gpus-per-node=8",
        "--cpus-per-task=10",
        "--time=60",
        "--signal=USR2@120",
        "--partition=learn",
        "--exclude=node7",
        "--job-name=jepa-toyseq-tiny",
    ):
        assert f"#SBATCH {line}\n" in script, script
    assert "srun --unbuffered" in script
    delayed = submitit.helpers.DelayedSubmission.load(run / "submitit" / "4242_submitted.pkl")
    assert delayed.function.argv == [
        "--load-plugin",
        "tests.toy_seq_plugin",
        "--no-autoload",
        "train",
        "--config",
        str(run / "config.yaml"),
    ]
    assert sorted(p.name for p in run.iterdir()) == [
        "config.yaml",
        "submitit",
    ]  # the run's config and submitit's folder
    assert (
        main(
            [
                *TOY[:3],
                "config",
                "show",
                *TOY[4:],
                "--out",
                str(run),
                "--set",
                "train.batch_size=64",
                "--format",
                "json",
            ]
        )
        == 0
    )
    assert load_yaml((run / "config.yaml").read_text()) == json.loads(capsys.readouterr().out)  # the resolved config

    (bin_dir / "sbatch").write_text(
        '#!/bin/sh\necho "sbatch: error: invalid partition specified: nope" >&2\n'
        'echo "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2\nexit 1\n'
    )
    err = _error(capsys, [*TOY, "--out", str(run), "--partition", "nope", "--set", "train.batch_size=64"])
    assert err == (
        "error: sbatch refused the job: invalid partition specified: nope; "
        "Batch job submission failed: Invalid partition name specified"
    )


def test_local_executor_runs_the_toy_run(submitit, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    job = _submit(
        monkeypatch,
        [*TOY, "--out", str(run), *SMALL, "--gpus-per-node", "0", "--executor", "local", "--timeout-min", "10"],
    )
    assert f"submitted job {job.job_id} to this machine" in capsys.readouterr().out
    assert _wait(job) == [0], job.stderr()
    assert latest_checkpoint(run / "checkpoints").name == checkpoint_name(2)
    assert (run / "config.yaml").is_file()
    assert "step      2/2" in job.stdout()


def test_time_out_signal_checkpoints_then_requeues_and_resumes(submitit, tmp_path, monkeypatch, capsys):
    # submitit's time-out signal (USR2) arrives during step 3 of the first attempt: the run finishes the step,
    # writes a checkpoint and returns; then submitit calls TrainJob.checkpoint() and requeues (the local
    # executor restarts the task), and the second attempt resumes at step 3 and finishes.
    run = tmp_path / "run"
    usr_sig = getattr(signal, f"SIG{submitit.JobEnvironment.USR_SIG}")  # USR2 unless SUBMITIT_PREEMPT_SIGNAL says
    monkeypatch.setenv(SIGNAL_ENV, f"2:{usr_sig.name}:{tmp_path / 'sent'}")
    argv = [
        "--no-autoload",
        "-p",
        "tests.toy_seq_plugin",
        "-p",
        __name__,
        *TOY[3:],
        "--out",
        str(run),
        "--set",
        "loss.name=signal_once_smooth_l1",
        "--set",
        "train.max_steps=5",
        "--set",
        "train.device=cpu",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.log_every=1",
        "--gpus-per-node",
        "0",
        "--executor",
        "local",
        "--timeout-min",
        "10",
    ]
    job = _submit(monkeypatch, argv)
    assert _wait(job) == [0], job.stderr()
    log = job.stdout()
    assert f"stopped by signal {int(usr_sig)} at step 3; checkpoint written" in log, log
    assert f"resuming from {run / 'checkpoints' / checkpoint_name(3)} (step 3" in log, log
    assert "Calling checkpoint method" in log and f"Requeued job {job.job_id}" in log, log  # submitit's log lines
    requeued = submitit.helpers.DelayedSubmission.load(job.paths.submitted_pickle)  # what checkpoint() returned
    assert isinstance(requeued.function, TrainJob)
    assert requeued.function.argv[-3:] == ["train", "--config", str(run / "config.yaml")]
    assert latest_checkpoint(run / "checkpoints").name == checkpoint_name(5)


def test_two_local_tasks_form_one_process_group(submitit, tmp_path):
    # The CLI asks for one task per GPU; here the executor is driven directly to get two CPU tasks, the
    # layout of one node with two GPUs: TrainJob maps submitit's local variables to RANK/WORLD_SIZE.
    run = tmp_path / "run"
    executor = submitit.AutoExecutor(folder=tmp_path / "logs", cluster="local")
    executor.update_parameters(tasks_per_node=2, timeout_min=10)
    argv = [
        "--no-autoload",
        "-p",
        "tests.toy_seq_plugin",
        "train",
        "--plugin",
        "toyseq",
        "--preset",
        "tiny",
        "--out",
        str(run),
        *SMALL,
        "--set",
        "train.log_every=1",
    ]
    job = executor.submit(TrainJob(main, argv))
    assert _wait(job) == [0, 0], job.stderr()
    log0, log1 = job.task(0).stdout(), job.task(1).stdout()
    assert "batch 8 = 4 x 2 processes x 1 accumulation" in log0 and "world size 2, strategy ddp" in log0, log0
    assert "step      2/2" in log0 and "step " not in log1  # only rank 0 logs
    assert latest_checkpoint(run / "checkpoints").name == checkpoint_name(2)


# --------------------------------------------------------------------- signal forwarding
class _FakeTrainer:
    stop_requested = False


def test_time_out_signal_goes_to_the_run_while_it_trains_else_to_submitit():
    seen = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        with _ForwardTimeoutSignal(signal.SIGUSR2) as forward:
            os.kill(os.getpid(), signal.SIGUSR2)  # not training: submitit's handler at once
            assert seen == [signal.SIGUSR2] and forward.received is None
            trainer = _FakeTrainer()
            with PreemptionHandler(trainer) as run_handler:
                os.kill(os.getpid(), signal.SIGUSR2)  # training: the run stops at a checkpoint first
            assert trainer.stop_requested and run_handler.received == signal.SIGUSR2
            assert seen == [signal.SIGUSR2] and forward.received == signal.SIGUSR2
        forward.hand_over()  # after the run returned: submitit's handler (checkpoint + requeue)
        assert seen == [signal.SIGUSR2, signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_train_job_outside_submitit_runs_train_and_reports_failures(tmp_path, monkeypatch):
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    base = ["--no-autoload", "-p", "tests.toy_seq_plugin", "train", "--plugin", "toyseq", "--preset", "tiny"]
    with pytest.raises(RuntimeError, match="`jepa train` exited with code 2"):
        TrainJob(main, [*base, "--out", str(tmp_path / "run"), "--set", "optim.lr=-1"])()
    assert not (tmp_path / "run").exists()
