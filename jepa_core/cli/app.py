"""The ``jepa`` program: the parser of every command, dispatch, and one-sentence errors.

User errors (:class:`~jepa_core.errors.JepaError`, and a write that fails on a full or read-only
file system) print ``error: ...`` and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import torch.distributed

from jepa_core import doctor
from jepa_core.cli import config, export, listing, submit, train
from jepa_core.cli import eval as evaluation
from jepa_core.cli.common import add_plugin_args
from jepa_core.console import one_line_warnings, printable
from jepa_core.dist import exit_process
from jepa_core.errors import JepaError, user_message
from jepa_core.registry import Registry, build_registry
from jepa_core.safe_write import WRITE_ONLY_ERRNOS, default_fix, os_error_in, reason

EXIT_USAGE = 2

Command = Callable[[argparse.Namespace, Registry], int]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``jepa`` and all its commands."""
    p = argparse.ArgumentParser(prog="jepa", description="Train joint-embedding predictive architectures.")
    add_plugin_args(p)
    sub = p.add_subparsers(dest="command", required=True)
    train.add_parser(sub)
    submit.add_parser(sub)
    listing.add_parsers(sub)
    config.add_parser(sub)
    evaluation.add_parser(sub)
    export.add_parser(sub)
    doctor.add_parser(sub)
    return p


def _command(name: str) -> Command:
    """The function that runs command ``name`` (looked up when called, so it can be replaced in tests)."""
    commands: dict[str, Command] = {
        "train": train.run,
        "submit": _submit,
        "plugins": listing.run_plugins,
        "presets": listing.run_presets,
        "config": config.run,
        "eval": evaluation.run,
        "export": export.run,
        "doctor": doctor.run,
    }
    return commands[name]


def _submit(args: argparse.Namespace, registry: Registry) -> int:
    """``jepa submit``: its jobs run this program (``jepa train --config ...``) in each task."""
    return submit.run(args, registry, program=main)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jepa`` with ``argv`` (default: the process's arguments); returns the exit code.

    >>> main(["presets", "--plugin", "image"])        # doctest: +SKIP
    image/demo           ...
    0
    """
    args = build_parser().parse_args(argv)
    with one_line_warnings():
        return _run(args)


def _fail(message: str) -> int:
    print(f"error: {printable(message, sys.stderr)}", file=sys.stderr)
    return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    try:
        registry = build_registry(
            autoload=False if args.no_autoload else None, plugins=args.load_plugin, on_error=args.on_plugin_error
        )
        return _command(args.command)(args, registry)
    except JepaError as err:
        return _fail(user_message(err))
    except Exception as err:
        # A full or read-only file system hit by a write no specific check covered (e.g. TensorBoard).
        found = os_error_in(err)
        if found is None or found.errno not in WRITE_ONLY_ERRNOS:
            raise
        where = f" '{found.filename}'" if found.filename else ""
        return _fail(f"could not write{where} ({reason(found)}); {default_fix(found, '--out')}.")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``jepa`` script and ``python -m jepa_core``: :func:`main`, then exit with its code.

    A distributed run leaves through :func:`jepa_core.dist.exit_process` once its process group
    is torn down and its output flushed (checkpoints are fsynced, TensorBoard closed).
    """
    code = main()
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        exit_process(code)
    sys.exit(code)
