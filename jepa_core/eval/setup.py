"""What evaluating a frozen encoder needs: the config, the checkpoint, the device, the features.

``checkpoint`` is a checkpoint file of either format (:mod:`jepa_core.interop`) or a run
directory (its newest checkpoint). A released I-JEPA file holds no config: ``plugin``/``preset``
name the architecture (and ``overrides`` change it). The data: ``train``/``val`` are labelled
folders (one sub-folder per class) of the modality's folder dataset: the checkpoint's own dataset
when it reads folders (it has ``root``/``val_root``), else the one the encoder's plugin names
through its ``jepa_folder_dataset`` hook (``image_folder``, ``video_frames``, ``wav_folder``),
keeping shared options such as ``resolution``; without them the checkpoint config's own dataset
is used (e.g. ``synthetic_shapes``). Train features use the ``train_eval`` split (no
augmentation), val features the ``val`` split. Features are extracted once, in batches, on the
device.

>>> setup = load_setup(build_registry(), "runs/demo", train="/data/train", val="/data/val")   # doctest: +SKIP
>>> (encoder,) = encoders_to_evaluate(setup, "target").values()                              # doctest: +SKIP
>>> tx, ty, vx, vy = frozen_features(setup, encoder, pool="mean")                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import torch
from torch.utils.data import Subset

from jepa_core.build import build_dataset
from jepa_core.config import RunConfig, apply_overrides, field_types, set_value
from jepa_core.dist import DistInfo, select_device
from jepa_core.errors import ConfigError, DataError
from jepa_core.eval.classes import check_dataset_classes, check_label_counts
from jepa_core.eval.features import extract_features
from jepa_core.eval.lowshot import fraction_subset, labels_before_reading, per_class_subset
from jepa_core.eval.overlap import warn_shared_samples
from jepa_core.extract import build_encoder, encoder_label, preset_reference, run_config
from jepa_core.interop import Checkpoint, read_checkpoint
from jepa_core.preflight import check_input_shape
from jepa_core.registry import Registry

Precheck = Callable[[torch.nn.Module, torch.Tensor], None]
Features = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def eval_data_config(cfg: RunConfig, registry: Registry, train: str | None, val: str | None) -> RunConfig:
    """``cfg`` reading ``root=train, val_root=val``: its own dataset if that reads folders, else the
    folder dataset the encoder's plugin names (shared options, e.g. ``resolution``, carried over);
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


def folder_dataset(cfg: RunConfig, registry: Registry) -> str:
    """The folder dataset the encoder's plugin names (:class:`~jepa_core.specs.FolderDatasetSpec`,
    hook ``jepa_folder_dataset``); it must be registered."""
    provider = registry.provider_of("encoder", cfg.encoder.name)
    spec = registry.folder_dataset(provider.name)
    if spec is None:
        raise ConfigError(
            f"--train/--val need a dataset that reads folders, but '{cfg.data.name}' has no root/val_root and "
            f"plugin '{provider.name}' names no folder dataset (it implements no jepa_folder_dataset hook); "
            "set data.* to a folder dataset in a config file."
        )
    registry.get("dataset", spec.dataset)
    return spec.dataset


@attrs.frozen
class EvalSetup:
    """Everything an evaluation needs: the resolved config, the checkpoint (None: a preset at random
    init), the device and the registry."""

    cfg: RunConfig
    ckpt: Checkpoint | None
    device: torch.device
    registry: Registry


def load_setup(
    registry: Registry,
    checkpoint: str,
    *,
    plugin: str | None = None,
    preset: str | None = None,
    overrides: Sequence[str] = (),
    data: bool = False,
    train: str | None = None,
    val: str | None = None,
    device: str | None = None,
) -> EvalSetup:
    """Read ``checkpoint`` (or name a preset at random init), resolve its config (``data``: with the
    ``train``/``val`` folders, see :func:`eval_data_config`) and pick ``device`` (default: the
    config's ``train.device``)."""
    named = preset_reference(checkpoint, registry)
    ckpt = None if named else read_checkpoint(checkpoint)
    if named:
        plugin, preset = plugin or named[0], preset or named[1]
    cfg = run_config(ckpt, registry, plugin=plugin, preset=preset)
    if data:
        cfg = eval_data_config(cfg, registry, train, val)
    cfg = apply_overrides(cfg, list(overrides), registry)
    option = "--device" if device else "train.device"
    return EvalSetup(cfg, ckpt, select_device(device or cfg.train.device, DistInfo(), option=option), registry)


def encoders_to_evaluate(
    setup: EvalSetup, which: str, *, compare_random_init: bool = False
) -> dict[str, torch.nn.Module]:
    """``which`` encoder of the checkpoint (or the preset at random init), and the same architecture
    at random init when ``compare_random_init``; keyed by a label for the results."""
    label = encoder_label(setup.cfg, setup.registry, which) if setup.ckpt is not None else "random init"
    encoders = {label: build_encoder(setup.cfg, setup.registry, setup.ckpt, which)}
    if compare_random_init and setup.ckpt is not None:
        encoders["random init"] = build_encoder(setup.cfg, setup.registry, None)
    return encoders


def frozen_features(
    setup: EvalSetup,
    encoder: torch.nn.Module,
    *,
    pool: str,
    batch_size: int | None = None,
    labels_per_class: int | None = None,
    label_fraction: float | None = None,
    seed: int = 0,
    precheck: Precheck | None = None,
) -> Features:
    """Train and val features and labels ``(tx, ty, vx, vy)`` of ``encoder`` (``pool``: mean, last4
    or none), the train part cut to ``labels_per_class`` or ``label_fraction`` (seeded) when given.

    The data is checked first (labelled, the encoder's input shape, then ``precheck`` on one
    sample); ``batch_size`` defaults to the config's ``probe.batch_size``.
    """
    cfg, registry = setup.cfg, setup.registry
    train_set = build_dataset(cfg, registry, "train_eval")
    val_set = build_dataset(cfg, registry, "val")
    check_dataset_classes(train_set, what=f"the train set of dataset '{cfg.data.name}'")
    warn_shared_samples(train_set, val_set, what=f"dataset '{cfg.data.name}'")
    check_input_shape(encoder, train_set[0][0], cfg)
    if precheck is not None:
        precheck(encoder, train_set[0][0])
    batch = batch_size or cfg.probe.batch_size
    low_shot = labels_per_class is not None or label_fraction is not None  # few per class on purpose
    known = {name: labels_before_reading(ds) for name, ds in (("train", train_set), ("val", val_set))}
    for name, y in known.items():  # a flat folder, found before any sample is encoded
        if y is not None and bool((y < 0).any()):
            raise _unlabelled(name, cfg)
    train_known = known["train"]
    if low_shot and train_known is not None:  # the subset first: only its samples are encoded
        chosen = _low_shot(train_known, labels_per_class, label_fraction, seed, getattr(train_set, "classes", None))
        train_set = Subset(train_set, chosen.tolist())
    tx, ty = extract_features(encoder, train_set, batch_size=batch, device=setup.device, pool=pool)
    vx, vy = extract_features(encoder, val_set, batch_size=batch, device=setup.device, pool=pool)
    for name, y in (("train", ty), ("val", vy)):
        if bool((y < 0).any()):
            raise _unlabelled(name, cfg)
    if low_shot and train_known is None:
        idx = _low_shot(ty, labels_per_class, label_fraction, seed, getattr(train_set, "classes", None))
        tx, ty = tx[idx], ty[idx]
    check_label_counts(ty, what=f"the train set of dataset '{cfg.data.name}'", warn_few=not low_shot)
    return tx, ty, vx, vy


def _low_shot(
    labels: torch.Tensor, per_class: int | None, fraction: float | None, seed: int, names: Sequence[str] | None
) -> torch.Tensor:
    """The seeded low-shot indices into ``labels``: ``per_class`` of each class, else ``fraction``."""
    if per_class is not None:
        return per_class_subset(labels, per_class, seed=seed, class_names=names)
    assert fraction is not None
    return fraction_subset(labels, fraction, seed=seed)


def _unlabelled(split: str, cfg: RunConfig) -> DataError:
    return DataError(
        f"the {split} set of dataset '{cfg.data.name}' has unlabelled samples (label -1); "
        "evaluation needs one sub-folder per class."
    )
