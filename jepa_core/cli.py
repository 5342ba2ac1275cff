"""The ``jepa`` command line.

    jepa train --plugin image --preset demo [--data PATH] [--out DIR] [--set k=v ...]
    jepa train --config runs/demo/config.json
    jepa submit --plugin image --preset vith14 --data PATH --out DIR --nodes 2 --gpus-per-node 8 [...]   (jepa_core.launch; needs submitit)
    jepa plugins
    jepa presets [--plugin NAME]
    jepa config show --plugin NAME --preset NAME [--set k=v ...]
    jepa eval linear-probe|knn|attentive-probe --checkpoint CKPT [--train PATH --val PATH] [...]   (jepa_core.eval.cli_eval)
    jepa export timm --checkpoint CKPT --out model.pth [--encoder target|context]

User errors print one sentence (``error: ...``) and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from jepa_core.config import RunConfig, apply_overrides, load_config, set_value, to_dict
from jepa_core.console import one_line_warnings, printable
from jepa_core.errors import ConfigError, JepaError, user_message
from jepa_core.registry import Registry, build_registry
from jepa_core.safe_write import WRITE_ONLY_ERRNOS, default_fix, os_error_in, reason
from jepa_core.specs import KINDS

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jepa", description="Train joint-embedding predictive architectures.")
    add_global_args(p)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a JEPA")
    add_train_args(t)

    from jepa_core.launch import add_cluster_args  # no submitit import: the command itself needs it

    s = sub.add_parser("submit", help="submit `jepa train` as a SLURM job (needs the optional package submitit)")
    add_train_args(s)
    add_cluster_args(s)

    sub.add_parser("plugins", help="list loaded plugins and what they provide")
    pr = sub.add_parser("presets", help="list presets")
    pr.add_argument("--plugin", help="only this plugin's presets")

    c = sub.add_parser("config", help="inspect configs")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print a preset's resolved config as JSON")
    _add_run_args(show)

    from jepa_core.eval.cli_eval import add_commands

    add_commands(sub)  # eval linear-probe | knn | attentive-probe, export timm
    return p


def add_global_args(p: argparse.ArgumentParser) -> None:
    """The options before the command (plugin loading); ``jepa submit`` passes them on to each task."""
    p.add_argument("--load-plugin", "-p", action="append", default=[], metavar="MODULE",
                   help="load a plugin module explicitly (repeatable)")
    p.add_argument("--no-autoload", action="store_true", help="do not load entry-point plugins")
    p.add_argument("--on-plugin-error", choices=["raise", "warn"], default="raise",
                   help="stop at a plugin that fails to import (raise) or skip it (warn)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    """The arguments of ``jepa train``, shared by ``jepa submit``."""
    _add_run_args(p)
    p.add_argument("--config", help="a config.json written by an earlier run (instead of --plugin/--preset)")
    p.add_argument("--no-resume", action="store_true",
                   help="refuse to continue when the run directory already holds a checkpoint")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume a run although its stored config differs (beyond max_steps, logging and the like)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="start a new run from these weights (jepaforge or released I-JEPA file; sets train.init_from)")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", help="plugin whose preset to use, e.g. image")
    p.add_argument("--preset", help="preset name, e.g. demo or vith14")
    p.add_argument("--data", help="data path (sets data.root)")
    p.add_argument("--out", help="run directory (sets train.out_dir)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. optim.lr=5e-4 (repeatable)")


def resolve_config(args: argparse.Namespace, registry: Registry) -> RunConfig:
    """Preset (or config file) + --data/--out + --set overrides, all type-checked."""
    if getattr(args, "config", None):
        if args.plugin or args.preset:
            raise ConfigError("give either --config or --plugin/--preset, not both.")
        cfg = load_config(args.config, registry)
    else:
        if not args.plugin or not args.preset:
            raise ConfigError(
                f"--plugin and --preset are required (plugins with presets: {', '.join(registry.preset_plugins())})."
            )
        cfg = registry.preset(args.plugin, args.preset).build()
    # Component switches (`--set data.name=video_files`) first: they reset that component's options,
    # which must not drop --data; every other --set comes last and wins.
    switches = [o for o in args.overrides if o.split("=", 1)[0].strip().endswith(".name")]
    cfg = apply_overrides(cfg, switches, registry)
    if args.data is not None:
        cfg = set_value(cfg, "data.root", args.data, registry, from_text=True)
    if args.out is not None:
        cfg = set_value(cfg, "train.out_dir", args.out, registry, from_text=True)
    if getattr(args, "init_from", None) is not None:
        cfg = set_value(cfg, "train.init_from", args.init_from, registry, from_text=True)
    return apply_overrides(cfg, [o for o in args.overrides if o not in switches], registry)


def check_no_resume(args: argparse.Namespace, cfg: RunConfig) -> None:
    """``--no-resume``: a ConfigError when the run directory already holds a checkpoint."""
    from pathlib import Path

    from jepa_core import checkpoint as ckpt

    existing = ckpt.latest_checkpoint(Path(cfg.train.out_dir) / "checkpoints")
    if args.no_resume and existing is not None:
        raise ConfigError(
            f"run directory '{cfg.train.out_dir}' already holds checkpoint {existing.name}; "
            "choose another --out or drop --no-resume to continue it."
        )


def _cmd_train(args: argparse.Namespace, registry: Registry) -> int:
    from jepa_core.run import EXIT_PREEMPTED, train_run

    cfg = resolve_config(args, registry)
    check_no_resume(args, cfg)
    result = train_run(cfg, registry, resume=True, stream=sys.stdout,  # the current stdout, not the one at import
                       allow_config_change=args.allow_config_change)
    return EXIT_PREEMPTED if result.preempted else 0




PLURALS = {k.name: k.plural for k in KINDS}


def _cmd_plugins(registry: Registry) -> int:
    for name, info in sorted(registry.plugins.items()):
        dist = f"{info.distribution} {info.version}" if info.distribution else "(not from a distribution)"
        print(f"{name}  [{dist}]  module {info.module}")
        for kind, names in registry.provided_by(name).items():
            print(f"    {PLURALS.get(kind, kind + 's'):<11} {', '.join(names)}")
    for failure in registry.failures:
        print(f"{failure.name}  FAILED TO LOAD ({failure.module}): {failure.error}")
    return 0


def _cmd_presets(args: argparse.Namespace, registry: Registry) -> int:
    plugins = [args.plugin] if args.plugin else registry.preset_plugins()
    for plugin in plugins:
        for name, spec in sorted(registry.presets(plugin).items()):
            print(f"{plugin}/{name:<14} {spec.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
        if args.command == "train":
            return _cmd_train(args, registry)
        if args.command == "submit":
            from jepa_core import launch

            launch.submit(args, registry, stream=sys.stdout)
            return 0
        if args.command == "plugins":
            return _cmd_plugins(registry)
        if args.command == "presets":
            return _cmd_presets(args, registry)
        if args.command in ("eval", "export"):
            from jepa_core.eval.cli_eval import run_command

            return run_command(args, registry)
        if args.command == "config":
            print(json.dumps(to_dict(resolve_config(args, registry)), indent=2))
            return 0
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
    return EXIT_USAGE


def entry() -> None:
    """The ``jepa`` script and ``python -m jepa_core``: :func:`main`, then exit with its code.

    A distributed run exits hard (``os._exit``) once its process group is torn down and its
    output flushed: everything it writes is already on disk (checkpoints are fsynced, TensorBoard
    closed), and skipping the C++ runtime's static destructors avoids a gloo rank aborting at exit
    ("terminate called without an active exception", seen in about 1 of 30 two-process CPU runs),
    which would fail a finished job under torchrun or SLURM.
    """
    code = main()
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
