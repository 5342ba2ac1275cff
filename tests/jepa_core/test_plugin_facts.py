"""What a plugin says about its own encoders: the folder dataset (hook ``jepa_folder_dataset``) and
the export formats (hook ``jepa_exporters``). A third-party plugin registering them is honoured by
the ``jepa eval --train/--val`` set-up and by ``jepa export``; wrong records are refused when the
registry is built; the conformance kit checks the folder dataset."""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from jepa_core import hookimpl
from jepa_core.cli import export
from jepa_core.errors import ConfigError, RegistryError
from jepa_core.eval.setup import eval_data_config, folder_dataset
from jepa_core.registry import Registry, build_registry
from jepa_core.specs import DatasetSpec, ExporterSpec, FolderDatasetSpec
from jepa_core.testing import check_folder_dataset
from tests import toy_seq_plugin
from tests.toy_seq_plugin import SeqEncoder, SineConfig, SineDataset

TOY_HOOKS = ("jepa_encoders", "jepa_predictors", "jepa_maskers", "jepa_datasets", "jepa_presets")


@attrs.frozen
class SeqFolderConfig:
    root: str = ""
    val_root: str = ""
    length: int = 16


@attrs.frozen
class NoRootConfig:
    length: int = 16


def _datasets():
    yield from toy_seq_plugin.jepa_datasets()
    yield DatasetSpec(
        name="seq_folder",
        config_type=SeqFolderConfig,
        build=lambda cfg, split: SineDataset(SineConfig(length=cfg.length), split),
    )
    yield DatasetSpec(name="seq_no_root", config_type=NoRootConfig, build=lambda cfg, split: None)


def seq_plugin(**hooks: Callable[[], Any]) -> types.ModuleType:
    """The toy 1-D plugin (``toyseq``, encoder ``seq_transformer``, preset ``tiny`` reading
    ``sine_waves``) with two more datasets and ``hooks`` (hook name -> function)."""
    module = types.ModuleType("toyseq_with_facts")
    module.JEPA_PLUGIN_NAME = "toyseq"
    for name in TOY_HOOKS:
        setattr(module, name, getattr(toy_seq_plugin, name))
    for name, fn in {"jepa_datasets": _datasets, **hooks}.items():
        fn.__name__ = name
        setattr(module, name, hookimpl(fn))
    return module


def registry_with(**hooks: Callable[[], Any]) -> Registry:
    return build_registry(autoload=False, plugins=[seq_plugin(**hooks)])


def folders(tmp_path: Path) -> tuple[str, str]:
    for name in ("train", "val"):
        (tmp_path / name).mkdir()
    return str(tmp_path / "train"), str(tmp_path / "val")


# -------------------------------------------------------------- folder dataset
def test_eval_set_up_reads_the_folder_dataset_a_third_party_plugin_names(tmp_path):
    registry = registry_with(jepa_folder_dataset=lambda: FolderDatasetSpec(dataset="seq_folder"))
    cfg = registry.preset("toyseq", "tiny").build()  # sine_waves: no root/val_root
    train, val = folders(tmp_path)
    assert folder_dataset(cfg, registry) == "seq_folder"
    evaluated = eval_data_config(cfg, registry, train, val)
    assert evaluated.data.name == "seq_folder"
    assert evaluated.data.options == SeqFolderConfig(root=train, val_root=val, length=64)  # length carried over


def test_a_plugin_without_the_folder_dataset_hook_is_one_sentence(tmp_path):
    registry = registry_with()
    cfg = registry.preset("toyseq", "tiny").build()
    train, val = folders(tmp_path)
    with pytest.raises(ConfigError) as err:
        eval_data_config(cfg, registry, train, val)
    assert str(err.value) == (
        "--train/--val need a dataset that reads folders, but 'sine_waves' has no root/val_root and plugin "
        "'toyseq' names no folder dataset (it implements no jepa_folder_dataset hook); set data.* to a folder "
        "dataset in a config file."
    )


def test_the_kit_checks_the_folder_dataset_a_plugin_names():
    check_folder_dataset(registry_with(jepa_folder_dataset=lambda: FolderDatasetSpec(dataset="seq_folder")), "toyseq")
    check_folder_dataset(registry_with(), "toyseq")  # naming none is allowed
    no_root = registry_with(jepa_folder_dataset=lambda: FolderDatasetSpec(dataset="seq_no_root"))
    with pytest.raises(AssertionError, match=r"^plugin 'toyseq': its folder dataset 'seq_no_root' has no root or "):
        check_folder_dataset(no_root, "toyseq")
    unknown = registry_with(jepa_folder_dataset=lambda: FolderDatasetSpec(dataset="seq_files"))
    with pytest.raises(AssertionError, match=r"'seq_files' is not a registered dataset; registered: .*seq_folder"):
        check_folder_dataset(unknown, "toyseq")


def test_a_folder_dataset_hook_must_return_one_record():
    with pytest.raises(RegistryError, match=r"returned 'seq_folder' from jepa_folder_dataset; expected a Fold"):
        registry_with(jepa_folder_dataset=lambda: "seq_folder")


# -------------------------------------------------------------------- exporters
@attrs.frozen
class Written:
    path: Path

    def describe(self) -> str:
        return f"wrote {self.path}"


def export_args(out: Path, export_format: str = "timm") -> argparse.Namespace:
    """``jepa export FORMAT --checkpoint toyseq/tiny --out OUT`` (the preset at random init)."""
    return argparse.Namespace(
        export_format=export_format,
        checkpoint="toyseq/tiny",
        out=str(out),
        encoder="target",
        plugin=None,
        preset=None,
        overrides=[],
    )


def test_jepa_export_uses_the_exporter_a_third_party_plugin_registers(tmp_path, capsys):
    calls = []

    def export_seq(encoder, out, metadata):
        calls.append((encoder, out, metadata))
        out.write_text("weights")
        return Written(out)

    registry = registry_with(jepa_exporters=lambda: [ExporterSpec(name="timm", export=export_seq)])
    out = tmp_path / "seq.bin"
    assert export.run(export_args(out), registry) == 0
    ((encoder, path, metadata),) = calls
    assert isinstance(encoder, SeqEncoder) and not encoder.training and path == out
    assert metadata == {"source": "toyseq/tiny", "encoder": "target", "plugin": "toyseq", "preset": "tiny"}
    assert capsys.readouterr().out == f"wrote {out}\n" and out.read_text() == "weights"


def test_jepa_export_lists_the_formats_the_plugin_provides(tmp_path):
    onnx = registry_with(jepa_exporters=lambda: [ExporterSpec(name="onnx", export=lambda e, o, m: None)])
    assert list(onnx.exporters("toyseq")) == ["onnx"]
    with pytest.raises(ConfigError, match=r"^encoder 'seq_transformer' of plugin 'toyseq' has no 'timm' exporter; "):
        export.run(export_args(tmp_path / "m.bin"), onnx)
    with pytest.raises(ConfigError, match=r"available: onnx\.$"):
        export.run(export_args(tmp_path / "m.bin"), onnx)
    with pytest.raises(ConfigError, match=r"available: none\.$"):
        export.run(export_args(tmp_path / "m.bin"), registry_with())
    assert not (tmp_path / "m.bin").exists()


@pytest.mark.parametrize(
    "records, message",
    [
        (["timm"], r"returned 'timm' from jepa_exporters; expected ExporterSpec records\.$"),
        (
            [ExporterSpec(name="timm", export=print), ExporterSpec(name="TIMM", export=print)],
            r"plugin 'toyseq' \(toyseq_with_facts\) defines exporter 'timm' twice\.$",
        ),
    ],
)
def test_wrong_exporter_records_are_refused(records, message):
    with pytest.raises(RegistryError, match=message):
        registry_with(jepa_exporters=lambda: records)


def test_an_exporter_must_be_callable():
    with pytest.raises(TypeError, match="'export' must be callable"):
        ExporterSpec(name="timm", export="export_timm")
