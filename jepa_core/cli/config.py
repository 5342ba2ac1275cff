"""``jepa config``: inspect run configs and convert foreign ones.

jepa config show --plugin NAME --preset NAME [--data PATH] [--out DIR] [--set k=v ...] [--format yaml|json]
jepa config import FILE [--from FORM] [--format yaml|json]     (a form a plugin maps, detected)
jepa config import-ijepa FILE [--format yaml|json]             (an official I-JEPA YAML file)
"""

from __future__ import annotations

import argparse
import sys

from jepa_core.cli.common import SubParsers, add_config_args, add_config_file_arg, config_from_args
from jepa_core.config import to_dict
from jepa_core.config_files import CONFIG_FORMATS, dump_text
from jepa_core.config_import import read_foreign
from jepa_core.registry import Registry


def add_parser(sub: SubParsers) -> None:
    c = sub.add_parser("config", help="inspect configs and convert foreign ones")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print a preset's resolved config (YAML, or JSON)")
    add_config_args(show)
    add_config_file_arg(show)
    _add_format(show)
    imp = csub.add_parser("import", help="print the run config equivalent to a foreign config file (form detected)")
    imp.add_argument("file", help="e.g. an official I-JEPA YAML file")
    imp.add_argument(
        "--from", dest="source_form", metavar="FORM", help="the file's form (default: detected), e.g. ijepa"
    )
    _add_format(imp)
    ijepa = csub.add_parser("import-ijepa", help="print the run config equivalent to an official I-JEPA YAML file")
    ijepa.add_argument("file", help="e.g. in1k_vith14_ep300.yaml")
    _add_format(ijepa)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", choices=CONFIG_FORMATS, default="yaml", help="text form of the printed config (default yaml)"
    )


def run(args: argparse.Namespace, registry: Registry) -> int:
    """Print the resolved config (what ``jepa train`` would write to config.yaml), or the config a
    foreign file maps to; the mapping's notes go to stderr as one warning."""
    if args.config_command == "show":
        cfg = config_from_args(args, registry)
    else:
        form = "ijepa" if args.config_command == "import-ijepa" else args.source_form
        cfg = read_foreign(args.file, registry, form).warn()
    sys.stdout.write(dump_text(to_dict(cfg), args.format))
    return 0
