"""``jepa plugins`` and ``jepa presets``: what the loaded plugins provide.

jepa plugins
jepa presets [--plugin NAME]
"""

from __future__ import annotations

import argparse

from jepa_core.cli.common import SubParsers
from jepa_core.registry import Registry
from jepa_core.specs import KINDS

PLURALS = {k.name: k.plural for k in KINDS}


def add_parsers(sub: SubParsers) -> None:
    sub.add_parser("plugins", help="list loaded plugins and what they provide")
    pr = sub.add_parser("presets", help="list presets")
    pr.add_argument("--plugin", help="only this plugin's presets")


def run_plugins(args: argparse.Namespace, registry: Registry) -> int:
    """Each plugin, its distribution and module, the component names it provides by kind, and its
    plugin-level facts: the folder dataset ``jepa eval --train/--val`` reads and the ``jepa export``
    formats."""
    for name, info in sorted(registry.plugins.items()):
        dist = f"{info.distribution} {info.version}" if info.distribution else "(not from a distribution)"
        print(f"{name}  [{dist}]  module {info.module}")
        for kind, names in registry.provided_by(name).items():
            print(f"    {PLURALS.get(kind, kind + 's'):<11} {', '.join(names)}")
        folder = registry.folder_dataset(name)
        if folder is not None:
            print(f"    {'eval folder':<11} {folder.dataset} (jepa eval --train/--val)")
        exporters = registry.exporters(name)
        if exporters:
            print(f"    {'exporters':<11} {', '.join(exporters)} (jepa export)")
    for failure in registry.failures:
        print(f"{failure.name}  FAILED TO LOAD ({failure.module}): {failure.error}")
    return 0


def run_presets(args: argparse.Namespace, registry: Registry) -> int:
    """``plugin/name  description`` for each preset (of ``--plugin`` only, when given)."""
    plugins = [args.plugin] if args.plugin else registry.preset_plugins()
    for plugin in plugins:
        for name, spec in sorted(registry.presets(plugin).items()):
            print(f"{plugin}/{name:<14} {spec.description}")
    return 0
