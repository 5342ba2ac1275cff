"""``jepa config``: inspect run configs and convert foreign ones.

jepa config show --plugin NAME --preset NAME [--data PATH] [--out DIR] [--set k=v ...] [--format yaml|json]
jepa config import FILE [--from FORM] [--format yaml|json]     (a form a plugin maps, detected)
jepa config import-ijepa FILE [--format yaml|json]             (an official I-JEPA YAML file)
jepa config diff A B                                          (run directories, config files, presets)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jepa_core.cli.common import SubParsers, add_config_args, add_config_file_arg, config_from_args, path_arg
from jepa_core.config import RunConfig, load_config, to_dict
from jepa_core.config_files import CONFIG_FILE, CONFIG_FORMATS, dump_text, run_config_file
from jepa_core.config_import import read_foreign
from jepa_core.errors import ConfigError
from jepa_core.registry import Registry, normalize_name
from jepa_core.rundir import config_differences, show_value


def add_parser(sub: SubParsers) -> None:
    c = sub.add_parser("config", help="inspect configs and convert foreign ones")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print a preset's resolved config (YAML, or JSON)")
    add_config_args(show)
    add_config_file_arg(show)
    _add_format(show)
    imp = csub.add_parser("import", help="print the run config equivalent to a foreign config file (form detected)")
    imp.add_argument("file", type=path_arg, help="e.g. an official I-JEPA YAML file")
    imp.add_argument(
        "--from", dest="source_form", metavar="FORM", help="the file's form (default: detected), e.g. ijepa"
    )
    _add_format(imp)
    ijepa = csub.add_parser("import-ijepa", help="print the run config equivalent to an official I-JEPA YAML file")
    ijepa.add_argument("file", type=path_arg, help="e.g. in1k_vith14_ep300.yaml")
    _add_format(ijepa)
    diff = csub.add_parser(
        "diff", help="print the config keys whose values differ between two runs, config files or presets"
    )
    for name in ("first", "second"):
        diff.add_argument(
            name, type=path_arg, help="a run directory, a config file, or a preset as PLUGIN/PRESET (e.g. image/small)"
        )


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=CONFIG_FORMATS, default="yaml", help="text form of the printed config (default yaml)"
    )


def run(args: argparse.Namespace, registry: Registry) -> int:
    """Print the resolved config (what ``jepa train`` would write to config.yaml), or the config a
    foreign file maps to; the mapping's notes go to stderr as one warning."""
    if args.config_command == "diff":
        return _diff(args.first, args.second, registry)
    if args.config_command == "show":
        cfg = config_from_args(args, registry)
    else:
        form = "ijepa" if args.config_command == "import-ijepa" else args.source_form
        cfg = read_foreign(args.file, registry, form).warn()
    sys.stdout.write(dump_text(to_dict(cfg), args.format))
    return 0


def _diff(first: str, second: str, registry: Registry) -> int:
    """One ``key: a -> b`` line per differing key (full values), or ``no differences``; exit 0."""
    changes = config_differences(to_dict(_config_of(first, registry)), to_dict(_config_of(second, registry)), registry)
    for key, a, b in changes:
        sys.stdout.write(f"{key}: {show_value(a)} -> {show_value(b)}\n")
    if not changes:
        sys.stdout.write("no differences\n")
    return 0


def _config_of(spec: str, registry: Registry) -> RunConfig:
    """The run config ``spec`` names: a run directory's config file, a config file, or PLUGIN/PRESET."""
    path = Path(spec)
    if path.is_dir():
        found = run_config_file(path)
        if found is None:
            raise ConfigError(f"run directory '{spec}' holds no {CONFIG_FILE}; give a run directory of jepa train.")
        return load_config(found, registry)
    if path.exists():
        return load_config(path, registry)
    plugin, _, preset = spec.partition("/")
    if not preset or "/" in preset or normalize_name(plugin) not in registry.preset_plugins():
        raise ConfigError(
            f"'{spec}' is neither a run directory, a config file nor a preset; give one of them "
            f"(a preset as PLUGIN/PRESET with a plugin of {', '.join(registry.preset_plugins())}, e.g. image/small)."
        )
    return registry.preset(plugin, preset).build()
