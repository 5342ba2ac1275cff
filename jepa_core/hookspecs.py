"""Hook specifications: one hook per kind of thing a plugin can provide.

A plugin is a module (or object) with ``@hookimpl`` functions, exposed through the
``jepa.plugins`` entry-point group in its ``pyproject.toml``::

    [project.entry-points."jepa.plugins"]
    seq = "my_package.plugin"

Each hook returns an iterable of spec records (see :mod:`jepa_core.specs`), except
``jepa_folder_dataset``: one record, or None.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from jepa_core.specs import (
    ConfigFormatSpec,
    DatasetSpec,
    EncoderSpec,
    ExporterSpec,
    FolderDatasetSpec,
    LoggerSpec,
    LossSpec,
    MaskerSpec,
    ObjectiveSpec,
    PredictorSpec,
    PresetSpec,
    RegularizerSpec,
    TargetProviderSpec,
)

PROJECT = "jepa"
ENTRY_POINT_GROUP = "jepa.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def jepa_encoders() -> Iterable[EncoderSpec]:
    """Encoders this plugin provides.

    Example::

        @hookimpl
        def jepa_encoders():
            yield EncoderSpec(name="seq_mlp", config_type=SeqEncoderConfig, build=build_encoder)
    """


@hookspec
def jepa_predictors() -> Iterable[PredictorSpec]:
    """Predictors this plugin provides; ``build(config, encoder)`` gets the built encoder.

    Example::

        @hookimpl
        def jepa_predictors():
            yield PredictorSpec(name="seq_pred", config_type=SeqPredConfig, build=build_predictor)
    """


@hookspec
def jepa_maskers() -> Iterable[MaskerSpec]:
    """Maskers this plugin provides (context/target index samplers over a token grid).

    Example::

        @hookimpl
        def jepa_maskers():
            yield MaskerSpec(name="seq_block", config_type=SeqBlockConfig, build=SeqBlockMasker)
    """


@hookspec
def jepa_target_providers() -> Iterable[TargetProviderSpec]:
    """Target providers; ``build(config, context_encoder)`` gets the context encoder.

    Example::

        @hookimpl
        def jepa_target_providers():
            yield TargetProviderSpec(name="frozen", config_type=FrozenConfig, build=build_frozen)
    """


@hookspec
def jepa_losses() -> Iterable[LossSpec]:
    """Losses between predictions and targets.

    Example::

        @hookimpl
        def jepa_losses():
            yield LossSpec(name="cosine", config_type=CosineConfig, build=CosineLoss)
    """


@hookspec
def jepa_datasets() -> Iterable[DatasetSpec]:
    """Datasets; ``build(config, split)`` returns a map-style dataset of ``(input, label)``.

    Example::

        @hookimpl
        def jepa_datasets():
            yield DatasetSpec(name="sine_waves", config_type=SineConfig, build=SineDataset)
    """


@hookspec
def jepa_regularizers() -> Iterable[RegularizerSpec]:
    """Anti-collapse regularisers on embeddings ``[N, D]`` (see :mod:`jepa_core.regularizers`).

    Example::

        @hookimpl
        def jepa_regularizers():
            yield RegularizerSpec(name="uniformity", config_type=UniformityConfig, build=Uniformity,
                                  example=UniformityConfig)
    """


@hookspec
def jepa_objectives() -> Iterable[ObjectiveSpec]:
    """Objectives: what a training step optimises (see :mod:`jepa_core.objectives`);
    ``build(config, encoder)`` returns the objective.

    Example::

        @hookimpl
        def jepa_objectives():
            yield ObjectiveSpec(name="byol_views", config_type=ByolConfig, build=ByolObjective,
                                excludes=("predictor",), example=ByolConfig)
    """


@hookspec
def jepa_presets() -> Iterable[PresetSpec]:
    """Named recipes of this plugin; ``build()`` returns a complete :class:`RunConfig`.

    Example::

        @hookimpl
        def jepa_presets():
            yield PresetSpec(name="demo", build=demo_config, description="tiny CPU run")
    """


@hookspec
def jepa_config_formats() -> Iterable[ConfigFormatSpec]:
    """Foreign config file forms this plugin maps to run configs (``jepa config import``).

    Example::

        @hookimpl
        def jepa_config_formats():
            yield ConfigFormatSpec(name="ijepa", detect=lambda data: "meta" in data,
                                   convert=convert_ijepa, description="official I-JEPA YAML")
    """


@hookspec
def jepa_loggers() -> Iterable[LoggerSpec]:
    """Metrics loggers this plugin provides; ``train.loggers=tensorboard,NAME`` selects them.

    Example::

        @hookimpl
        def jepa_loggers():
            yield LoggerSpec(name="jsonl", build=lambda ctx: JsonlLogger(ctx.out_dir / "metrics.jsonl"),
                             description="one JSON line per scalar")
    """


@hookspec
def jepa_folder_dataset() -> FolderDatasetSpec | None:
    """The dataset that reads labelled class folders of this plugin's modality, for
    ``jepa eval --train/--val`` on checkpoints of this plugin's encoders (one record, or None).

    Example::

        @hookimpl
        def jepa_folder_dataset():
            return FolderDatasetSpec(dataset="seq_folder")
    """


@hookspec
def jepa_exporters() -> Iterable[ExporterSpec]:
    """Formats ``jepa export NAME`` writes this plugin's encoders in.

    Example::

        @hookimpl
        def jepa_exporters():
            yield ExporterSpec(name="timm", export=export_for_timm, description="timm state_dict + JSON")
    """
