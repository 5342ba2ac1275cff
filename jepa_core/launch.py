"""``jepa submit``: run ``jepa train`` as a SLURM job through the optional package submitit.

    jepa submit --plugin image --preset vith14 --data /datasets/imagenet/train --out /checkpoint/me/vith14 \\
        --nodes 2 --gpus-per-node 8 --partition learn --timeout-min 4320

The run config is resolved and checked here, on the submitting machine, by the same code as
``jepa train`` (a bad preset, key or value exits with code 2 before anything is written); then
one job of ``nodes`` x ``gpus_per_node`` tasks (one process per GPU; one CPU task per node with
``--gpus-per-node 0``) is submitted. Its callable, :class:`TrainJob`, runs ``jepa train`` with
the same arguments in each task; ``srun``'s SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID are mapped to
the rank layout by :mod:`jepa_core.dist`, and MASTER_ADDR comes from SLURM_LAUNCH_NODE_IPADDR
(the node that runs the batch script and srun: the allocation's first node, where SLURM places
task 0). :class:`TrainJob` only adds a per-job MASTER_PORT, so two jobs that share a node do not
both bind port 29500. With ``--executor local`` (one node, for testing) the tasks get
RANK/WORLD_SIZE/LOCAL_RANK from submitit's own variables, on 127.0.0.1. Relative paths (``--out``,
``--data``) resolve in the submission directory, where sbatch starts the job. ``--no-resume`` is
checked once, here, and not passed on: a requeued job must resume.

Signals. The run handles SIGTERM and SIGUSR1 itself (:class:`jepa_core.run.PreemptionHandler`:
finish the step, write a checkpoint, return exit code 75); submitit's handlers stay in place
for the rest: SLURM sends USR2 ``--signal-delay-s`` seconds before the time limit (and at a
preemption, where the cluster sets ``preempt_send_user_signal``). Left to itself, submitit
would call :meth:`TrainJob.checkpoint`, requeue and exit at once, in the middle of a step,
losing everything since the last checkpoint. So while the run trains, :class:`TrainJob`
forwards USR2 to the run's own handler (stop after this step, checkpoint) and hands the signal
to submitit only once the run has returned: then rank 0 calls :meth:`TrainJob.checkpoint`
(the same arguments again), submitit requeues the job (``scontrol requeue``; at most
``slurm_max_num_timeout`` = 3 times after a time-out) and the requeued job resumes from the
newest checkpoint in the run directory. A plain SIGTERM (``scancel``, or a preemption without
the user signal) makes the run checkpoint and return 75 without a requeue by submitit; a SLURM
preemption in requeue mode restarts the job itself, and it resumes the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from jepa_core.errors import ConfigError

MISSING_SUBMITIT = "`jepa submit` needs the optional package submitit: pip install 'jepaforge[slurm]'"
EXECUTORS = ("slurm", "local")
# sbatch options that the launcher sets itself: overriding them would break the one-process-per-GPU
# layout that jepa_core.dist expects, or submitit's time-out signal.
_OWNED_SBATCH_OPTIONS = ("nodes", "ntasks", "ntasks-per-node", "gpus-per-node", "signal")


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """The cluster options of ``jepa submit`` (the run options are ``jepa train``'s)."""
    g = p.add_argument_group("cluster (jepa submit)")
    g.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    g.add_argument("--gpus-per-node", type=int, default=8,
                   help="GPUs per node = tasks per node, one process per GPU (default 8; 0: one CPU task per node)")
    g.add_argument("--partition", help="SLURM partition")
    g.add_argument("--timeout-min", type=int, default=4320, help="time limit in minutes (default 4320 = 3 days)")
    g.add_argument("--cpus-per-task", type=int, default=10, help="CPUs per task (default 10)")
    g.add_argument("--mem-gb", type=float, help="memory per node in GB (default: the cluster's)")
    g.add_argument("--account", help="SLURM account")
    g.add_argument("--qos", help="SLURM quality of service")
    g.add_argument("--constraint", help="SLURM node constraint, e.g. volta32gb")
    g.add_argument("--slurm-arg", dest="slurm_args", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. exclude=node12 or exclusive (repeatable)")
    g.add_argument("--signal-delay-s", type=int, default=120,
                   help="seconds between the time-out signal and the time limit: the run checkpoints in between (default 120)")
    g.add_argument("--logs", metavar="DIR", help="submitit's folder: scripts, pickles, logs (default: <out_dir>/submitit)")
    g.add_argument("--executor", choices=EXECUTORS, default="slurm",
                   help="slurm (sbatch) or local (this machine, for testing; one node)")


@attrs.frozen(kw_only=True)
class ClusterOptions:
    """What ``jepa submit`` asks the scheduler for."""

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

    @property
    def tasks_per_node(self) -> int:
        """One process per GPU, as :func:`jepa_core.dist.detect`'s SLURM mapping expects; 1 on CPU."""
        return self.gpus_per_node or 1

    @property
    def world_size(self) -> int:
        return self.nodes * self.tasks_per_node

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "ClusterOptions":
        """Checked options; a :class:`ConfigError` (one sentence) for an impossible value."""
        for flag, value, least in (("--nodes", args.nodes, 1), ("--gpus-per-node", args.gpus_per_node, 0),
                                   ("--timeout-min", args.timeout_min, 1), ("--cpus-per-task", args.cpus_per_task, 1),
                                   ("--signal-delay-s", args.signal_delay_s, 0)):
            if value < least:
                raise ConfigError(f"{flag} must be at least {least}, got {value}.")
        if args.mem_gb is not None and args.mem_gb <= 0:
            raise ConfigError(f"--mem-gb must be positive, got {args.mem_gb}.")
        if args.signal_delay_s >= 60 * args.timeout_min:
            raise ConfigError(
                f"--signal-delay-s={args.signal_delay_s} must be shorter than --timeout-min={args.timeout_min} minutes."
            )
        return cls(
            nodes=args.nodes, gpus_per_node=args.gpus_per_node, timeout_min=args.timeout_min,
            cpus_per_task=args.cpus_per_task, mem_gb=args.mem_gb, partition=args.partition, account=args.account,
            qos=args.qos, constraint=args.constraint, additional=parse_slurm_args(args.slurm_args),
            signal_delay_s=args.signal_delay_s,
        )


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
        raise ConfigError(f"train.device='{device}' but --gpus-per-node 0 asks for no GPUs; "
                          "set train.device=cpu (or auto) or ask for GPUs.")
    if opts.gpus_per_node > 0 and device == "cpu":
        raise ConfigError(f"train.device='cpu' but --gpus-per-node {opts.gpus_per_node} asks for GPUs; "
                          "set train.device=auto or use --gpus-per-node 0.")
    if opts.gpus_per_node > 1 and re.fullmatch(r"cuda:\d+", device):
        raise ConfigError(f"train.device='{device}' would put all {opts.gpus_per_node} processes of a node on "
                          "one GPU; use train.device=auto or cuda (each process takes its local rank's GPU).")


def train_argv(args: argparse.Namespace) -> list[str]:
    """``jepa [global options] train [train options]`` for each task, from ``jepa submit``'s arguments.

    Built from the parsers' own argument lists, so a new ``jepa train`` option travels too.
    ``--no-resume`` is checked once at submission and not passed on: a requeued job must resume.
    """
    from jepa_core.cli import add_global_args, add_train_args

    argv: list[str] = []
    for add, extra in ((add_global_args, ["train"]), (add_train_args, [])):
        probe = argparse.ArgumentParser(add_help=False)
        add(probe)
        for action in probe._actions:
            value = getattr(args, action.dest, None)
            if action.dest == "no_resume" or value is None or value == action.default:
                continue
            flag = action.option_strings[0]
            if action.nargs == 0:  # store_true
                argv.append(flag)
            elif isinstance(value, list):  # append (-p, --set)
                for item in value:
                    argv += [flag, str(item)]
            else:
                argv += [flag, str(value)]
        argv += extra
    return argv


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError as err:
        raise ConfigError(MISSING_SUBMITIT) from err
    return submitit


def submit(args: argparse.Namespace, registry: Any, *, stream: TextIO | None = None) -> Any:
    """Check everything locally, submit one job, print its id and log folder; returns submitit's Job."""
    from jepa_core.cli import check_no_resume, resolve_config

    cfg = resolve_config(args, registry)  # the same checks as `jepa train`: exit 2 before anything is written
    check_no_resume(args, cfg)
    opts = ClusterOptions.from_args(args)
    cfg.train.batch_layout(opts.world_size)  # the global batch must split over nodes x tasks
    check_device(cfg.train.device, opts)
    if args.executor == "local" and opts.nodes > 1:
        raise ConfigError(f"--executor local runs on this machine only; use --nodes 1 (got {opts.nodes}).")
    submitit = _import_submitit()
    if args.executor == "slurm" and submitit.SlurmExecutor.affinity() <= 0:
        raise ConfigError("--executor slurm needs SLURM's srun and sbatch on this machine; run `jepa submit` "
                          "on a cluster login node, or use --executor local to test here.")

    out_dir = Path(cfg.train.out_dir).absolute()
    folder = Path(args.logs).absolute() if args.logs else out_dir / "submitit"
    executor = submitit.AutoExecutor(folder=folder, cluster=args.executor)
    executor.update_parameters(**executor_parameters(opts, name=f"jepa-{cfg.plugin}-{cfg.preset}"))
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # submitit echoes a failed sbatch's stderr: one line below
            job = executor.submit(TrainJob(train_argv(args)))
    except submitit.core.utils.FailedJobError as err:  # sbatch refused (unknown partition, account...)
        lines = [re.sub(r"^sbatch: (error: )?", "", line.strip()) for line in str(err).splitlines() if line.strip()]
        raise ConfigError(f"sbatch refused the job: {'; '.join(lines) or 'no reason given'}") from err
    if stream is not None:
        where = "this machine" if args.executor == "local" else "SLURM"
        print(f"submitted job {job.job_id} to {where}: {opts.nodes} node(s) x {opts.tasks_per_node} task(s) "
              f"({'one per GPU' if opts.gpus_per_node else 'CPU'}) -> run directory {out_dir}", file=stream)
        print(f"logs: {folder} ({job.job_id}_<task>_log.out / .err)", file=stream, flush=True)
    return job


# ------------------------------------------------------------------ inside the job


def master_port(job_id: str) -> int:
    """A port in 10000-29999 derived from the job id, so jobs sharing a node do not collide.

    >>> master_port("123456"), master_port("123456_7")
    (13456, 24567)
    """
    digits = re.sub(r"\D", "", job_id)
    return 10000 + int(digits or 0) % 20000


def rank_variables(cluster: str, job_id: str, num_tasks: int, global_rank: int, local_rank: int,
                   environ: Mapping[str, str] = os.environ) -> dict[str, str]:
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
        out.update(RANK=str(global_rank), WORLD_SIZE=str(num_tasks), LOCAL_RANK=str(local_rank),
                   MASTER_ADDR="127.0.0.1")
    return {k: v for k, v in out.items() if k not in environ}


class _ForwardTimeoutSignal:
    """While the run trains, submitit's time-out/preemption signal asks the run to stop at a checkpoint.

    The signal goes to the run's own :class:`~jepa_core.run.PreemptionHandler` (finish the step,
    checkpoint, return 75) and is remembered; :meth:`hand_over` then passes it to submitit's
    handler (rank 0: :meth:`TrainJob.checkpoint`, requeue, exit). Outside training (start-up,
    final probe) there is nothing unsaved, and submitit's handler runs at once.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.previous: Any = None
        self.received: int | None = None

    def __enter__(self) -> "_ForwardTimeoutSignal":
        self.previous = signal.getsignal(self.signum)
        signal.signal(self.signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(self.signum, self.previous)

    def _handle(self, signum: int, frame: Any) -> None:
        from jepa_core.run import PreemptionHandler

        run_handler = signal.getsignal(PreemptionHandler.SIGNALS[0])
        if isinstance(getattr(run_handler, "__self__", None), PreemptionHandler):
            print(f"signal {signum}: stopping after this step to write a checkpoint, then requeueing",
                  file=sys.stderr, flush=True)
            self.received = signum
            run_handler(signum, frame)
        elif callable(self.previous):
            self.previous(signum, frame)

    def hand_over(self) -> None:
        if self.received is not None and callable(self.previous):
            self.previous(self.received, None)


class TrainJob:
    """The submitted callable: ``jepa <argv>`` (global options, ``train``, train options) in each task.

    >>> TrainJob(["-p", "mymodule", "train", "--plugin", "image", "--preset", "vith14"])()  # doctest: +SKIP
    0
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)

    def __repr__(self) -> str:
        return f"TrainJob({self.argv!r})"

    def __call__(self) -> int:
        from jepa_core.cli import main
        from jepa_core.run import EXIT_PREEMPTED

        env = _job_environment()
        if env is None:  # not under submitit (called directly): just the run
            return self._check(main(self.argv), EXIT_PREEMPTED, None)
        os.environ.update(rank_variables(env.cluster, env.job_id, env.num_tasks, env.global_rank, env.local_rank))
        usr_sig = getattr(signal, "SIG" + type(env).USR_SIG)
        with _ForwardTimeoutSignal(usr_sig) as forward:
            code = main(self.argv)
        forward.hand_over()  # after a forwarded signal; rank 0 requeues through checkpoint() and exits here
        return self._check(code, EXIT_PREEMPTED, env)

    @staticmethod
    def _check(code: int, preempted: int, env: Any) -> int:
        if code in (0, preempted):
            return code  # 75: stopped on a signal after writing a checkpoint; re-running resumes
        where = f" (see {env.paths.stderr})" if env is not None else ""
        raise RuntimeError(f"`jepa train` exited with code {code}{where}.")

    def checkpoint(self) -> Any:
        """submitit's requeue hook: the same arguments again; the run resumes from its newest checkpoint."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def _job_environment() -> Any:
    """submitit's JobEnvironment in a submitit task, else None."""
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return None
    import submitit

    return submitit.JobEnvironment()
