"""Frozen records that plugins yield to describe what they provide.

Each record names a component, the attrs class holding its options (every field with a
default), and a ``build`` callable. The registry collects them from every plugin; the
trainer builds components from a run config by name.

Example::

    @attrs.frozen
    class SeqEncoderConfig:
        width: int = 32

    EncoderSpec(name="seq_mlp", config_type=SeqEncoderConfig,
                build=lambda cfg: SeqEncoder(cfg.width), description="toy 1-D encoder",
                example=lambda: SeqEncoderConfig(width=8))   # small options for conformance tests
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

SPLITS = ("train", "train_eval", "val")


# Typed converters (a bare ``tuple`` converter leaves its element type unknown to type checkers).
def _names(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


def _optional_ints(values: Iterable[int] | None) -> tuple[int, ...] | None:
    return None if values is None else tuple(values)


@attrs.frozen(kw_only=True)
class Example:
    """Small options for conformance tests (:mod:`jepa_core.testing`), plus what the kit needs.

    A spec's ``example`` callable returns either a bare options record (an instance of its
    ``config_type``) or an ``Example`` when the kit needs more than the options:

    - ``grid``: maskers only, the token grid the masks are drawn on (required for a masker);
    - ``input_shape``: encoders only, the shape of ONE input sample, used when the built
      encoder has no ``expected_input_shape`` attribute (which wins when present);
    - ``encoder``: predictors and target providers only, the registered encoder (built from
      its own example) they are paired with; ``None`` pairs them with every registered
      encoder that has an example (for modality-agnostic parts such as ``ema``).

    Keep examples tiny (one block, a few tokens): every registered component is checked on
    CPU in the test suite.

    >>> Example(options=SeqBlockConfig(), grid=(16,))        # doctest: +SKIP
    """

    options: Any
    grid: tuple[int, ...] | None = attrs.field(default=None, converter=_optional_ints)
    input_shape: tuple[int, ...] | None = attrs.field(default=None, converter=_optional_ints)
    encoder: str | None = None


def _is_attrs_class(_inst: Any, _attr: attrs.Attribute, value: Any) -> None:
    if not attrs.has(value):
        raise TypeError(f"config_type must be an attrs class, got {value!r}")


@attrs.frozen(kw_only=True)
class ComponentSpec:
    """Base record: a named, configurable component.

    ``example`` (optional) returns small options for conformance tests: an instance of
    ``config_type``, or an :class:`Example` carrying one plus a masker's grid, an encoder's
    input shape or a predictor's paired encoder. :func:`jepa_core.testing.conformance_cases`
    checks every registered component with it (``placeholder`` specs, the core's ``none`` parts,
    are skipped: there is nothing to check). Without one, losses and target providers are
    checked with their default options (cheap); encoders, predictors, maskers and datasets are
    reported as skipped (their defaults may be large, need files or need a grid).
    """

    name: str
    config_type: type = attrs.field(validator=_is_attrs_class)
    build: Callable[..., Any]
    description: str = ""
    example: Callable[[], Any] | None = None
    placeholder: bool = False  # the core's ``none`` parts, for objectives that do without one

    kind: str = attrs.field(init=False, default="component")


@attrs.frozen(kw_only=True)
class EncoderSpec(ComponentSpec):
    """``build(config) -> nn.Module`` implementing :class:`~jepa_core.interfaces.Encoder`."""

    kind: str = attrs.field(init=False, default="encoder")


@attrs.frozen(kw_only=True)
class PredictorSpec(ComponentSpec):
    """``build(config, encoder) -> nn.Module`` implementing the Predictor protocol."""

    kind: str = attrs.field(init=False, default="predictor")


@attrs.frozen(kw_only=True)
class MaskerSpec(ComponentSpec):
    """``build(config) -> Masker``; the masker must be picklable (it runs in loader workers)."""

    kind: str = attrs.field(init=False, default="masker")


@attrs.frozen(kw_only=True)
class TargetProviderSpec(ComponentSpec):
    """``build(config, context_encoder) -> nn.Module`` implementing TargetProvider.

    ``probed``: whether probes, the online evaluation and ``jepa eval``'s default read the
    provider's encoder (an EMA teacher: the trained network, averaged); ``False`` for a teacher
    that does not learn (``frozen``) and for ``none``: they read the context encoder, and the
    conformance kit does not ask the provider's parameters to track the encoder's.
    """

    kind: str = attrs.field(init=False, default="target")
    probed: bool = True


@attrs.frozen(kw_only=True)
class LossSpec(ComponentSpec):
    """``build(config) -> Loss``."""

    kind: str = attrs.field(init=False, default="loss")


@attrs.frozen(kw_only=True)
class DatasetSpec(ComponentSpec):
    """``build(config, split) -> torch Dataset`` of ``(input_tensor, label_int)`` pairs.

    ``split`` is one of :data:`SPLITS`: ``"train"`` (pretraining, augmented), ``"train_eval"``
    (the same samples without augmentation, for probes) or ``"val"`` (held out). A dataset
    without labels returns label ``-1``. ``sample_noun`` is what one sample is called in the
    console's counts and speeds (``"images"``: "img/s"; ``"clips"``: "clips/s").
    """

    kind: str = attrs.field(init=False, default="dataset")
    sample_noun: str = "samples"


@attrs.frozen(kw_only=True)
class RegularizerSpec(ComponentSpec):
    """``build(config) -> Regularizer`` (:mod:`jepa_core.regularizers`): embeddings ``[N, D]`` ->
    scalar, small for spread-out and large for collapsed batches."""

    kind: str = attrs.field(init=False, default="regularizer")


OPTIONAL_PARTS: tuple[str, ...] = ("target", "predictor", "regularizer")


def _parts(_inst: Any, attr: attrs.Attribute, value: tuple[str, ...]) -> None:
    bad = [v for v in value if v not in OPTIONAL_PARTS]
    if bad:
        raise ValueError(f"{attr.name} may only name {', '.join(OPTIONAL_PARTS)}, got {bad}")


@attrs.frozen(kw_only=True)
class ObjectiveSpec(ComponentSpec):
    """``build(config, encoder) -> Objective`` (:mod:`jepa_core.objectives`).

    ``requires``: run-config sections that must name a real component (not ``none``);
    ``excludes``: sections that must be ``none`` because the objective never uses them. Both
    are checked before any work.
    """

    requires: tuple[str, ...] = attrs.field(default=(), converter=_names, validator=_parts)
    excludes: tuple[str, ...] = attrs.field(default=(), converter=_names, validator=_parts)
    kind: str = attrs.field(init=False, default="objective")


@attrs.frozen(kw_only=True)
class PresetSpec:
    """A named recipe: ``build() -> RunConfig`` with every value set."""

    name: str
    build: Callable[[], Any]
    description: str = ""


@attrs.frozen(kw_only=True)
class ConfigFormatSpec:
    """A foreign config file form (e.g. the official I-JEPA YAML files) and how to map it.

    ``detect(data) -> bool`` says whether parsed file ``data`` (a dict) is in this form;
    ``convert(data, registry, source) -> ImportedConfig`` maps it to a run config
    (:class:`jepa_core.config_import.ImportedConfig`: the config plus notes on every field that
    has no exact counterpart), raising :class:`~jepa_core.errors.ConfigError` for values that
    cannot be honoured. ``jepa train --config FILE`` and ``jepa config import FILE`` use it.
    """

    name: str
    detect: Callable[[dict], bool]
    convert: Callable[..., Any]
    description: str = ""


@attrs.frozen(kw_only=True)
class LoggerSpec:
    """A metrics logger that ``train.loggers`` can select (see :mod:`jepa_core.loggers`).

    ``build(context) -> Logger`` gets a :class:`jepa_core.loggers.LoggerContext` (run directory,
    resolved config, start step) and returns an object with ``log_scalar``, ``log_image``,
    ``log_config``, ``flush`` and ``close``. ``requires`` names the modules it imports; when one
    is missing the run stops before any work, telling the user to install the ``extra``
    (``pip install 'jepaforge[EXTRA]'``) or ``requires`` itself.
    """

    name: str
    build: Callable[[Any], Any]
    description: str = ""
    requires: tuple[str, ...] = attrs.field(default=(), converter=_names)
    extra: str | None = None


@attrs.frozen(kw_only=True)
class FolderDatasetSpec:
    """The dataset that reads labelled folders (one sub-folder per class) of a plugin's modality.

    ``jepa eval --train/--val`` on a checkpoint whose own dataset has no ``root``/``val_root``
    options switches to ``dataset`` (a registered dataset with both), chosen by the plugin that
    provides the checkpoint's encoder; options the two datasets share (e.g. ``resolution``) are
    kept. A plugin names at most one (hook ``jepa_folder_dataset``).
    """

    dataset: str


@attrs.frozen(kw_only=True)
class ExporterSpec:
    """A format ``jepa export NAME`` writes the encoders of the plugin that registers it in.

    ``export(encoder, out, metadata) -> record`` writes the frozen ``encoder`` to the path ``out``
    (``metadata``: the checkpoint ``source``, the ``encoder`` exported, ``plugin`` and ``preset``)
    and returns a record whose ``describe()`` text is printed.
    """

    name: str
    export: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    description: str = ""


@attrs.frozen
class Kind:
    """One kind of component: its spec record, hook, plural and the run-config section using it."""

    name: str
    spec: type[ComponentSpec]
    hook: str
    plural: str
    section: str


KINDS: tuple[Kind, ...] = (
    Kind("encoder", EncoderSpec, "jepa_encoders", "encoders", "encoder"),
    Kind("predictor", PredictorSpec, "jepa_predictors", "predictors", "predictor"),
    Kind("masker", MaskerSpec, "jepa_maskers", "maskers", "masker"),
    Kind("target", TargetProviderSpec, "jepa_target_providers", "targets", "target"),
    Kind("loss", LossSpec, "jepa_losses", "losses", "loss"),
    Kind("dataset", DatasetSpec, "jepa_datasets", "datasets", "data"),
    Kind("regularizer", RegularizerSpec, "jepa_regularizers", "regularizers", "regularizer"),
    Kind("objective", ObjectiveSpec, "jepa_objectives", "objectives", "objective"),
)
"""The one table of component kinds; the registry, config, CLI and conformance kit read it."""

COMPONENT_KINDS: dict[str, type[ComponentSpec]] = {k.name: k.spec for k in KINDS}


def resolve_example(spec: ComponentSpec) -> Example | None:
    """The spec's ``example`` as an :class:`Example` (a bare options record is wrapped), or None."""
    if spec.example is None:
        return None
    value = spec.example()
    return value if isinstance(value, Example) else Example(options=value)
