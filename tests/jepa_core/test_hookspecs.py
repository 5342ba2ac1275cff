"""Every hookspec is documented with an example and exercised (datasette-style coverage)."""

from __future__ import annotations

import inspect
import types

import attrs
import pytest

from jepa_core import hookimpl, hookspecs
from jepa_core.registry import _HOOK_OF_KIND, EXPORTERS_HOOK, FOLDER_DATASET_HOOK, NAMED_HOOKS, build_registry
from jepa_core.specs import (
    COMPONENT_KINDS,
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

SPEC_MARK = f"{hookspecs.PROJECT}_spec"
HOOKSPECS = sorted(name for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, SPEC_MARK))


@attrs.frozen
class _Opts:
    size: int = 1


# One record per hook: (hook name, registry kind or "preset", record).
RECORDS = {
    "jepa_encoders": ("encoder", EncoderSpec(name="all_enc", config_type=_Opts, build=lambda c: c)),
    "jepa_predictors": ("predictor", PredictorSpec(name="all_pred", config_type=_Opts, build=lambda c, e: c)),
    "jepa_maskers": ("masker", MaskerSpec(name="all_mask", config_type=_Opts, build=lambda c: c)),
    "jepa_target_providers": ("target", TargetProviderSpec(name="all_tgt", config_type=_Opts, build=lambda c, e: c)),
    "jepa_losses": ("loss", LossSpec(name="all_loss", config_type=_Opts, build=lambda c: c)),
    "jepa_datasets": ("dataset", DatasetSpec(name="all_data", config_type=_Opts, build=lambda c, s: c)),
    "jepa_regularizers": ("regularizer", RegularizerSpec(name="all_reg", config_type=_Opts, build=lambda c: c)),
    "jepa_objectives": ("objective", ObjectiveSpec(name="all_obj", config_type=_Opts, build=lambda c, e: c)),
    "jepa_presets": ("preset", PresetSpec(name="all_preset", build=lambda: "cfg")),
    "jepa_loggers": ("logger", LoggerSpec(name="all_logger", build=lambda ctx: ctx)),
    "jepa_config_formats": (
        "config_format",
        ConfigFormatSpec(name="all_format", detect=lambda d: False, convert=lambda d, r, s: d),
    ),
    "jepa_exporters": ("exporter", ExporterSpec(name="all_export", export=lambda enc, out, meta: out)),
    "jepa_folder_dataset": ("folder_dataset", FolderDatasetSpec(dataset="all_data")),
}
SINGLE_RECORD_HOOKS = {FOLDER_DATASET_HOOK}  # return one record (or None), not an iterable


def _all_hooks_plugin(called: list[str]) -> types.ModuleType:
    module = types.ModuleType("all_hooks")
    module.JEPA_PLUGIN_NAME = "all_hooks"
    for hook_name, (_, record) in RECORDS.items():

        def impl(_hook=hook_name, _record=record):
            called.append(_hook)
            return _record if _hook in SINGLE_RECORD_HOOKS else [_record]

        impl.__name__ = hook_name
        setattr(module, hook_name, hookimpl(impl))
    return module


def test_hookspecs_are_found():
    assert len(HOOKSPECS) == 13


@pytest.mark.parametrize("name", HOOKSPECS)
def test_hookspec_has_docstring_with_example(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert doc.splitlines()[0].strip(), f"{name} has no summary line"
    assert "Example::" in doc and "@hookimpl" in doc and f"def {name}()" in doc, f"{name} lacks an example"


def test_every_hookspec_is_collected_by_the_registry():
    """Each hookspec maps to a registry kind (or presets), and nothing in the registry is unspecified."""
    named = {hook for hook, _ in NAMED_HOOKS.values()}
    plugin_facts = {FOLDER_DATASET_HOOK, EXPORTERS_HOOK}
    assert set(HOOKSPECS) == set(_HOOK_OF_KIND.values()) | {"jepa_presets"} | named | plugin_facts
    assert set(_HOOK_OF_KIND) == set(COMPONENT_KINDS)


def test_every_hookspec_is_exercised():
    assert set(RECORDS) == set(HOOKSPECS), "add a record to RECORDS for each new hookspec"
    called: list[str] = []
    reg = build_registry(autoload=False, plugins=[_all_hooks_plugin(called)])
    assert sorted(called) == HOOKSPECS  # every hook was called exactly once
    for hook_name, (kind, record) in RECORDS.items():
        if kind == "preset":
            assert reg.preset("all_hooks", record.name) is record
            assert reg.provided_by("all_hooks")["preset"] == [record.name]
        elif kind == "logger":
            assert reg.logger(record.name) is record and reg.loggers()[record.name] is record
            assert reg.provided_by("all_hooks")["logger"] == [record.name]
        elif kind == "config_format":
            assert reg.config_format(record.name) is record and reg.config_formats()[record.name] is record
            assert reg.provided_by("all_hooks")["config_format"] == [record.name]
        elif kind == "exporter":
            assert reg.exporters("all_hooks") == {record.name: record}
        elif kind == "folder_dataset":
            assert reg.folder_dataset("all_hooks") is record
        else:
            assert reg.get(kind, record.name) is record, hook_name
            assert reg.provider_of(kind, record.name).name == "all_hooks"


def test_hook_returning_none_is_allowed():
    module = types.ModuleType("quiet")

    @hookimpl
    def jepa_encoders():
        return None

    module.jepa_encoders = jepa_encoders
    reg = build_registry(autoload=False, plugins=[module])
    assert "quiet" in reg.plugins and reg.names("encoder") == []
