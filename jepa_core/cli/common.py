"""Arguments several ``jepa`` commands share: plugin loading (before the command) and the run config.

>>> p = argparse.ArgumentParser(prog="jepa")
>>> add_plugin_args(p)
>>> plugin_argv(p.parse_args(["-p", "my_pkg.plugin", "--no-autoload"]))
['--load-plugin', 'my_pkg.plugin', '--no-autoload']
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Protocol

from jepa_core.config import RunConfig
from jepa_core.extract import WHICH
from jepa_core.registry import Registry
from jepa_core.resolve import resolve_config

ON_PLUGIN_ERROR = ("raise", "warn")


class SubParsers(Protocol):
    """What ``ArgumentParser.add_subparsers()`` returns, as far as a command module uses it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def path_arg(text: str) -> str:
    """argparse ``type`` of a flag that names a file or folder: an empty or blank value (an unset
    shell variable, ``--json "$OUT"``) is a usage error (exit 2) rather than the current folder or
    a silently skipped output.

    >>> path_arg("runs/demo")
    'runs/demo'
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("must be a path, got an empty string")
    return text


def positive_int(text: str) -> int:
    """argparse ``type`` of a count (epochs, a batch size): an integer >= 1.

    >>> positive_int("8")
    8
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse ``type`` of a rate (a learning rate): a finite number > 0.

    >>> positive_float("1e-3")
    0.001
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def add_plugin_args(p: argparse.ArgumentParser) -> None:
    """The options before the command: which plugins load, and what a failing one does."""
    p.add_argument(
        "--load-plugin",
        "-p",
        action="append",
        default=[],
        metavar="MODULE",
        help="load a plugin module explicitly (repeatable)",
    )
    p.add_argument("--no-autoload", action="store_true", help="do not load entry-point plugins")
    p.add_argument(
        "--on-plugin-error",
        choices=ON_PLUGIN_ERROR,
        default=ON_PLUGIN_ERROR[0],
        help="stop at a plugin that fails to import (raise) or skip it (warn)",
    )


def plugin_argv(args: argparse.Namespace) -> list[str]:
    """The plugin options of ``args`` as command-line words (defaults left out), for a command run elsewhere."""
    argv = [word for module in args.load_plugin for word in ("--load-plugin", module)]
    if args.no_autoload:
        argv.append("--no-autoload")
    if args.on_plugin_error != ON_PLUGIN_ERROR[0]:
        argv += ["--on-plugin-error", args.on_plugin_error]
    return argv


def add_config_args(p: argparse.ArgumentParser) -> None:
    """A preset and what changes it: ``--plugin --preset --data --out --set``."""
    p.add_argument("--plugin", help="plugin whose preset to use, e.g. image")
    p.add_argument("--preset", help="preset name, e.g. demo or vith14")
    p.add_argument("--data", type=path_arg, help="data path (sets data.root)")
    p.add_argument("--out", type=path_arg, help="run directory (sets train.out_dir)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. optim.lr=5e-4 (repeatable)",
    )


def add_config_file_arg(p: argparse.ArgumentParser) -> None:
    """``--config FILE``: a whole run config, or with ``--plugin/--preset`` settings applied on the preset."""
    p.add_argument(
        "--config",
        type=path_arg,
        help="a config file (YAML or JSON): a run's config.yaml or an official I-JEPA YAML instead of "
        "--plugin/--preset, or, with them, a file of settings applied on that preset",
    )


def config_from_args(args: argparse.Namespace, registry: Registry) -> RunConfig:
    """The run config :func:`add_config_args` (and ``--config``/``--init-from`` where a command has them) ask for."""
    return resolve_config(
        registry,
        config_file=getattr(args, "config", None),
        plugin=args.plugin,
        preset=args.preset,
        data=args.data,
        out=args.out,
        init_from=getattr(args, "init_from", None),
        overrides=args.overrides,
    )


def add_checkpoint_args(p: argparse.ArgumentParser) -> None:
    """Which encoder of which checkpoint (``jepa eval``, ``jepa export``); ``--plugin/--preset`` name
    the architecture of a released file that holds no config."""
    p.add_argument(
        "--checkpoint",
        required=True,
        type=path_arg,
        help="checkpoint file (jepaforge or released I-JEPA) or run directory",
    )
    p.add_argument("--encoder", choices=sorted(WHICH), default="target", help="which encoder (default: target)")
    p.add_argument("--plugin", help="architecture for a released I-JEPA file, e.g. image")
    p.add_argument("--preset", help="architecture preset for a released I-JEPA file, e.g. vith14")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. encoder.depth=12 (repeatable)",
    )
