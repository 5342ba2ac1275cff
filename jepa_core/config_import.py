"""Run configs from foreign config files (e.g. the official I-JEPA YAML files).

Plugins register the forms they understand through the ``jepa_config_formats`` hook
(:class:`~jepa_core.specs.ConfigFormatSpec`). :func:`jepa_core.config.load_config` maps a file
whose data one of them recognises and reads anything else as this project's own form;
:func:`read_foreign` insists on a foreign form (``jepa config import``)::

    imported = read_foreign("in1k_vith14_ep300.yaml", build_registry())
    imported.format, imported.config.preset          # ('ijepa', 'vith14')
    imported.notes                                   # fields without an exact counterpart

Every field of a foreign file is either mapped or named in :attr:`ImportedConfig.notes`, which
:meth:`ImportedConfig.warn` issues as ONE warning; values that cannot be honoured are a
:class:`~jepa_core.errors.ConfigError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from jepa_core.config_files import read_config_file
from jepa_core.errors import ConfigError

if TYPE_CHECKING:
    from jepa_core.registry import Registry


@attrs.frozen
class ImportedConfig:
    """A run config mapped from a foreign form (its name), with notes on the fields that have no
    exact counterpart."""

    config: Any  # a RunConfig
    format: str = ""
    notes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    source: str = ""

    def message(self) -> str | None:
        """The notes as one sentence, or None when there are none.

        >>> ImportedConfig(cfg, "ijepa", ("meta.copy_data=true has no effect",), "x.yaml").message()   # doctest: +SKIP
        "ijepa config 'x.yaml' mapped with notes: meta.copy_data=true has no effect."
        """
        if not self.notes:
            return None
        return f"{self.format} config '{self.source}' mapped with notes: " + "; ".join(self.notes) + "."

    def warn(self) -> Any:
        """Issue :meth:`message` as one :class:`UserWarning` (if any) and return the config."""
        text = self.message()
        if text is not None:
            warnings.warn(text, UserWarning, stacklevel=2)
        return self.config


def detect_format(data: Any, registry: Registry) -> str | None:
    """The name of the registered foreign form ``data`` is in, or None (this project's own form)."""
    if not isinstance(data, dict) or "plugin" in data:
        return None
    for name, spec in registry.config_formats().items():
        if spec.detect(data):
            return name
    return None


def import_foreign(data: Any, registry: Registry, source: str, form: str | None = None) -> ImportedConfig | None:
    """Map parsed file ``data`` with the registered form ``form``, or with the form
    :func:`detect_format` finds; None when it is in this project's own form (and ``form`` is None)."""
    if form is not None:
        spec = registry.config_format(form)
        if not (isinstance(data, dict) and spec.detect(data)):
            raise ConfigError(
                f"config file '{source}' is not in the {spec.name} form ({spec.description or spec.name})."
            )
    else:
        found = detect_format(data, registry)
        if found is None:
            return None
        spec = registry.config_format(found)
    imported = spec.convert(data, registry, source)
    return attrs.evolve(imported, format=spec.name, source=source)


def read_foreign(path: str | Path, registry: Registry, form: str | None = None) -> ImportedConfig:
    """The run config a foreign config file maps to (form ``form``, or detected); a file in this
    project's own form is a :class:`ConfigError` (``jepa train --config`` reads it as it is).

    >>> read_foreign("in1k_vith14_ep300.yaml", build_registry()).config.preset     # doctest: +SKIP
    'vith14'
    """
    imported = import_foreign(read_config_file(path), registry, str(path), form)
    if imported is None:
        forms = ", ".join(registry.config_formats()) or "none"
        raise ConfigError(
            f"config file '{path}' is not in a foreign form this installation maps (forms: {forms}); "
            "a config of this project is used as it is (jepa train --config)."
        )
    return imported
