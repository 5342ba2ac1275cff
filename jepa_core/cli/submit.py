"""``jepa submit``: ``jepa train`` as a SLURM job (:mod:`jepa_core.launch`; needs submitit).

    jepa submit --plugin image --preset vith14 --data PATH --out DIR --nodes 2 --gpus-per-node 8 [...]

The config is resolved and checked here, then written to ``<out>/config.yaml``; each task of the
job runs ``jepa [plugin options] train --config <out>/config.yaml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import attrs

from jepa_core import launch
from jepa_core.cli.common import SubParsers, config_from_args, path_arg, plugin_argv
from jepa_core.cli.train import add_train_args
from jepa_core.launch import EXECUTORS, ClusterOptions, Program, TrainJob, parse_slurm_args
from jepa_core.registry import Registry
from jepa_core.rundir import check_fresh_run_dir


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    """The cluster options of ``jepa submit`` (the run options are ``jepa train``'s)."""
    g = p.add_argument_group("cluster (jepa submit)")
    g.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    g.add_argument(
        "--gpus-per-node",
        type=int,
        default=8,
        help="GPUs per node = tasks per node, one process per GPU (default 8; 0: one CPU task per node)",
    )
    g.add_argument("--partition", help="SLURM partition")
    g.add_argument("--timeout-min", type=int, default=4320, help="time limit in minutes (default 4320 = 3 days)")
    g.add_argument("--cpus-per-task", type=int, default=10, help="CPUs per task (default 10)")
    g.add_argument("--mem-gb", type=float, help="memory per node in GB (default: the cluster's)")
    g.add_argument("--account", help="SLURM account")
    g.add_argument("--qos", help="SLURM quality of service")
    g.add_argument("--constraint", help="SLURM node constraint, e.g. volta32gb")
    g.add_argument(
        "--slurm-arg",
        dest="slurm_args",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other sbatch option, e.g. exclude=node12 or exclusive (repeatable)",
    )
    g.add_argument(
        "--signal-delay-s",
        type=int,
        default=120,
        help="seconds between the time-out signal and the time limit: the run checkpoints in between (default 120)",
    )
    g.add_argument(
        "--logs",
        metavar="DIR",
        type=path_arg,
        help="submitit's folder: scripts, pickles, logs (default: <out_dir>/submitit)",
    )
    g.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="slurm",
        help="slurm (sbatch) or local (this machine, for testing; one node)",
    )


def add_parser(sub: SubParsers) -> None:
    s = sub.add_parser("submit", help="submit `jepa train` as a SLURM job (needs the optional package submitit)")
    add_train_args(s)
    add_cluster_args(s)


def cluster_options(args: argparse.Namespace) -> ClusterOptions:
    """The checked cluster options of :func:`add_cluster_args`."""
    opts = ClusterOptions(
        nodes=args.nodes,
        gpus_per_node=args.gpus_per_node,
        timeout_min=args.timeout_min,
        cpus_per_task=args.cpus_per_task,
        mem_gb=args.mem_gb,
        partition=args.partition,
        account=args.account,
        qos=args.qos,
        constraint=args.constraint,
        signal_delay_s=args.signal_delay_s,
    )
    return attrs.evolve(opts, additional=parse_slurm_args(args.slurm_args))


def train_command(args: argparse.Namespace, config_file: Path) -> list[str]:
    """What each task runs: ``jepa [plugin options] train --config FILE`` (``--allow-config-change``
    travels; ``--no-resume`` does not, a requeued job must resume)."""
    change = ["--allow-config-change"] if args.allow_config_change else []
    return [*plugin_argv(args), "train", "--config", str(config_file), *change]


def run(args: argparse.Namespace, registry: Registry, *, program: Program) -> int:
    """Check everything here, write the run's config.yaml, submit one job; print its id and log folder."""
    cfg = config_from_args(args, registry)  # the same checks as `jepa train`: exit 2 before anything is written
    if args.no_resume:
        check_fresh_run_dir(cfg)
    opts = cluster_options(args)
    launch.check_job_layout(cfg, opts, cluster=args.executor)
    submitit = launch.import_submitit(args.executor)
    config_file = launch.write_job_config(cfg, registry, allow_config_change=args.allow_config_change)
    out_dir = config_file.parent
    folder = Path(args.logs).absolute() if args.logs else out_dir / "submitit"
    job = launch.submit_job(
        submitit,
        TrainJob(program, train_command(args, config_file)),
        opts,
        cluster=args.executor,
        folder=folder,
        name=f"jepa-{cfg.plugin}-{cfg.preset}",
    )
    where = "this machine" if args.executor == "local" else "SLURM"
    print(
        f"submitted job {job.job_id} to {where}: {opts.nodes} node(s) x {opts.tasks_per_node} task(s) "
        f"({'one per GPU' if opts.gpus_per_node else 'CPU'}) -> run directory {out_dir}"
    )
    print(f"logs: {folder} ({job.job_id}_<task>_log.out / .err)", flush=True)
    return 0
