"""``jepa config``: inspect run configs.

    jepa config show --plugin NAME --preset NAME [--data PATH] [--out DIR] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json

from jepa_core.cli.common import SubParsers, add_config_args, config_from_args
from jepa_core.config import to_dict
from jepa_core.registry import Registry


def add_parser(sub: SubParsers) -> None:
    c = sub.add_parser("config", help="inspect configs")
    csub = c.add_subparsers(dest="config_command", required=True)
    show = csub.add_parser("show", help="print a preset's resolved config as JSON")
    add_config_args(show)


def run(args: argparse.Namespace, registry: Registry) -> int:
    """Print the resolved config as JSON (what ``jepa train`` would write to config.json)."""
    print(json.dumps(to_dict(config_from_args(args, registry)), indent=2))
    return 0
