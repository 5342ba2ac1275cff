"""``jepa eval``: evaluate a frozen encoder from a checkpoint (:mod:`jepa_core.eval.setup`).

    jepa eval linear-probe --checkpoint CKPT [--train PATH --val PATH] [--encoder target|context]
                           [--pool mean|last4] [--labels-per-class K | --label-fraction F] [--seed S]
                           [--solver adamw|lbfgs] [--l2 L2]
    jepa eval knn --checkpoint CKPT --k 20 [--temperature 0.07] [...same options]
    jepa eval attentive-probe --checkpoint CKPT [--epochs 20] [--lr 1e-3] [--heads H] [...same options,
                              but no --pool: it uses all output tokens]
    jepa eval representation --checkpoint CKPT [--data PATH] [--samples 1024] [--seed S]
                             [--compare-random-init] [--encoder target|context] [--json FILE]

    jepa eval latents --checkpoint CKPT --out FILE.png [--data PATH] [--samples 2000] [--seed S]
                      [--compare-random-init] [--encoder target|context]

``representation`` needs no labels: the collapse report of a run's end
(:mod:`jepa_core.representation`: effective rank, LiDAR, feature spread) for any checkpoint.
``latents`` draws the online evaluation's latent picture (:mod:`jepa_core.latents`) of any
checkpoint, beside the random init's with ``--compare-random-init``; unlabelled samples are grey.

``CKPT`` is a checkpoint file (jepaforge or released I-JEPA) or a run directory; a released
I-JEPA file holds no config: add ``--plugin image --preset vith14`` (and ``--set`` overrides).

``attentive-probe`` (V-JEPA's protocol, :mod:`jepa_core.eval.attentive`) keeps every output token
(``[N, T, D]``, held in CPU memory) and trains a cross-attention pooler + linear head on them; its
defaults are its own (20 epochs, lr 1e-3, weight decay 0.05, batch 128), not the config's ``probe``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import time
from pathlib import Path
from typing import Any

import attrs
import torch
from torch.utils.data import Subset

from jepa_core.build import build_dataset
from jepa_core.cli.common import (
    SubParsers,
    add_checkpoint_args,
    path_arg,
    positive_float,
    positive_int,
)
from jepa_core.data import dataset_len
from jepa_core.errors import ConfigError, DataError
from jepa_core.eval.attentive import attentive_probe, check_num_heads, check_probe_options
from jepa_core.eval.features import extract_features
from jepa_core.eval.knn import KnnResult, knn_classify
from jepa_core.eval.probe import ProbeResult, lbfgs_probe, linear_probe
from jepa_core.eval.setup import EvalSetup, Precheck, encoders_to_evaluate, frozen_features, load_setup
from jepa_core.latents import plot_plane, principal_plane, write_png
from jepa_core.monitors import tile
from jepa_core.online_eval import DEFAULT_VAL_SAMPLES
from jepa_core.registry import Registry
from jepa_core.representation import NUM_SAMPLES, describe, representation_report, seeded_indices
from jepa_core.safe_write import check_output_file, write_text

ATTENTIVE = "attentive-probe"
CV_FOLDS = 5  # folds of the L-BFGS probe's choice of its L2 penalty
ATTENTIVE_DEFAULTS: dict[str, Any] = {
    name: inspect.signature(attentive_probe).parameters[name].default
    for name in ("epochs", "lr", "weight_decay", "batch_size")
}


def add_parser(sub: SubParsers) -> None:
    e = sub.add_parser("eval", help="evaluate a frozen encoder (linear probe, k-NN, attentive probe, collapse report)")
    esub = e.add_subparsers(dest="eval_command", required=True)
    lp = esub.add_parser("linear-probe", help="linear classifier on frozen features; top-1/top-5")
    _add_eval_args(lp)
    lp.add_argument("--epochs", type=positive_int, help="probe epochs (default: the config's probe.epochs)")
    lp.add_argument("--lr", type=positive_float, help="probe learning rate (default: probe.lr)")
    lp.add_argument(
        "--solver",
        choices=["adamw", "lbfgs"],
        default="adamw",
        help="adamw: mini-batch AdamW (the config's probe); lbfgs: full-batch L-BFGS logistic regression "
        f"with its L2 penalty chosen by {CV_FOLDS}-fold cross-validation on the train labels (default adamw)",
    )
    lp.add_argument("--l2", type=float, help="with --solver lbfgs: this L2 penalty instead of cross-validation")
    ap = esub.add_parser(
        "attentive-probe", help="attentive pooler + linear head on all frozen output tokens (V-JEPA); top-1/top-5"
    )
    _add_eval_args(ap, pools=False)
    ap.add_argument("--epochs", type=int, help=f"probe epochs (default {ATTENTIVE_DEFAULTS['epochs']})")
    ap.add_argument("--lr", type=float, help=f"probe learning rate (default {ATTENTIVE_DEFAULTS['lr']:g})")
    ap.add_argument(
        "--heads",
        type=int,
        help="attention heads, a divisor of the token width (default: the largest of 8, 4, 2, 1 that divides it)",
    )
    ap.add_argument(
        "--blocks",
        type=int,
        default=1,
        help="probe blocks: N-1 self-attention blocks, then the cross-attention pooler "
        "(default 1, V-JEPA; V-JEPA 2 uses 4)",
    )
    rep = esub.add_parser(
        "representation", help="effective rank (RankMe), LiDAR and feature spread of the features; no labels"
    )
    add_checkpoint_args(rep)
    _add_data_arg(rep)
    rep.add_argument("--samples", type=int, default=NUM_SAMPLES, help=f"samples drawn (default {NUM_SAMPLES})")
    rep.add_argument("--seed", type=int, default=0, help="seed of the samples and of LiDAR's token views (default 0)")
    rep.add_argument("--device", help="cpu, cuda, ... (default: the config's train.device)")
    rep.add_argument(
        "--compare-random-init", action="store_true", help="also measure the same architecture at random init"
    )
    rep.add_argument("--json", type=path_arg, help="also write the report to this JSON file")
    lat = esub.add_parser(
        "latents", help="picture of the features on their two principal axes, coloured by class (PNG)"
    )
    add_checkpoint_args(lat)
    lat.add_argument("--out", type=path_arg, required=True, help="the PNG file to write")
    _add_data_arg(lat)
    lat.add_argument(
        "--samples", type=int, default=DEFAULT_VAL_SAMPLES, help=f"samples drawn (default {DEFAULT_VAL_SAMPLES})"
    )
    lat.add_argument("--seed", type=int, default=0, help="seed of the samples (default 0)")
    lat.add_argument("--device", help="cpu, cuda, ... (default: the config's train.device)")
    lat.add_argument(
        "--compare-random-init", action="store_true", help="draw the same architecture at random init beside it"
    )
    knn = esub.add_parser("knn", help="weighted k-NN on cosine similarity; top-1/top-5")
    _add_eval_args(knn)
    knn.add_argument("--k", type=int, default=20, help="neighbours (default 20)")
    knn.add_argument("--temperature", type=positive_float, default=0.07, help="vote weight exp(sim / T) (default 0.07)")


def _add_data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", type=path_arg, help="folder to sample from, as `jepa train --data` (default: the checkpoint's own)"
    )


def _check_data_folder(data: str | None) -> None:
    if data is not None and not Path(data).is_dir():
        raise DataError(f"--data path '{data}' is not a directory.")


def _add_eval_args(p: argparse.ArgumentParser, *, pools: bool = True) -> None:
    add_checkpoint_args(p)
    p.add_argument("--train", type=path_arg, help="labelled train image folder (one sub-folder per class)")
    p.add_argument("--val", type=path_arg, help="labelled val image folder (the same class sub-folders)")
    if pools:
        p.add_argument(
            "--pool",
            choices=["mean", "last4"],
            default="mean",
            help="mean of output tokens, or concatenated means of the last 4 blocks (normed)",
        )
    else:  # hidden, parsed only to reject it with a clear sentence (see run)
        p.add_argument("--pool", default=None, help=argparse.SUPPRESS)
    shots = p.add_mutually_exclusive_group()
    shots.add_argument("--labels-per-class", type=int, metavar="K", help="use exactly K train samples per class")
    shots.add_argument(
        "--label-fraction",
        type=float,
        metavar="F",
        help="use a per-class fraction of the train samples, at least 1 (e.g. 0.01)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the low-shot subset and the probe (default 0)")
    p.add_argument("--batch-size", type=positive_int, help="feature-extraction batch (default: probe.batch_size)")
    p.add_argument("--device", help="cpu, cuda, ... (default: the config's train.device)")
    p.add_argument(
        "--compare-random-init",
        action="store_true",
        help="also evaluate the same architecture at random init (a baseline)",
    )
    p.add_argument("--json", type=path_arg, help="also write the results to this JSON file")


def _fmt(result: Any) -> str:
    top5 = f", top-5 {result.top5:.1f}%" if result.top5 is not None else ""
    return (
        f"top-1 {result.top1:.1f}%{top5} on {result.num_val} val samples "
        f"({result.num_train} train samples, {result.num_classes} classes)"
    )


def _check_linear_args(args: argparse.Namespace) -> None:
    if args.solver == "lbfgs":
        given = [f"--{name} {getattr(args, name)}" for name in ("epochs", "lr") if getattr(args, name) is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to --solver adamw only; L-BFGS runs to convergence, drop it.")
        if args.l2 is not None and not (math.isfinite(args.l2) and args.l2 >= 0):
            raise ConfigError(f"--l2 must be a finite number >= 0, got {args.l2}.")
        if args.l2 is None and args.labels_per_class is not None and args.labels_per_class < CV_FOLDS:
            raise ConfigError(
                f"--labels-per-class {args.labels_per_class} is too few for the {CV_FOLDS}-fold cross-validation "
                f"that chooses the L-BFGS probe's L2 penalty; give --l2 or at least {CV_FOLDS} labels per class."
            )
    elif args.l2 is not None:
        raise ConfigError(f"--l2 {args.l2} applies to --solver lbfgs only; add --solver lbfgs or drop --l2.")


def _check_attentive_args(args: argparse.Namespace) -> None:
    if args.pool is not None:
        raise ConfigError(
            f"--pool {args.pool} does not apply to attentive-probe, which uses all output tokens; drop --pool."
        )
    check_probe_options(**_attentive_options(args))
    if args.heads is not None and args.heads < 1:
        raise ConfigError(f"--heads must be >= 1, got {args.heads}.")
    if args.blocks < 1:
        raise ConfigError(f"--blocks must be >= 1 (the cross-attention pooler), got {args.blocks}.")


def run(args: argparse.Namespace, registry: Registry) -> int:
    """Evaluate, print one line per encoder, and write ``--json`` when given."""
    if args.eval_command == "representation":
        return _representation(args, registry)
    if args.eval_command == "latents":
        return _latents(args, registry)
    attentive = args.eval_command == ATTENTIVE
    if attentive:
        _check_attentive_args(args)
    if args.eval_command == "linear-probe":
        _check_linear_args(args)
    pool = "none" if attentive else args.pool
    pool_text = "all output tokens" if attentive else f"{args.pool} pool"
    if args.json:
        check_output_file(args.json, flag="--json")  # before any evaluation work
    setup, source, fmt = _setup(args, registry, train=args.train, val=args.val)
    shots = (
        f", {args.labels_per_class} labels per class"
        if args.labels_per_class is not None
        else f", label fraction {args.label_fraction}"
        if args.label_fraction is not None
        else ""
    )
    print(
        f"evaluating {source} ({fmt}), {pool_text}{shots}, data '{setup.cfg.data.name}', device {setup.device}",
        flush=True,
    )
    results: dict[str, Any] = {}
    encoders = encoders_to_evaluate(setup, args.encoder, compare_random_init=args.compare_random_init)
    for label, encoder in encoders.items():
        start = time.perf_counter()
        precheck = _heads_precheck(setup, args.heads) if attentive and args.heads is not None else None
        tx, ty, vx, vy = frozen_features(
            setup,
            encoder,
            pool=pool,
            batch_size=args.batch_size,
            labels_per_class=args.labels_per_class,
            label_fraction=args.label_fraction,
            seed=args.seed,
            precheck=precheck,
        )
        took = time.perf_counter() - start
        extra: dict[str, Any] = {}
        result: ProbeResult | KnnResult
        if attentive:
            heads = check_num_heads(args.heads, tx.shape[-1])
            result = attentive_probe(
                tx,
                ty,
                vx,
                vy,
                **_attentive_options(args),
                num_heads=heads,
                num_blocks=args.blocks,
                seed=args.seed,
                device=setup.device,
            )
            blocks = f", {args.blocks} blocks" if args.blocks > 1 else ""
            what = f"attentive probe ({heads} heads{blocks})"
            extra["heads"] = heads
            extra["blocks"] = args.blocks
        elif args.eval_command == "knn":
            result = knn_classify(tx, ty, vx, vy, k=args.k, temperature=args.temperature)
            what = f"k-NN (k={result.k}, T={result.temperature})"
        elif args.solver == "lbfgs":
            result = lbfgs_probe(tx, ty, vx, vy, l2=args.l2, folds=CV_FOLDS, seed=args.seed)
            chosen = "given" if args.l2 is not None else f"{CV_FOLDS}-fold cross-validation on the train labels"
            what = f"L-BFGS linear probe (L2 {result.l2:g}, {chosen})"
        else:
            probe = setup.cfg.probe
            result = linear_probe(
                tx,
                ty,
                vx,
                vy,
                epochs=args.epochs or probe.epochs,
                lr=args.lr or probe.lr,
                weight_decay=probe.weight_decay,
                seed=args.seed,
                device=setup.device,
            )
            what = "linear probe"
        print(f"{what} ({label}): {_fmt(result)}; features {tuple(tx.shape[1:])} in {took:.1f}s", flush=True)
        results[label] = {**attrs.asdict(result), **extra, "feature_seconds": took}
    if args.json:
        payload = {
            "command": args.eval_command,
            "checkpoint": source,
            "format": setup.ckpt.format if setup.ckpt else "preset",
            "pool": pool,
            "labels_per_class": args.labels_per_class,
            "label_fraction": args.label_fraction,
            "seed": args.seed,
            "data": setup.cfg.data.name,
            **({"solver": args.solver} if args.eval_command == "linear-probe" else {}),
            "results": results,
        }
        if attentive:
            payload["probe"] = _attentive_options(args)
        write_text(args.json, json.dumps(payload, indent=2) + "\n", what="the results", flag="--json")
    return 0


def _setup(
    args: argparse.Namespace, registry: Registry, *, train: str | None, val: str | None
) -> tuple[EvalSetup, str, str]:
    """The checkpoint's evaluation setup (reading ``train``/``val`` folders when given), its source and
    a description of its format."""
    setup = load_setup(
        registry,
        args.checkpoint,
        plugin=args.plugin,
        preset=args.preset,
        overrides=args.overrides,
        data=True,
        train=train,
        val=val,
        device=args.device,
    )
    source = setup.ckpt.source if setup.ckpt else args.checkpoint
    fmt = f"{setup.ckpt.format} format" if setup.ckpt else "preset at random init"
    return setup, source, fmt


def _representation(args: argparse.Namespace, registry: Registry) -> int:
    """``jepa eval representation``: one line of the collapse report, and ``--json``."""
    if args.samples < 2:
        raise ConfigError(f"--samples must be >= 2 (a spread needs two samples), got {args.samples}.")
    _check_data_folder(args.data)
    if args.json:
        check_output_file(args.json, flag="--json")
    setup, source, fmt = _setup(args, registry, train=args.data, val=args.data)
    print(f"measuring {source} ({fmt}), data '{setup.cfg.data.name}', device {setup.device}", flush=True)
    encoders = encoders_to_evaluate(setup, args.encoder, compare_random_init=args.compare_random_init)
    start = time.perf_counter()
    report = representation_report(
        encoders,
        build_dataset(setup.cfg, registry, "train_eval"),
        device=setup.device,
        num_samples=args.samples,
        seed=args.seed,
    )
    print(f"{describe(report)} in {time.perf_counter() - start:.1f}s", flush=True)
    if args.json:
        payload = {"command": "representation", "checkpoint": source, "data": setup.cfg.data.name, **report}
        write_text(args.json, json.dumps(payload, indent=2) + "\n", what="the report", flag="--json")
    return 0


def _latents(args: argparse.Namespace, registry: Registry) -> int:
    """``jepa eval latents``: the latent picture of each encoder, side by side in one PNG file."""
    if args.samples < 2:
        raise ConfigError(f"--samples must be >= 2 (principal axes need two samples), got {args.samples}.")
    _check_data_folder(args.data)
    if Path(args.out).suffix.lower() != ".png":
        raise ConfigError(f"--out '{args.out}' must name a .png file.")
    check_output_file(args.out, flag="--out")
    setup, source, fmt = _setup(args, registry, train=args.data, val=args.data)
    print(f"drawing {source} ({fmt}), data '{setup.cfg.data.name}', device {setup.device}", flush=True)
    dataset = build_dataset(setup.cfg, registry, "train_eval")
    size = dataset_len(dataset)
    idx = seeded_indices(size, args.samples, torch.Generator().manual_seed(args.seed))
    samples = Subset(dataset, idx.tolist())
    pictures, shares = [], []
    encoders = encoders_to_evaluate(setup, args.encoder, compare_random_init=args.compare_random_init)
    for label, encoder in encoders.items():
        x, y = extract_features(encoder, samples, batch_size=setup.cfg.probe.batch_size, device=setup.device)
        plane = principal_plane(x)
        pictures.append(plot_plane(plane.coords, y))
        shares.append(f"{label}: the two axes hold {plane.variance_share:.0%} of the variance")
    write_png(tile(pictures, gap=8), args.out)
    order = ", left to right" if len(shares) > 1 else ""
    print(f"latent picture of {len(idx)} samples ({'; '.join(shares)}{order}) -> {args.out}", flush=True)
    return 0


def _heads_precheck(setup: EvalSetup, heads: int) -> Precheck:
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
