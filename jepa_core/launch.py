"""Running ``jepa train`` as a SLURM job through the optional package submitit.

    jepa submit --plugin image --preset vith14 --data /datasets/imagenet/train --out /checkpoint/me/vith14 \\
        --nodes 2 --gpus-per-node 8 --partition learn --timeout-min 4320

The run config is resolved and checked on the submitting machine by the same code as
``jepa train`` (a bad preset, key or value exits with code 2 before anything is written), the
run directory is claimed as a run claims it (:func:`jepa_core.rundir.claim`: writable, not in
use, a resumed run keeps its config) and the resolved config is written there as
``config.yaml``; then one job of ``nodes`` x ``gpus_per_node`` tasks (one process per GPU; one
CPU task per node with ``--gpus-per-node 0``) is submitted. Its callable, :class:`TrainJob`,
runs ``jepa train --config <out_dir>/config.yaml`` in each task (with the submission's plugin
options); ``srun``'s SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID are mapped to the rank layout by
:mod:`jepa_core.dist`, and MASTER_ADDR comes from SLURM_LAUNCH_NODE_IPADDR (the node that runs
the batch script and srun: the allocation's first node, where SLURM places task 0).
:class:`TrainJob` only adds a per-job MASTER_PORT, so two jobs that share a node do not both
bind port 29500. With ``--executor local`` (one node, for testing) the tasks get
RANK/WORLD_SIZE/LOCAL_RANK from submitit's own variables, on 127.0.0.1. Relative paths in the
config (``train.out_dir``, ``data.root``) resolve in the submission directory, where sbatch
starts the job. ``--no-resume`` is checked once, at submission, and not passed on: a requeued
job must resume.

Signals. The run handles SIGTERM and SIGUSR1 itself (:class:`jepa_core.callbacks.PreemptionHandler`:
finish the step, write a checkpoint, return exit code 75); submitit's handlers stay in place
for the rest: SLURM sends USR2 ``--signal-delay-s`` seconds before the time limit (and at a
preemption, where the cluster sets ``preempt_send_user_signal``). Left to itself, submitit
would call :meth:`TrainJob.checkpoint`, requeue and exit at once, in the middle of a step,
losing everything since the last checkpoint. So while the run trains, :class:`TrainJob`
forwards USR2 to the run's own handler (stop after this step, checkpoint) and hands the signal
to submitit only once the run has returned: then rank 0 calls :meth:`TrainJob.checkpoint`
(the same command again), submitit requeues the job (``scontrol requeue``; at most
``slurm_max_num_timeout`` = 3 times after a time-out) and the requeued job resumes from the
newest checkpoint in the run directory. A plain SIGTERM (``scancel``, or a preemption without
the user signal) makes the run checkpoint and return 75 without a requeue by submitit; a SLURM
preemption in requeue mode restarts the job itself, and it resumes the same way.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import attrs
import torch

from jepa_core import rundir
from jepa_core.callbacks import PreemptionHandler
from jepa_core.config import RunConfig
from jepa_core.dist import DistInfo
from jepa_core.errors import ConfigError
from jepa_core.registry import Registry
from jepa_core.run import EXIT_PREEMPTED

MISSING_SUBMITIT = "`jepa submit` needs the optional package submitit: pip install 'jepaforge[slurm]'"
EXECUTORS = ("slurm", "local")
# sbatch options that the launcher sets itself: overriding them would break the one-process-per-GPU
# layout that jepa_core.dist expects, or submitit's time-out signal.
_OWNED_SBATCH_OPTIONS = ("nodes", "ntasks", "ntasks-per-node", "gpus-per-node", "signal")

Program = Callable[[Sequence[str]], int]
"""A command-line program: arguments in, exit code out (``jepa_core.cli.main``)."""


@attrs.frozen(kw_only=True)
class ClusterOptions:
    """What ``jepa submit`` asks the scheduler for; an impossible value is a :class:`ConfigError`.

    >>> ClusterOptions(nodes=2, gpus_per_node=8).world_size
    16
    """

    nodes: int = 1
    gpus_per_node: int = 8
    timeout_min: int = 4320
    cpus_per_task: int = 10
    mem_gb: float | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    additional: Mapping[str, Any] = attrs.field(factory=dict)
    signal_delay_s: int = 120

    def __attrs_post_init__(self) -> None:
        for flag, value, least in (
            ("--nodes", self.nodes, 1),
            ("--gpus-per-node", self.gpus_per_node, 0),
            ("--timeout-min", self.timeout_min, 1),
            ("--cpus-per-task", self.cpus_per_task, 1),
            ("--signal-delay-s", self.signal_delay_s, 0),
        ):
            if value < least:
                raise ConfigError(f"{flag} must be at least {least}, got {value}.")
        if self.mem_gb is not None and self.mem_gb <= 0:
            raise ConfigError(f"--mem-gb must be positive, got {self.mem_gb}.")
        if self.signal_delay_s >= 60 * self.timeout_min:
            raise ConfigError(
                f"--signal-delay-s={self.signal_delay_s} must be shorter than --timeout-min={self.timeout_min} minutes."
            )

    @property
    def tasks_per_node(self) -> int:
        """One process per GPU, as :func:`jepa_core.dist.detect`'s SLURM mapping expects; 1 on CPU."""
        return self.gpus_per_node or 1

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks_per_node


def parse_slurm_args(items: Sequence[str]) -> dict[str, Any]:
    """``--slurm-arg`` values -> submitit's ``slurm_additional_parameters`` (a bare KEY is a flag).

    >>> parse_slurm_args(["exclude=node[1-2]", "exclusive", "mail_type=END"])
    {'exclude': 'node[1-2]', 'exclusive': True, 'mail_type': 'END'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not key or (sep and not value.strip()):
            raise ConfigError(f"--slurm-arg expects KEY=VALUE (or a bare KEY for a flag), got '{item}'.")
        if key.replace("_", "-") in _OWNED_SBATCH_OPTIONS:
            raise ConfigError(
                f"--slurm-arg {key} is set by jepa submit itself; use --nodes and --gpus-per-node "
                "(tasks per node = GPUs per node) and --signal-delay-s instead."
            )
        out[key] = value.strip() if sep else True
    return out


def executor_parameters(opts: ClusterOptions, *, name: str = "jepa") -> dict[str, Any]:
    """submitit ``AutoExecutor.update_parameters`` keywords for ``opts`` (``slurm_*`` ones are SLURM-only).

    >>> executor_parameters(ClusterOptions(nodes=2, gpus_per_node=8))["tasks_per_node"]
    8
    """
    params: dict[str, Any] = {
        "name": name,
        "nodes": opts.nodes,
        "tasks_per_node": opts.tasks_per_node,
        "cpus_per_task": opts.cpus_per_task,
        "timeout_min": opts.timeout_min,
        "slurm_signal_delay_s": opts.signal_delay_s,
    }
    if opts.gpus_per_node:  # no --gpus-per-node=0 line: some clusters reject a GPU request on CPU partitions
        params["gpus_per_node"] = opts.gpus_per_node
    if opts.mem_gb is not None:
        params["mem_gb"] = opts.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(opts, key) is not None:
            params[f"slurm_{key}"] = getattr(opts, key)
    if opts.additional:
        params["slurm_additional_parameters"] = dict(opts.additional)
    return params


def check_device(device: str, opts: ClusterOptions) -> None:
    """``train.device`` must agree with the GPUs asked for (the submitting machine may have none)."""
    if opts.gpus_per_node == 0 and device.startswith("cuda"):
        raise ConfigError(
            f"train.device='{device}' but --gpus-per-node 0 asks for no GPUs; "
            "set train.device=cpu (or auto) or ask for GPUs."
        )
    if opts.gpus_per_node > 0 and device == "cpu":
        raise ConfigError(
            f"train.device='cpu' but --gpus-per-node {opts.gpus_per_node} asks for GPUs; "
            "set train.device=auto or use --gpus-per-node 0."
        )
    if opts.gpus_per_node > 1 and re.fullmatch(r"cuda:\d+", device):
        raise ConfigError(
            f"train.device='{device}' would put all {opts.gpus_per_node} processes of a node on "
            "one GPU; use train.device=auto or cuda (each process takes its local rank's GPU)."
        )


def check_job_layout(cfg: RunConfig, opts: ClusterOptions, *, cluster: str) -> None:
    """The run must fit the job: the global batch splits over its processes, ``train.device``
    agrees with the GPUs asked for, and the local executor runs one node and asks for at most
    this machine's GPUs.

    >>> check_job_layout(cfg, ClusterOptions(gpus_per_node=0), cluster="local")   # doctest: +SKIP
    """
    if cluster == "local":
        if opts.nodes > 1:
            raise ConfigError(f"--executor local runs on this machine only; use --nodes 1 (got {opts.nodes}).")
        local_gpus = torch.cuda.device_count()
        if opts.gpus_per_node > local_gpus:
            fix = f"at most {local_gpus}" if local_gpus else "0 (one process on the CPU)"
            raise ConfigError(
                f"--executor local runs on this machine, which has {local_gpus} GPU{'s' if local_gpus != 1 else ''}, "
                f"but --gpus-per-node is {opts.gpus_per_node} (one process per GPU); use --gpus-per-node {fix}."
            )
    cfg.train.batch_layout(opts.world_size)
    check_device(cfg.train.device, opts)


def import_submitit(cluster: str) -> ModuleType:
    """The optional package submitit, able to submit to ``cluster`` (a :class:`ConfigError` if not)."""
    try:
        import submitit
    except ImportError as err:
        raise ConfigError(MISSING_SUBMITIT) from err
    if cluster == "slurm" and submitit.SlurmExecutor.affinity() <= 0:
        raise ConfigError(
            "--executor slurm needs SLURM's srun and sbatch on this machine; run `jepa submit` "
            "on a cluster login node, or use --executor local to test here."
        )
    return submitit


def write_job_config(cfg: RunConfig, registry: Registry, *, allow_config_change: bool = False) -> Path:
    """Claim ``cfg``'s run directory as the run will (writable, not in use, a resumed run keeps its
    config unless ``allow_config_change``), write ``config.yaml`` there; its absolute path.

    >>> write_job_config(cfg, registry)        # doctest: +SKIP
    PosixPath('/checkpoint/me/vith14/config.yaml')
    """
    with rundir.claim(cfg, registry, DistInfo(), allow_config_change=allow_config_change):
        return rundir.save_run_config(cfg).absolute()


def submit_job(
    submitit: ModuleType, job: TrainJob, opts: ClusterOptions, *, cluster: str, folder: Path, name: str
) -> Any:
    """Submit ``job`` with ``opts``; returns submitit's Job. sbatch's refusal is one sentence.

    >>> executor = import_submitit("local")  # doctest: +SKIP
    >>> submit_job(executor, job, opts, cluster="local", folder=Path("logs"), name="jepa")  # doctest: +SKIP
    """
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    executor.update_parameters(**executor_parameters(opts, name=name))
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # submitit echoes a failed sbatch's stderr: one line below
            return executor.submit(job)
    except submitit.core.utils.FailedJobError as err:  # sbatch refused (unknown partition, account...)
        lines = [re.sub(r"^sbatch: (error: )?", "", line.strip()) for line in str(err).splitlines() if line.strip()]
        raise ConfigError(f"sbatch refused the job: {'; '.join(lines) or 'no reason given'}") from err


# ------------------------------------------------------------------ inside the job


def master_port(job_id: str) -> int:
    """A port in 10000-29999 derived from the job id, so jobs sharing a node do not collide.

    >>> master_port("123456"), master_port("123456_7")
    (13456, 24567)
    """
    digits = re.sub(r"\D", "", job_id)
    return 10000 + int(digits or 0) % 20000


def rank_variables(
    cluster: str,
    job_id: str,
    num_tasks: int,
    global_rank: int,
    local_rank: int,
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """Variables a task exports before ``jepa train`` so :mod:`jepa_core.dist` finds its rank.

    SLURM: dist.py reads SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID and SLURM_LAUNCH_NODE_IPADDR
    itself; only MASTER_PORT is added. submitit's local executor sets its own variables, which
    become RANK/WORLD_SIZE/LOCAL_RANK on 127.0.0.1. Values already set (torchrun, the user) win.

    >>> rank_variables("slurm", "42", 16, 3, 3, environ={})
    {'MASTER_PORT': '10042'}
    """
    if num_tasks <= 1:
        return {}
    out = {"MASTER_PORT": str(master_port(job_id))}
    if cluster != "slurm":
        out.update(
            RANK=str(global_rank), WORLD_SIZE=str(num_tasks), LOCAL_RANK=str(local_rank), MASTER_ADDR="127.0.0.1"
        )
    return {k: v for k, v in out.items() if k not in environ}


class _ForwardTimeoutSignal:
    """While the run trains, submitit's time-out/preemption signal asks the run to stop at a checkpoint.

    The signal goes to the run's own :class:`~jepa_core.callbacks.PreemptionHandler` (finish the step,
    checkpoint, return 75) and is remembered; :meth:`hand_over` then passes it to submitit's
    handler (rank 0: :meth:`TrainJob.checkpoint`, requeue, exit). Outside training (start-up,
    final probe) there is nothing unsaved, and submitit's handler runs at once.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.previous: Callable[[int, FrameType | None], Any] | int | None = None
        self.received: int | None = None

    def __enter__(self) -> _ForwardTimeoutSignal:
        self.previous = signal.getsignal(self.signum)
        signal.signal(self.signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(self.signum, self.previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        run_handler = signal.getsignal(PreemptionHandler.SIGNALS[0])
        if callable(run_handler) and isinstance(getattr(run_handler, "__self__", None), PreemptionHandler):
            print(
                f"signal {signum}: stopping after this step to write a checkpoint, then requeueing",
                file=sys.stderr,
                flush=True,
            )
            self.received = signum
            run_handler(signum, frame)
        elif callable(self.previous):
            self.previous(signum, frame)

    def hand_over(self) -> None:
        if self.received is not None and callable(self.previous):
            self.previous(self.received, None)


class TrainJob:
    """The submitted callable: ``program(argv)`` (``jepa [plugin options] train --config FILE``) in each task.

    ``program`` is the ``jepa`` command itself (:func:`jepa_core.cli.main`), pickled by reference.

    >>> from jepa_core.cli import main
    >>> TrainJob(main, ["-p", "mymodule", "train", "--config", "/runs/x/config.yaml"])()  # doctest: +SKIP
    0
    """

    def __init__(self, program: Program, argv: Sequence[str]) -> None:
        self.program = program
        self.argv = list(argv)

    def __repr__(self) -> str:
        return f"TrainJob({self.argv!r})"

    def __call__(self) -> int:
        env = _job_environment()
        if env is None:  # not under submitit (called directly): just the run
            return self._check(self.program(self.argv), None)
        os.environ.update(rank_variables(env.cluster, env.job_id, env.num_tasks, env.global_rank, env.local_rank))
        usr_sig = getattr(signal, "SIG" + type(env).USR_SIG)
        with _ForwardTimeoutSignal(usr_sig) as forward:
            code = self.program(self.argv)
        forward.hand_over()  # after a forwarded signal; rank 0 requeues through checkpoint() and exits here
        return self._check(code, env)

    @staticmethod
    def _check(code: int, env: Any) -> int:
        if code in (0, EXIT_PREEMPTED):
            return code  # 75: stopped on a signal after writing a checkpoint; re-running resumes
        where = f" (see {env.paths.stderr})" if env is not None else ""
        raise RuntimeError(f"`jepa train` exited with code {code}{where}.")

    def checkpoint(self) -> Any:
        """submitit's requeue hook: the same command again; the run resumes from its newest checkpoint."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def _job_environment() -> Any:
    """submitit's JobEnvironment in a submitit task, else None."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    import submitit

    return submitit.JobEnvironment()
