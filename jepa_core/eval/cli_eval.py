"""``jepa eval`` and ``jepa export``: evaluate or export a frozen encoder from a checkpoint.

    jepa eval linear-probe --checkpoint CKPT [--train PATH --val PATH] [--encoder target|context]
                           [--pool mean|last4] [--labels-per-class K | --label-fraction F] [--seed S]
    jepa eval knn --checkpoint CKPT --k 20 [--temperature 0.07] [...same options]
    jepa eval attentive-probe --checkpoint CKPT [--epochs 20] [--lr 1e-3] [--heads H] [...same options,
                              but no --pool: it uses all output tokens]
    jepa export timm --checkpoint CKPT --out model.pth [--encoder target|context]

``CKPT`` is a checkpoint file of either format (:mod:`jepa_core.interop`) or a run directory
(its newest checkpoint). A released I-JEPA file holds no config: add ``--plugin image --preset
vith14`` (and ``--set`` overrides). The data: ``--train``/``--val`` are labelled folders (one
sub-folder per class) of the modality's folder dataset: the checkpoint's own dataset when it reads
folders (it has ``root``/``val_root``), else the one the encoder's plugin names in its module
attribute ``FOLDER_DATASET`` (``image_folder``, ``video_frames``, ``wav_folder``), keeping shared
options such as ``resolution``; without them the checkpoint config's own dataset is used (e.g.
``synthetic_shapes``). Train features use the ``train_eval`` split (no augmentation),
val features the ``val`` split. Features are extracted once, in batches, on the device.

``attentive-probe`` (V-JEPA's protocol, :mod:`jepa_core.eval.attentive`) keeps every output token
(``[N, T, D]``, held in CPU memory) and trains a cross-attention pooler + linear head on them; its
defaults are its own (20 epochs, lr 1e-3, weight decay 0.05, batch 128), not the config's ``probe``.

An exporter is found through the plugin that provides the encoder: its module attribute
``EXPORTERS = {"timm": fn}`` with ``fn(encoder, out, metadata)`` returning a record with a
``describe()`` method (the core never imports a plugin).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable

import attrs
import torch

from jepa_core.config import RunConfig, apply_overrides, field_types, set_value
from jepa_core.dist import DistInfo, select_device
from jepa_core.errors import ConfigError, DataError, OutputError
from jepa_core.eval.attentive import attentive_probe, check_num_heads, check_probe_options
from jepa_core.eval.classes import check_dataset_classes, check_label_counts
from jepa_core.eval.features import extract_features
from jepa_core.eval.knn import knn_classify
from jepa_core.eval.lowshot import fraction_subset, per_class_subset
from jepa_core.eval.probe import linear_probe
from jepa_core.extract import WHICH, build_encoder, preset_reference, run_config
from jepa_core.interop import Checkpoint, read_checkpoint
from jepa_core.run import build_dataset, check_input_shape
from jepa_core.safe_write import check_output_file, write_text, writing

ATTENTIVE = "attentive-probe"
ATTENTIVE_DEFAULTS: dict[str, Any] = {
    name: attentive_probe.__kwdefaults__[name] for name in ("epochs", "lr", "weight_decay", "batch_size")
}


# ------------------------------------------------------------------------- parsers
def add_commands(sub: Any) -> None:
    """Add the ``eval`` and ``export`` command groups to the ``jepa`` sub-parsers."""
    e = sub.add_parser("eval", help="evaluate a frozen encoder (linear probe, k-NN, attentive probe)")
    esub = e.add_subparsers(dest="eval_command", required=True)
    lp = esub.add_parser("linear-probe", help="linear classifier on frozen features; top-1/top-5")
    _add_eval_args(lp)
    lp.add_argument("--epochs", type=int, help="probe epochs (default: the config's probe.epochs)")
    lp.add_argument("--lr", type=float, help="probe learning rate (default: probe.lr)")
    ap = esub.add_parser("attentive-probe",
                         help="attentive pooler + linear head on all frozen output tokens (V-JEPA); top-1/top-5")
    _add_eval_args(ap, pools=False)
    ap.add_argument("--epochs", type=int, help=f"probe epochs (default {ATTENTIVE_DEFAULTS['epochs']})")
    ap.add_argument("--lr", type=float, help=f"probe learning rate (default {ATTENTIVE_DEFAULTS['lr']:g})")
    ap.add_argument("--heads", type=int, help="attention heads, a divisor of the token width "
                                              "(default: the largest of 8, 4, 2, 1 that divides it)")
    ap.add_argument("--blocks", type=int, default=1,
                    help="probe blocks: N-1 self-attention blocks, then the cross-attention pooler "
                         "(default 1, V-JEPA; V-JEPA 2 uses 4)")
    knn = esub.add_parser("knn", help="weighted k-NN on cosine similarity; top-1/top-5")
    _add_eval_args(knn)
    knn.add_argument("--k", type=int, default=20, help="neighbours (default 20)")
    knn.add_argument("--temperature", type=float, default=0.07, help="vote weight exp(sim / T) (default 0.07)")

    x = sub.add_parser("export", help="export an encoder to another library's format")
    xsub = x.add_subparsers(dest="export_format", required=True)
    t = xsub.add_parser("timm", help="a state_dict + JSON for timm.create_model (no class token, avg pool)")
    _add_model_args(t)
    t.add_argument("--out", required=True, help="weights file to write, e.g. model.pth (JSON next to it)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="checkpoint file (jepaforge or released I-JEPA) or run directory")
    p.add_argument("--encoder", choices=sorted(WHICH), default="target", help="which encoder (default: target)")
    p.add_argument("--plugin", help="architecture for a released I-JEPA file, e.g. image")
    p.add_argument("--preset", help="architecture preset for a released I-JEPA file, e.g. vith14")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. encoder.depth=12 (repeatable)")


def _add_eval_args(p: argparse.ArgumentParser, *, pools: bool = True) -> None:
    _add_model_args(p)
    p.add_argument("--train", help="labelled train image folder (one sub-folder per class)")
    p.add_argument("--val", help="labelled val image folder (the same class sub-folders)")
    if pools:
        p.add_argument("--pool", choices=["mean", "last4"], default="mean",
                       help="mean of output tokens, or concatenated means of the last 4 blocks (normed)")
    else:  # hidden, parsed only to reject it with a clear sentence (see cmd_eval)
        p.add_argument("--pool", default=None, help=argparse.SUPPRESS)
    shots = p.add_mutually_exclusive_group()
    shots.add_argument("--labels-per-class", type=int, metavar="K", help="use exactly K train samples per class")
    shots.add_argument("--label-fraction", type=float, metavar="F",
                       help="use a per-class fraction of the train samples, at least 1 (e.g. 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of the low-shot subset and the probe (default 0)")
    p.add_argument("--batch-size", type=int, help="feature-extraction batch (default: probe.batch_size)")
    p.add_argument("--device", help="cpu, cuda, ... (default: the config's train.device)")
    p.add_argument("--compare-random-init", action="store_true",
                   help="also evaluate the same architecture at random init (a baseline)")
    p.add_argument("--json", help="also write the results to this JSON file")


# --------------------------------------------------------------------------- setup
def eval_data_config(cfg: RunConfig, registry: Any, train: str | None, val: str | None) -> RunConfig:
    """``cfg`` reading ``root=train, val_root=val``: its own dataset if that reads folders, else the
    encoder plugin's ``FOLDER_DATASET`` (shared options, e.g. ``resolution``, carried over);
    unchanged when neither path is given."""
    if train is None and val is None:
        return cfg
    if train is None or val is None:
        raise ConfigError("give both --train and --val, or neither to evaluate on the checkpoint's own dataset.")
    for flag, path in (("--train", train), ("--val", val)):
        if not Path(path).is_dir():
            raise DataError(f"{flag} path '{path}' is not a directory of class sub-folders.")
    if not {"root", "val_root"} <= set(field_types(type(cfg.data.options))):
        folder = folder_dataset(cfg, registry)
        old = attrs.asdict(cfg.data.options)
        cfg = set_value(cfg, "data.name", folder, registry)
        shared = set(field_types(type(cfg.data.options))) & set(old) - {"root", "val_root"}
        for key in sorted(shared):
            try:
                cfg = set_value(cfg, f"data.{key}", old[key], registry)
            except ConfigError:
                pass  # same name, different meaning: keep the folder dataset's default
    cfg = set_value(cfg, "data.root", str(train), registry)
    return set_value(cfg, "data.val_root", str(val), registry)


def folder_dataset(cfg: RunConfig, registry: Any) -> str:
    """The folder dataset the encoder's plugin names (module attribute ``FOLDER_DATASET``)."""
    provider = registry.provider_of("encoder", cfg.encoder.name)
    name = getattr(registry.manager.get_plugin(provider.name), "FOLDER_DATASET", None)
    if name is None:
        raise ConfigError(
            f"--train/--val need a dataset that reads folders, but '{cfg.data.name}' has no root/val_root and "
            f"plugin '{provider.name}' names no FOLDER_DATASET; set data.* to a folder dataset in a config file."
        )
    registry.get("dataset", name)
    return name


@attrs.frozen
class EvalSetup:
    """Everything an evaluation needs, resolved from the command line."""

    cfg: RunConfig
    ckpt: Checkpoint | None
    device: torch.device
    registry: Any


def _setup(args: argparse.Namespace, registry: Any, *, data: bool) -> EvalSetup:
    named = preset_reference(args.checkpoint, registry)
    ckpt = None if named else read_checkpoint(args.checkpoint)
    plugin, preset = (args.plugin or named[0], args.preset or named[1]) if named else (args.plugin, args.preset)
    cfg = run_config(ckpt, registry, plugin=plugin, preset=preset)
    if data:
        cfg = eval_data_config(cfg, registry, args.train, args.val)
    cfg = apply_overrides(cfg, args.overrides, registry)
    device = select_device(getattr(args, "device", None) or cfg.train.device, DistInfo())
    return EvalSetup(cfg, ckpt, device, registry)


def _features(
    setup: EvalSetup, encoder: torch.nn.Module, args: argparse.Namespace, pool: str | None = None,
    precheck: Callable[[torch.nn.Module, torch.Tensor], None] | None = None,
):
    cfg, registry = setup.cfg, setup.registry
    pool = pool or args.pool
    train_set = build_dataset(cfg, registry, "train_eval")
    val_set = build_dataset(cfg, registry, "val")
    check_dataset_classes(train_set, what=f"the train set of dataset '{cfg.data.name}'")
    check_input_shape(encoder, train_set[0][0], cfg)
    if precheck is not None:
        precheck(encoder, train_set[0][0])
    batch = args.batch_size or cfg.probe.batch_size
    tx, ty = extract_features(encoder, train_set, batch_size=batch, device=setup.device, pool=pool)
    vx, vy = extract_features(encoder, val_set, batch_size=batch, device=setup.device, pool=pool)
    for name, y in (("train", ty), ("val", vy)):
        if bool((y < 0).any()):
            raise DataError(f"the {name} set of dataset '{cfg.data.name}' has unlabelled samples (label -1); "
                            "evaluation needs one sub-folder per class.")
    if args.labels_per_class is not None:
        idx = per_class_subset(ty, args.labels_per_class, seed=args.seed)
        tx, ty = tx[idx], ty[idx]
    elif args.label_fraction is not None:
        idx = fraction_subset(ty, args.label_fraction, seed=args.seed)
        tx, ty = tx[idx], ty[idx]
    low_shot = args.labels_per_class is not None or args.label_fraction is not None  # few per class on purpose
    check_label_counts(ty, what=f"the train set of dataset '{cfg.data.name}'", warn_few=not low_shot)
    return tx, ty, vx, vy


def _encoders(setup: EvalSetup, args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    label = f"{args.encoder} encoder" if setup.ckpt is not None else "random init"
    encoders = {label: build_encoder(setup.cfg, setup.registry, setup.ckpt, args.encoder)}
    if getattr(args, "compare_random_init", False) and setup.ckpt is not None:
        encoders["random init"] = build_encoder(setup.cfg, setup.registry, None)
    return encoders


def _fmt(result: Any) -> str:
    top5 = f", top-5 {result.top5:.1f}%" if result.top5 is not None else ""
    return (f"top-1 {result.top1:.1f}%{top5} on {result.num_val} val samples "
            f"({result.num_train} train samples, {result.num_classes} classes)")


# ------------------------------------------------------------------------ commands
def cmd_eval(args: argparse.Namespace, registry: Any) -> int:
    attentive = args.eval_command == ATTENTIVE
    if attentive and args.pool is not None:
        raise ConfigError(f"--pool {args.pool} does not apply to attentive-probe, which uses all output tokens; "
                          "drop --pool.")
    pool = "none" if attentive else args.pool
    pool_text = "all output tokens" if attentive else f"{args.pool} pool"
    if attentive:
        check_probe_options(**_attentive_options(args))
        if args.heads is not None and args.heads < 1:
            raise ConfigError(f"--heads must be >= 1, got {args.heads}.")
        if args.blocks < 1:
            raise ConfigError(f"--blocks must be >= 1 (the cross-attention pooler), got {args.blocks}.")
    if args.json:
        check_output_file(args.json, flag="--json")  # before any evaluation work
    setup = _setup(args, registry, data=True)
    source = setup.ckpt.source if setup.ckpt else args.checkpoint
    fmt = f"{setup.ckpt.format} format" if setup.ckpt else "preset at random init"
    shots = (f", {args.labels_per_class} labels per class" if args.labels_per_class is not None
             else f", label fraction {args.label_fraction}" if args.label_fraction is not None else "")
    print(f"evaluating {source} ({fmt}), {pool_text}{shots}, data '{setup.cfg.data.name}', "
          f"device {setup.device}", flush=True)
    results: dict[str, Any] = {}
    for label, encoder in _encoders(setup, args).items():
        start = time.perf_counter()
        precheck = _heads_precheck(setup, args.heads) if attentive and args.heads is not None else None
        tx, ty, vx, vy = _features(setup, encoder, args, pool, precheck)
        took = time.perf_counter() - start
        extra: dict[str, Any] = {}
        if attentive:
            heads = check_num_heads(args.heads, tx.shape[-1])
            result = attentive_probe(tx, ty, vx, vy, **_attentive_options(args), num_heads=heads,
                                     num_blocks=args.blocks, seed=args.seed, device=setup.device)
            blocks = f", {args.blocks} blocks" if args.blocks > 1 else ""
            what = f"attentive probe ({heads} heads{blocks})"
            extra["heads"] = heads
            extra["blocks"] = args.blocks
        elif args.eval_command == "knn":
            result = knn_classify(tx, ty, vx, vy, k=args.k, temperature=args.temperature)
            what = f"k-NN (k={result.k}, T={result.temperature})"
        else:
            probe = setup.cfg.probe
            result = linear_probe(tx, ty, vx, vy, epochs=args.epochs or probe.epochs, lr=args.lr or probe.lr,
                                  weight_decay=probe.weight_decay, seed=args.seed, device=setup.device)
            what = "linear probe"
        print(f"{what} ({label}): {_fmt(result)}; features {tuple(tx.shape[1:])} in {took:.1f}s", flush=True)
        results[label] = {**attrs.asdict(result), **extra, "feature_seconds": took}
    if args.json:
        payload = {"command": args.eval_command, "checkpoint": source,
                   "format": setup.ckpt.format if setup.ckpt else "preset", "pool": pool,
                   "labels_per_class": args.labels_per_class, "label_fraction": args.label_fraction,
                   "seed": args.seed, "data": setup.cfg.data.name, "results": results}
        if attentive:
            payload["probe"] = _attentive_options(args)
        write_text(args.json, json.dumps(payload, indent=2) + "\n", what="the results", flag="--json")
    return 0


def _heads_precheck(setup: EvalSetup, heads: int) -> Callable[[torch.nn.Module, torch.Tensor], None]:
    """A check, run on one sample before extraction, that ``heads`` divides the encoder's token width."""

    @torch.no_grad()
    def check(encoder: torch.nn.Module, sample: torch.Tensor) -> None:
        tokens = encoder.to(setup.device).eval()(sample[None].to(setup.device))  # [1, T, D]
        check_num_heads(heads, tokens.shape[-1])

    return check


def _attentive_options(args: argparse.Namespace) -> dict[str, Any]:
    """The attentive probe's training options: its own defaults, overridden by --epochs/--lr."""
    given = {"epochs": args.epochs, "lr": args.lr}
    return {**ATTENTIVE_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}


def cmd_export(args: argparse.Namespace, registry: Any) -> int:
    check_output_file(args.out, flag="--out")  # before loading anything
    setup = _setup(args, registry, data=False)
    cfg = setup.cfg
    provider = registry.provider_of("encoder", cfg.encoder.name)
    exporters = getattr(registry.manager.get_plugin(provider.name), "EXPORTERS", None) or {}
    if args.export_format not in exporters:
        raise ConfigError(
            f"encoder '{cfg.encoder.name}' of plugin '{provider.name}' has no '{args.export_format}' exporter; "
            f"available: {', '.join(sorted(exporters)) or 'none'}."
        )
    encoder = build_encoder(cfg, registry, setup.ckpt, args.encoder)
    source = setup.ckpt.source if setup.ckpt else args.checkpoint
    metadata = {"source": source, "encoder": args.encoder, "plugin": cfg.plugin, "preset": cfg.preset}
    existed = Path(args.out).exists()
    try:
        with writing(args.out, what=f"the {args.export_format} export", flag="--out"):
            exported = exporters[args.export_format](encoder, Path(args.out), metadata)
    except OutputError:
        if not existed:
            Path(args.out).unlink(missing_ok=True)  # no half-written file under the name asked for
        raise
    print(exported.describe())
    return 0


def run_command(args: argparse.Namespace, registry: Any) -> int:
    """Entry point used by :func:`jepa_core.cli.main` for ``eval`` and ``export``."""
    if args.command == "export":
        return cmd_export(args, registry)
    return cmd_eval(args, registry)
