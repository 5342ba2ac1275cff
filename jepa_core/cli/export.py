"""``jepa export``: write an encoder in another library's format.

    jepa export timm --checkpoint CKPT --out model.pth [--encoder target|context]

An exporter is found through the plugin that provides the encoder: the
:class:`~jepa_core.specs.ExporterSpec` records its ``jepa_exporters`` hook yields, by name (the
core never imports a plugin).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jepa_core.cli.common import SubParsers, add_checkpoint_args, path_arg
from jepa_core.errors import ConfigError, OutputError
from jepa_core.eval.setup import load_setup
from jepa_core.extract import build_encoder, resolve_which
from jepa_core.registry import Registry
from jepa_core.safe_write import check_output_file, writing


def add_parser(sub: SubParsers) -> None:
    x = sub.add_parser("export", help="export an encoder to another library's format")
    xsub = x.add_subparsers(dest="export_format", required=True)
    t = xsub.add_parser("timm", help="a state_dict + JSON for timm.create_model (no class token, avg pool)")
    add_checkpoint_args(t)
    t.add_argument(
        "--out", required=True, type=path_arg, help="weights file to write, e.g. model.pth (JSON next to it)"
    )


def run(args: argparse.Namespace, registry: Registry) -> int:
    """Export with the encoder plugin's exporter; a failed write leaves no half-written file behind."""
    check_output_file(args.out, flag="--out")  # before loading anything
    setup = load_setup(registry, args.checkpoint, plugin=args.plugin, preset=args.preset, overrides=args.overrides)
    cfg = setup.cfg
    provider = registry.provider_of("encoder", cfg.encoder.name)
    exporters = registry.exporters(provider.name)
    if args.export_format not in exporters:
        raise ConfigError(
            f"encoder '{cfg.encoder.name}' of plugin '{provider.name}' has no '{args.export_format}' exporter; "
            f"available: {', '.join(sorted(exporters)) or 'none'}."
        )
    encoder = build_encoder(cfg, registry, setup.ckpt, args.encoder)
    source = setup.ckpt.source if setup.ckpt else args.checkpoint
    metadata = {
        "source": source,
        "encoder": resolve_which(cfg, registry, args.encoder),
        "plugin": cfg.plugin,
        "preset": cfg.preset,
    }
    existed = Path(args.out).exists()
    try:
        with writing(args.out, what=f"the {args.export_format} export", flag="--out"):
            exported = exporters[args.export_format].export(encoder, Path(args.out), metadata)
    except OutputError:
        if not existed:
            Path(args.out).unlink(missing_ok=True)  # no half-written file under the name asked for
        raise
    print(exported.describe())
    return 0
