"""Plugin discovery and lookup, built on demand (there is no import-time global).

>>> reg = build_registry()                       # core built-ins + every installed plugin
>>> reg.get("loss", "smooth_l1").name
'smooth_l1'
>>> reg = build_registry(autoload=False, plugins=["my_pkg.plugin"])   # explicit list only

Entry-point autoload is switched off by ``JEPA_DISABLE_PLUGIN_AUTOLOAD=1``; ``JEPA_PLUGINS``
(comma-separated module paths) adds plugins explicitly, like ``PYTEST_PLUGINS``.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import attrs
import pluggy

from jepa_core import hookspecs
from jepa_core.errors import RegistryError
from jepa_core.specs import (
    COMPONENT_KINDS,
    KINDS,
    ComponentSpec,
    ConfigFormatSpec,
    ExporterSpec,
    FolderDatasetSpec,
    LoggerSpec,
    PresetSpec,
)

AUTOLOAD_ENV = "JEPA_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_ENV = "JEPA_PLUGINS"
CORE_PLUGIN_NAME = "core"

_HOOK_OF_KIND = {k.name: k.hook for k in KINDS}

# Named things that are not run-config components: kind -> (hook, record type).
NAMED_HOOKS: dict[str, tuple[str, type]] = {
    "logger": ("jepa_loggers", LoggerSpec),
    "config_format": ("jepa_config_formats", ConfigFormatSpec),
}

# Facts about a plugin's own encoders, kept per plugin: the folder dataset and the export formats.
FOLDER_DATASET_HOOK = "jepa_folder_dataset"
EXPORTERS_HOOK = "jepa_exporters"

OnError = Literal["raise", "warn"]


def normalize_name(name: str) -> str:
    """Component and plugin names are case-insensitive and treat '-' like '_'."""
    return name.strip().lower().replace("-", "_")


@attrs.frozen
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None

    def origin(self) -> str:
        if self.distribution:
            return f"plugin '{self.name}' from {self.distribution} {self.version}"
        return f"plugin '{self.name}' ({self.module})"


@attrs.frozen
class PluginFailure:
    """A plugin that could not be imported (kept when loading with ``on_error='warn'``)."""

    name: str
    module: str
    error: str


@attrs.frozen
class Registered:
    spec: Any
    plugin: PluginInfo


class Registry:
    """Every component and preset provided by the loaded plugins, by kind and name, and what each
    plugin says about its encoders (folder dataset, export formats)."""

    def __init__(
        self,
        manager: pluggy.PluginManager,
        plugins: dict[str, PluginInfo],
        failures: Sequence[PluginFailure] = (),
    ) -> None:
        self.manager = manager
        self.plugins = dict(plugins)
        self.failures = tuple(failures)
        self._components: dict[str, dict[str, Registered]] = {k: {} for k in COMPONENT_KINDS}
        self._presets: dict[str, dict[str, PresetSpec]] = {}
        self._named: dict[str, dict[str, Registered]] = {kind: {} for kind in NAMED_HOOKS}
        self._folder_datasets: dict[str, FolderDatasetSpec] = {}
        self._exporters: dict[str, dict[str, ExporterSpec]] = {}
        self._collect()

    # ----------------------------------------------------------------- collection
    def _collect(self) -> None:
        for kind, hook_name in _HOOK_OF_KIND.items():
            expected = COMPONENT_KINDS[kind]
            for plugin_name, spec in self._call_each(hook_name):
                if not isinstance(spec, expected):
                    raise RegistryError(
                        f"{self.plugins[plugin_name].origin()} returned {spec!r} from {hook_name}; "
                        f"expected {expected.__name__} records."
                    )
                self._add_component(kind, spec, self.plugins[plugin_name])
        for plugin_name, spec in self._call_each("jepa_presets"):
            if not isinstance(spec, PresetSpec):
                raise RegistryError(
                    f"{self.plugins[plugin_name].origin()} returned {spec!r} from jepa_presets; "
                    "expected PresetSpec records."
                )
            table = self._presets.setdefault(plugin_name, {})
            key = normalize_name(spec.name)
            if key in table:
                raise RegistryError(f"{self.plugins[plugin_name].origin()} defines preset '{key}' twice.")
            table[key] = spec
        for kind, (hook_name, expected) in NAMED_HOOKS.items():
            for plugin_name, spec in self._call_each(hook_name):
                if not isinstance(spec, expected):
                    raise RegistryError(
                        f"{self.plugins[plugin_name].origin()} returned {spec!r} from {hook_name}; "
                        f"expected {expected.__name__} records."
                    )
                self._add(self._named[kind], kind, spec, self.plugins[plugin_name])
        self._collect_plugin_facts()

    def _collect_plugin_facts(self) -> None:
        for plugin_name, spec in self._results(FOLDER_DATASET_HOOK):
            self._check_record(plugin_name, spec, FOLDER_DATASET_HOOK, FolderDatasetSpec, "a FolderDatasetSpec")
            self._folder_datasets[plugin_name] = spec
        for plugin_name, spec in self._call_each(EXPORTERS_HOOK):
            self._check_record(plugin_name, spec, EXPORTERS_HOOK, ExporterSpec, "ExporterSpec records")
            table = self._exporters.setdefault(plugin_name, {})
            key = normalize_name(spec.name)
            if key in table:
                raise RegistryError(f"{self.plugins[plugin_name].origin()} defines exporter '{key}' twice.")
            table[key] = spec

    def _check_record(self, plugin_name: str, spec: Any, hook_name: str, expected: type, what: str) -> None:
        if not isinstance(spec, expected):
            raise RegistryError(
                f"{self.plugins[plugin_name].origin()} returned {spec!r} from {hook_name}; expected {what}."
            )

    def _results(self, hook_name: str) -> Iterable[tuple[str, Any]]:
        """Call one hook on each plugin separately so every result keeps its provenance (None: skipped)."""
        caller = getattr(self.manager.hook, hook_name)
        for impl in caller.get_hookimpls():
            result = impl.function()
            if result is not None:
                yield impl.plugin_name, result  # the name it was registered under

    def _call_each(self, hook_name: str) -> Iterable[tuple[str, Any]]:
        """Every record an iterable-returning hook gives, with the plugin that gave it."""
        for plugin_name, result in self._results(hook_name):
            yield from ((plugin_name, spec) for spec in result)

    def _add_component(self, kind: str, spec: ComponentSpec, plugin: PluginInfo) -> None:
        self._add(self._components[kind], kind, spec, plugin)

    def _add(self, table: dict[str, Registered], kind: str, spec: Any, plugin: PluginInfo) -> None:
        key = normalize_name(spec.name)
        if key in table:
            other = table[key].plugin
            raise RegistryError(
                f"{kind.replace('_', ' ')} '{key}' is provided by both {other.origin()} and {plugin.origin()}; "
                "uninstall one of them or disable autoload and load plugins explicitly."
            )
        table[key] = Registered(spec, plugin)

    # -------------------------------------------------------------------- lookups
    def names(self, kind: str) -> list[str]:
        self._check_kind(kind)
        return sorted(self._components[kind])

    def get(self, kind: str, name: str) -> Any:
        """The spec of component ``name`` of ``kind``; unknown names list the valid ones."""
        self._check_kind(kind)
        table = self._components[kind]
        key = normalize_name(name)
        if key not in table:
            valid = ", ".join(sorted(table)) or "none"
            raise RegistryError(f"unknown {kind} '{name}'; valid {kind}s: {valid}.")
        return table[key].spec

    def provider_of(self, kind: str, name: str) -> PluginInfo:
        self.get(kind, name)
        return self._components[kind][normalize_name(name)].plugin

    def provided_by(self, plugin_name: str) -> dict[str, list[str]]:
        """What one plugin provides: ``{kind: [names]}`` including ``'preset'``."""
        out: dict[str, list[str]] = {}
        for kind, table in self._components.items():
            names = sorted(k for k, r in table.items() if r.plugin.name == plugin_name)
            if names:
                out[kind] = names
        for kind, table in self._named.items():
            names = sorted(k for k, r in table.items() if r.plugin.name == plugin_name)
            if names:
                out[kind] = names
        if self._presets.get(plugin_name):
            out["preset"] = sorted(self._presets[plugin_name])
        return out

    def loggers(self) -> dict[str, LoggerSpec]:
        """Every registered logger by name (``train.loggers`` selects some)."""
        return {name: r.spec for name, r in sorted(self._named["logger"].items())}

    def logger(self, name: str) -> LoggerSpec:
        """The logger ``name``; an unknown name lists the valid ones."""
        return self._named_spec("logger", name)

    def config_formats(self) -> dict[str, ConfigFormatSpec]:
        """Every registered foreign config form by name (``jepa config import``)."""
        return {name: r.spec for name, r in sorted(self._named["config_format"].items())}

    def config_format(self, name: str) -> ConfigFormatSpec:
        """The config form ``name``; an unknown name lists the valid ones."""
        return self._named_spec("config_format", name)

    def folder_dataset(self, plugin: str) -> FolderDatasetSpec | None:
        """The folder dataset ``plugin`` names for its encoders (hook ``jepa_folder_dataset``), or None."""
        return self._folder_datasets.get(normalize_name(plugin))

    def exporters(self, plugin: str) -> dict[str, ExporterSpec]:
        """The export formats ``plugin`` provides for its encoders, by name (hook ``jepa_exporters``)."""
        return dict(sorted(self._exporters.get(normalize_name(plugin), {}).items()))

    def _named_spec(self, kind: str, name: str) -> Any:
        table = self._named[kind]
        key = normalize_name(name)
        if key not in table:
            noun = kind.replace("_", " ")
            raise RegistryError(f"unknown {noun} '{name}'; valid {noun}s: {', '.join(sorted(table)) or 'none'}.")
        return table[key].spec

    def preset_plugins(self) -> list[str]:
        return sorted(p for p, table in self._presets.items() if table)

    def presets(self, plugin: str) -> dict[str, PresetSpec]:
        key = normalize_name(plugin)
        if key not in self._presets:
            valid = ", ".join(self.preset_plugins()) or "none"
            raise RegistryError(f"unknown plugin '{plugin}'; plugins with presets: {valid}.")
        return dict(self._presets[key])

    def preset(self, plugin: str, name: str) -> PresetSpec:
        table = self.presets(plugin)
        key = normalize_name(name)
        if key not in table:
            raise RegistryError(
                f"unknown preset '{name}' for plugin '{plugin}'; valid presets: {', '.join(sorted(table))}."
            )
        return table[key]

    def _check_kind(self, kind: str) -> None:
        if kind not in self._components:
            raise RegistryError(f"unknown component kind '{kind}'; valid kinds: {', '.join(COMPONENT_KINDS)}.")


# ------------------------------------------------------------------------ building
def build_registry(
    *,
    autoload: bool | None = None,
    plugins: Sequence[object | str] = (),
    on_error: OnError = "raise",
) -> Registry:
    """Load the core built-ins, entry-point plugins (unless disabled) and ``plugins``.

    ``plugins`` holds module paths (``"pkg.plugin"``) or plugin objects; a module may set
    ``JEPA_PLUGIN_NAME`` to choose its name. ``on_error='warn'`` keeps going past plugins that
    fail to import (they are listed in ``Registry.failures``); ``'raise'`` stops at the first.

    >>> build_registry().get("loss", "smooth_l1").name
    'smooth_l1'
    >>> build_registry(autoload=False, plugins=["my_pkg.plugin"])     # doctest: +SKIP
    """
    if on_error not in ("raise", "warn"):
        raise RegistryError(f"on_error must be 'raise' or 'warn', got {on_error!r}.")
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "").strip() in ("", "0", "false", "no")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}
    failures: list[PluginFailure] = []

    from jepa_core import builtins

    _register(pm, infos, builtins, PluginInfo(CORE_PLUGIN_NAME, builtins.__name__, *_own_dist()))

    if autoload:
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                normalize_name(ep.name),
                ep.value,
                dist.metadata["Name"] if dist else None,
                dist.version if dist else None,
            )
            plugin = _import(ep.value, info.name, on_error, failures, loader=ep.load)
            if plugin is not None:
                _register(pm, infos, plugin, info)

    extra = [p.strip() for p in os.environ.get(PLUGINS_ENV, "").split(",") if p.strip()]
    for item in [*plugins, *extra]:
        if isinstance(item, str):
            plugin = _import(item, item, on_error, failures)
            if plugin is None:
                continue
            module_name = item
        else:
            plugin, module_name = item, getattr(item, "__name__", type(item).__name__)
        name = normalize_name(getattr(plugin, "JEPA_PLUGIN_NAME", module_name))
        if name in infos and pm.get_plugin(name) is plugin:
            continue  # already loaded through its entry point
        _register(pm, infos, plugin, PluginInfo(name, module_name))

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        hooks = sorted(
            [
                *_HOOK_OF_KIND.values(),
                "jepa_presets",
                *(h for h, _ in NAMED_HOOKS.values()),
                FOLDER_DATASET_HOOK,
                EXPORTERS_HOOK,
            ]
        )
        raise RegistryError(
            f"plugin '{pm.get_name(err.plugin)}' implements a hook that does not exist ({err}); "
            f"valid hooks: {', '.join(hooks)}."
        ) from err
    return Registry(pm, infos, failures)


def _register(pm: pluggy.PluginManager, infos: dict[str, PluginInfo], plugin: object, info: PluginInfo) -> None:
    if info.name in infos:
        raise RegistryError(f"two plugins are named '{info.name}': {infos[info.name].origin()} and {info.origin()}.")
    try:
        pm.register(plugin, name=info.name)
    except pluggy.PluginValidationError as err:
        raise RegistryError(f"{info.origin()} is not a valid plugin: {err}.") from err
    infos[info.name] = info


def _import(path: str, name: str, on_error: OnError, failures: list[PluginFailure], loader=None) -> Any:
    try:
        return loader() if loader is not None else importlib.import_module(path)
    except Exception as err:  # any import-time failure of third-party code
        message = f"plugin '{name}' ({path}) failed to import: {type(err).__name__}: {err}"
        if on_error == "raise":
            raise RegistryError(message + "; fix or uninstall it, or load with on_error='warn'.") from err
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        failures.append(PluginFailure(name, path, f"{type(err).__name__}: {err}"))
        return None


def _entry_points() -> list[md.EntryPoint]:
    return sorted(md.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _own_dist() -> tuple[str | None, str | None]:
    try:
        return "jepaforge", md.version("jepaforge")
    except md.PackageNotFoundError:
        return None, None
