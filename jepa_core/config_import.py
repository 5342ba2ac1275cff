"""Run configs from foreign config files (e.g. the official I-JEPA YAML files).

Plugins register the forms they understand through the ``jepa_config_formats`` hook
(:class:`~jepa_core.specs.ConfigFormatSpec`); a file whose data one of them recognises is mapped
by it, anything else is read as this project's own config form::

    imported = load_any("in1k_vith14_ep300.yaml", build_registry())
    imported.format, imported.config.preset          # ('ijepa', 'vith14')
    imported.notes                                   # fields without an exact counterpart

Every field of a foreign file is either mapped or named in :attr:`ImportedConfig.notes`, which
:meth:`ImportedConfig.warn` issues as ONE warning; values that cannot be honoured are a
:class:`~jepa_core.errors.ConfigError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import attrs

from jepa_core.config import RunConfig, from_dict
from jepa_core.config_files import read_config_file
from jepa_core.errors import ConfigError


@attrs.frozen
class ImportedConfig:
    """A run config read from a file, the form it was in (``""`` for this project's own), and
    notes on the fields of a foreign form that have no exact counterpart."""

    config: RunConfig
    format: str = ""
    notes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    source: str = ""

    def message(self) -> str | None:
        """The notes as one sentence, or None when there are none.

        >>> ImportedConfig(cfg, "ijepa", ("meta.copy_data is ignored",), "x.yaml").message()   # doctest: +SKIP
        "ijepa config 'x.yaml': meta.copy_data is ignored."
        """
        if not self.notes:
            return None
        return f"{self.format} config '{self.source}' mapped with notes: " + "; ".join(self.notes) + "."

    def warn(self) -> RunConfig:
        """Issue :meth:`message` as one :class:`UserWarning` (if any) and return the config."""
        text = self.message()
        if text is not None:
            warnings.warn(text, UserWarning, stacklevel=2)
        return self.config


def detect_format(data: Any, registry: Any) -> str | None:
    """The name of the registered foreign form ``data`` is in, or None (this project's own form)."""
    if not isinstance(data, dict) or "plugin" in data:
        return None
    for name, spec in registry.config_formats().items():
        if spec.detect(data):
            return name
    return None


def import_data(data: Any, registry: Any, source: str, fmt: str | None = None) -> ImportedConfig:
    """Map parsed file ``data`` to a run config: with the form ``fmt`` (a registered name), or the
    form :func:`detect_format` finds, or else as this project's own config form."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"config file '{source}' must hold a mapping of config sections (plugin, preset, encoder, ...), got {got}.")
    if fmt is not None:
        spec = registry.config_format(fmt)
        if not spec.detect(data):
            raise ConfigError(f"config file '{source}' is not in the {spec.name} form ({spec.description or spec.name}).")
    else:
        fmt = detect_format(data, registry)
        if fmt is None:
            return ImportedConfig(from_dict(data, registry), "", (), source)
        spec = registry.config_format(fmt)
    imported = spec.convert(data, registry, source)
    return attrs.evolve(imported, format=spec.name, source=source)


def load_any(path: str | Path, registry: Any, fmt: str | None = None) -> ImportedConfig:
    """Read a config file (YAML or JSON) in this project's form or any registered foreign form.

    >>> load_any("runs/demo/config.yaml", build_registry()).config.preset     # doctest: +SKIP
    'demo'
    """
    return import_data(read_config_file(path), registry, str(path), fmt)
