"""Checks a run makes before training, so a config or data mistake is one sentence, not a crash
hours in: the batch fits the data, the probe's data has labels, the masker can draw masks, the
samples have the encoder's shape, the online evaluation's subsets fit.

>>> check_batch_fits(build_dataset(cfg, registry, "train"), cfg)       # doctest: +SKIP
>>> check_masker(parts.masker, parts.encoder.token_grid, 64, cfg)      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch

from jepa_core.build import SplitCache
from jepa_core.config import RunConfig
from jepa_core.errors import ConfigError, DataError, RegistryError
from jepa_core.eval.classes import MIN_CLASSES, check_dataset_classes, dataset_class_count
from jepa_core.eval.overlap import warn_shared_samples
from jepa_core.interfaces import Masker
from jepa_core.online_eval import EvalSubsets, choose_subsets, has_labels
from jepa_core.registry import Registry


def check_masker(masker: Masker, grid: tuple[int, ...], batch_size: int, cfg: RunConfig) -> Any:
    """Draw one batch of masks on ``grid`` so an impossible masker config fails before training.

    The masker raises :class:`~jepa_core.errors.MaskingError` (one sentence naming the values)
    when, e.g., more targets are asked for than fit on the grid. Returns the masks.

    >>> check_masker(parts.masker, parts.encoder.token_grid, 64, cfg)   # doctest: +SKIP
    """
    return masker(batch_size, tuple(grid), torch.Generator().manual_seed(cfg.train.seed))


def check_probe_data(cfg: RunConfig, registry: Registry, splits: SplitCache | None = None) -> None:
    """Fail before training when the end-of-run probe could not run: no val split, or no labels.

    Builds the ``val`` split (the dataset raises its own one-sentence error when there is none)
    and reads the label of its first sample; ``splits`` keeps what it builds for the run.

    >>> check_probe_data(cfg, registry)        # doctest: +SKIP
    """
    splits = splits or SplitCache(cfg, registry)
    try:
        val = splits("val")
    except DataError as err:
        raise DataError(
            f"{str(err).rstrip('.')} (the end-of-run probe, probe.enabled=true, reads the val split; "
            "set probe.enabled=false to train without it)."
        ) from err
    if len(val) == 0:
        raise DataError(
            f"probe.enabled=true needs a non-empty val split, but dataset '{cfg.data.name}' has none; "
            "set one (e.g. data.val_root) or probe.enabled=false."
        )
    label = int(val[0][1])
    if label < 0:
        raise DataError(
            f"probe.enabled=true needs class labels, but dataset '{cfg.data.name}' gives label {label} "
            "(a flat folder of images); use one sub-folder per class or set probe.enabled=false."
        )
    check_dataset_classes(val, what=f"the val split of dataset '{cfg.data.name}' (probe.enabled=true)")


def check_batch_fits(dataset: Any, cfg: RunConfig) -> None:
    """Fail before any model is built when one global batch needs more samples than the dataset has.

    >>> check_batch_fits(dataset, cfg)        # doctest: +SKIP
    """
    try:
        n = len(dataset)
    except (OverflowError, ValueError) as err:  # a size beyond 2**63 or below 0
        raise ConfigError(
            f"dataset '{cfg.data.name}' cannot have the size its options ask for ({err}); check the data.* values."
        ) from err
    if cfg.train.batch_size > n:
        options = cfg.data.options
        fraction = getattr(options, "val_fraction", 0.0)
        held_out = (
            f" after data.val_fraction={fraction:g} held out the val split"
            if fraction and getattr(options, "val_root", None) is None
            else ""
        )
        raise DataError(
            f"the training split of dataset '{cfg.data.name}' has {n} samples{held_out}, fewer than one global "
            f"batch of {cfg.train.batch_size}; lower train.batch_size to at most {n}."
        )


def check_input_shape(encoder: torch.nn.Module, sample: torch.Tensor, cfg: RunConfig) -> None:
    """Fail before training when the data's sample shape is not what the encoder expects.

    >>> check_input_shape(parts.encoder, first_readable_sample(dataset, 0), cfg)   # doctest: +SKIP
    """
    expected = getattr(encoder, "expected_input_shape", None)
    if expected is None or tuple(sample.shape) == tuple(expected):
        return
    got, want = tuple(sample.shape), tuple(expected)
    differing = [i for i in range(min(len(got), len(want))) if got[i] != want[i]]
    settings = [
        *_settings_of_size(cfg.data.options, "data", {got[i] for i in differing}),
        *_settings_of_size(cfg.encoder.options, "encoder", {want[i] for i in differing}),
    ]
    named = f" ({', '.join(settings)})" if settings else ""
    raise ConfigError(
        f"dataset '{cfg.data.name}' yields inputs of shape {got} but encoder "
        f"'{cfg.encoder.name}' expects {want}; make the data and encoder sizes agree{named}."
    )


def _settings_of_size(options: Any, section: str, sizes: set[int]) -> list[str]:
    """The integer options of ``section`` whose values are one of the mismatched ``sizes``, as ``key=value``."""
    if not attrs.has(type(options)):
        return []
    return [
        f"{section}.{name}={value}"
        for name in attrs.fields_dict(type(options))
        if name.endswith(_SIZE_NAMES)
        and isinstance(value := getattr(options, name), int)
        and not isinstance(value, bool)
        and value in sizes
    ]


# option names that set an input dimension, by the names the built-in plugins use
_SIZE_NAMES = ("resolution", "img_size", "image_size", "frames", "mels", "chans", "channels")


def online_eval_subsets(
    cfg: RunConfig, registry: Registry, log: Callable[[str], None], splits: SplitCache | None = None
) -> EvalSubsets | None:
    """The online evaluation's fixed subsets, or None when it is off (``train.eval_every``).

    Checked before any model is built: ``eval_every > 0`` on a dataset without labels (or of
    one class), or a subset size larger than the data when the user asked for it (an explicit
    ``eval_every`` or sizes other than the preset's), is a :class:`ConfigError`; a preset's sizes
    are capped.
    ``splits`` keeps the datasets it builds for the run.

    >>> online_eval_subsets(cfg, registry, print)        # doctest: +SKIP
    """
    every = cfg.train.eval_every
    if every == 0:
        return None
    splits = splits or SplitCache(cfg, registry)
    train_eval = splits("train_eval")
    if not has_labels(train_eval):
        if every is not None:
            raise ConfigError(
                f"train.eval_every={every} needs class labels, but dataset '{cfg.data.name}' gives none; "
                "use labelled data or set train.eval_every=0."
            )
        log(f"online evaluation is off: dataset '{cfg.data.name}' has no labels")
        return None
    classes = dataset_class_count(train_eval)
    if classes is not None and classes < MIN_CLASSES:  # every prediction would be right
        if every is not None:
            raise ConfigError(
                f"train.eval_every={every} needs at least {MIN_CLASSES} classes, but dataset '{cfg.data.name}' has "
                f"{classes}; use data of several classes or set train.eval_every=0."
            )
        log(f"online evaluation is off: dataset '{cfg.data.name}' has {classes} class")
        return None
    try:
        val = splits("val")
    except DataError:
        val = None
    if val is not None:
        warn_shared_samples(train_eval, val, what=f"dataset '{cfg.data.name}' (the online evaluation)")
    strict = every is not None or eval_sizes_chosen(cfg, registry)
    return choose_subsets(train_eval, val, cfg.eval, seed=cfg.train.seed, strict=strict)


def eval_sizes_chosen(cfg: RunConfig, registry: Registry) -> bool:
    """Whether the online-evaluation subset sizes were chosen for this run (they differ from the
    preset's, or the preset is unknown): such sizes must fit the data, a preset's are capped to it.

    >>> eval_sizes_chosen(registry.preset("image", "demo").build(), registry)     # doctest: +SKIP
    False
    """
    try:
        preset = registry.preset(cfg.plugin, cfg.preset).build().eval
    except RegistryError:
        return True
    return (cfg.eval.train_samples, cfg.eval.val_samples) != (preset.train_samples, preset.val_samples)
