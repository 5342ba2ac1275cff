"""Loggers and config formats: registered by name like components, duplicates and unknown names refused."""

from __future__ import annotations

import types

import pytest

from jepa_core import hookimpl
from jepa_core.errors import RegistryError
from jepa_core.registry import build_registry
from jepa_core.specs import ConfigFormatSpec, LoggerSpec


def _plugin(name: str, hook: str, *records) -> types.ModuleType:
    module = types.ModuleType(name)
    module.JEPA_PLUGIN_NAME = name

    def impl():
        yield from records

    impl.__name__ = hook
    setattr(module, hook, hookimpl(impl))
    return module


def test_two_plugins_with_one_logger_name_are_refused():
    a = _plugin("a", "jepa_loggers", LoggerSpec(name="Fancy-Log", build=lambda ctx: None))
    b = _plugin("b", "jepa_loggers", LoggerSpec(name="fancy_log", build=lambda ctx: None))
    with pytest.raises(RegistryError, match="logger 'fancy_log' is provided by both plugin 'a'.* and plugin 'b'"):
        build_registry(autoload=False, plugins=[a, b])


def test_wrong_records_and_unknown_names_are_one_sentence():
    bad = _plugin("bad", "jepa_config_formats", LoggerSpec(name="x", build=lambda ctx: None))
    with pytest.raises(RegistryError, match="from jepa_config_formats; expected ConfigFormatSpec records"):
        build_registry(autoload=False, plugins=[bad])
    fmt = _plugin("fmt", "jepa_config_formats", ConfigFormatSpec(name="toy", detect=bool, convert=lambda d, r, s: d))
    reg = build_registry(autoload=False, plugins=[fmt])
    assert reg.config_format("TOY").name == "toy"
    with pytest.raises(RegistryError, match="unknown config format 'nope'; valid config formats: toy"):
        reg.config_format("nope")
    with pytest.raises(RegistryError, match="unknown logger 'nope'; valid loggers: "):
        reg.logger("nope")
