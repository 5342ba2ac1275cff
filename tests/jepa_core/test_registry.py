"""Plugin discovery, provenance and every registry error path."""

from __future__ import annotations

import types

import attrs
import pytest

from jepa_core import hookimpl
from jepa_core.cli import main
from jepa_core.errors import RegistryError
from jepa_core.registry import AUTOLOAD_ENV, PLUGINS_ENV, build_registry
from jepa_core.specs import EncoderSpec, LossSpec, PresetSpec
from tests import toy_seq_plugin


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv(PLUGINS_ENV, raising=False)


@attrs.frozen
class _Opts:
    width: int = 4


def _plugin(name: str, **hooks) -> types.ModuleType:
    """A plugin module object named ``name`` with the given hook implementations."""
    module = types.ModuleType(name)
    module.JEPA_PLUGIN_NAME = name
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def _encoder_plugin(name: str, encoder_name: str = "dup_enc") -> types.ModuleType:
    def jepa_encoders():
        yield EncoderSpec(name=encoder_name, config_type=_Opts, build=lambda cfg: None)

    return _plugin(name, jepa_encoders=jepa_encoders)


# --------------------------------------------------------------------------- errors
def test_duplicate_component_names_both_plugins():
    with pytest.raises(RegistryError) as info:
        build_registry(autoload=False, plugins=[_encoder_plugin("alpha"), _encoder_plugin("beta")])
    message = str(info.value)
    assert "dup_enc" in message and "'alpha'" in message and "'beta'" in message


def test_duplicate_detection_is_case_and_dash_insensitive():
    with pytest.raises(RegistryError, match="'alpha'.*'beta'"):
        build_registry(autoload=False, plugins=[_encoder_plugin("alpha", "My-Enc"), _encoder_plugin("beta", "my_enc")])


def test_misspelled_hook_is_an_error_naming_the_plugin():
    def jepa_encoder():  # missing the trailing "s"
        return []

    with pytest.raises(RegistryError) as info:
        build_registry(autoload=False, plugins=[_plugin("typo_plugin", jepa_encoder=jepa_encoder)])
    message = str(info.value)
    assert "'typo_plugin'" in message and "jepa_encoder" in message and "jepa_encoders" in message


def test_unknown_names_list_the_valid_ones(toy_registry):
    with pytest.raises(RegistryError, match=r"unknown encoder 'nope'.*seq_transformer"):
        toy_registry.get("encoder", "nope")
    with pytest.raises(RegistryError, match=r"unknown loss 'huber'.*l2, smooth_l1"):
        toy_registry.get("loss", "huber")
    with pytest.raises(RegistryError, match=r"unknown preset 'huge'.*valid presets: tiny"):
        toy_registry.preset("toyseq", "huge")
    with pytest.raises(RegistryError, match=r"unknown plugin 'nope'.*toyseq"):
        toy_registry.presets("nope")
    with pytest.raises(RegistryError, match=r"unknown component kind 'decoder'.*encoder"):
        toy_registry.names("decoder")


def test_lookups_normalise_case_and_dashes(toy_registry):
    assert toy_registry.get("loss", "Smooth-L1").name == "smooth_l1"
    assert toy_registry.provider_of("encoder", "seq_transformer").name == "toyseq"
    assert toy_registry.provider_of("target", "ema").name == "core"


def test_wrong_record_type_from_a_hook():
    def jepa_encoders():
        yield LossSpec(name="oops", config_type=_Opts, build=lambda cfg: None)

    with pytest.raises(RegistryError, match=r"'wrong_kind'.*jepa_encoders.*EncoderSpec"):
        build_registry(autoload=False, plugins=[_plugin("wrong_kind", jepa_encoders=jepa_encoders)])

    def jepa_presets():
        yield EncoderSpec(name="oops", config_type=_Opts, build=lambda cfg: None)

    with pytest.raises(RegistryError, match=r"'wrong_preset'.*jepa_presets.*PresetSpec"):
        build_registry(autoload=False, plugins=[_plugin("wrong_preset", jepa_presets=jepa_presets)])


def test_duplicate_preset_in_one_plugin():
    def jepa_presets():
        yield PresetSpec(name="p", build=lambda: None)
        yield PresetSpec(name="P", build=lambda: None)

    with pytest.raises(RegistryError, match=r"'twice'.*preset 'p' twice"):
        build_registry(autoload=False, plugins=[_plugin("twice", jepa_presets=jepa_presets)])


def test_import_failure_raises_naming_the_module():
    with pytest.raises(RegistryError, match=r"'no_such_jepa_plugin_xyz'.*failed to import.*ModuleNotFoundError"):
        build_registry(autoload=False, plugins=["no_such_jepa_plugin_xyz"])


def test_import_failure_with_warn_keeps_loading_others(tmp_path, monkeypatch):
    (tmp_path / "broken_jepa_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="broken_jepa_plugin.*boom at import"):
        build_registry(autoload=False, plugins=["broken_jepa_plugin", toy_seq_plugin])
    with pytest.warns(RuntimeWarning, match="broken_jepa_plugin.*boom at import"):
        reg = build_registry(autoload=False, plugins=["broken_jepa_plugin", toy_seq_plugin], on_error="warn")
    assert [(f.module, f.error) for f in reg.failures] == [("broken_jepa_plugin", "RuntimeError: boom at import")]
    assert set(reg.plugins) == {"core", "toyseq"}
    assert reg.names("encoder") == ["seq_transformer"]


def test_bad_on_error_value():
    with pytest.raises(RegistryError, match="on_error must be 'raise' or 'warn', got 'ignore'"):
        build_registry(on_error="ignore")  # type: ignore[arg-type]


# ------------------------------------------------------------------- loading modes
def test_autoload_loads_the_image_entry_point():
    reg = build_registry()
    assert reg.plugins["image"].distribution == "jepaforge"
    assert reg.plugins["image"].module == "jepa_image.plugin"
    assert "vit" in reg.names("encoder")


def test_disable_autoload_env_skips_entry_points(monkeypatch):
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    assert set(build_registry().plugins) == {"core"}
    reg = build_registry(plugins=[toy_seq_plugin])
    assert set(reg.plugins) == {"core", "toyseq"}
    assert "vit" not in reg.names("encoder")


def test_plugins_env_adds_a_module(monkeypatch):
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    monkeypatch.setenv(PLUGINS_ENV, " tests.toy_seq_plugin ,")
    reg = build_registry()
    assert set(reg.plugins) == {"core", "toyseq"}
    assert reg.plugins["toyseq"].module == "tests.toy_seq_plugin"
    assert reg.get("masker", "seq_block").config_type is toy_seq_plugin.SeqBlockConfig


def test_registry_is_built_on_demand():
    with_toy = build_registry(autoload=False, plugins=[toy_seq_plugin])
    bare = build_registry(autoload=False)
    assert with_toy is not bare and with_toy.manager is not bare.manager
    assert with_toy.names("encoder") == ["seq_transformer"]
    assert bare.names("encoder") == []
    assert bare.names("loss") == ["cosine", "l1", "l2", "smooth_l1"]  # core built-ins are always there


def test_entry_point_discovery_from_an_installed_distribution(tmp_path, monkeypatch, capsys):
    dist = tmp_path / "toyseq_dist-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toyseq-dist\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[jepa.plugins]\ntoyseq = tests.toy_seq_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    reg = build_registry()
    info = reg.plugins["toyseq"]
    assert (info.distribution, info.version, info.module) == ("toyseq-dist", "0.1", "tests.toy_seq_plugin")
    assert reg.provider_of("encoder", "seq_transformer") == info
    assert "image" in reg.plugins  # the real entry point still loads beside it
    # explicitly naming the same module again does not register it twice
    assert set(build_registry(plugins=["tests.toy_seq_plugin"]).plugins) == {
        "core",
        "image",
        "video",
        "audio",
        "toyseq",
    }

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "toyseq  [toyseq-dist 0.1]  module tests.toy_seq_plugin" in out
    assert "seq_transformer" in out and "sine_waves" in out
