"""``jepa train``: train a JEPA from a preset or a config file, in its run directory.

jepa train --plugin image --preset demo [--data PATH] [--out DIR] [--set k=v ...]
jepa train --config runs/demo/config.yaml
"""

from __future__ import annotations

import argparse
import signal
import sys

from jepa_core.callbacks import HANGUP
from jepa_core.cli.common import SubParsers, add_config_args, add_config_file_arg, config_from_args, path_arg
from jepa_core.registry import Registry
from jepa_core.run import EXIT_HANGUP, EXIT_INTERRUPTED, EXIT_PREEMPTED, train_run
from jepa_core.rundir import check_fresh_run_dir


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The arguments of ``jepa train``, shared by ``jepa submit``."""
    add_config_args(p)
    add_config_file_arg(p)
    p.add_argument(
        "--no-resume", action="store_true", help="refuse to continue when the run directory already holds a checkpoint"
    )
    p.add_argument(
        "--allow-config-change",
        action="store_true",
        help="resume a run although its stored config differs (beyond max_steps, logging and the like)",
    )
    p.add_argument(
        "--init-from",
        metavar="CKPT",
        type=path_arg,
        help="start a new run from these weights (jepaforge or released I-JEPA file; sets train.init_from)",
    )


def add_parser(sub: SubParsers) -> None:
    add_train_args(sub.add_parser("train", help="train a JEPA"))


def run(args: argparse.Namespace, registry: Registry) -> int:
    """Train; exit code 0, ``EXIT_PREEMPTED`` (75) when a signal stopped the run at a checkpoint, or
    ``EXIT_INTERRUPTED`` (130) when Ctrl-C did, ``EXIT_HANGUP`` (129) when a closed terminal did (a job
    scheduler requeues on 75 only)."""
    cfg = config_from_args(args, registry)
    if args.no_resume:
        check_fresh_run_dir(cfg)
    result = train_run(
        cfg,
        registry,
        resume=True,
        stream=sys.stdout,  # the current stdout, not the one at import
        allow_config_change=args.allow_config_change,
    )
    if not result.preempted:
        return 0
    if result.stop_signal == signal.SIGINT:
        return EXIT_INTERRUPTED
    return EXIT_HANGUP if result.stop_signal == HANGUP else EXIT_PREEMPTED
