"""The run config a command asks for: a preset or a config file, then paths and overrides.

>>> cfg = resolve_config(build_registry(), plugin="image", preset="demo", out="runs/demo",
...                      overrides=["optim.lr=5e-4"])                     # doctest: +SKIP
>>> cfg = resolve_config(build_registry(), config_file="runs/demo/config.yaml")   # doctest: +SKIP
>>> cfg = resolve_config(build_registry(), plugin="image", preset="small",
...                      config_file="my_changes.yaml")                      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from jepa_core.config import RunConfig, apply_overrides, load_config, overlay, set_value
from jepa_core.config_files import read_config_file
from jepa_core.errors import ConfigError
from jepa_core.registry import Registry


def resolve_config(
    registry: Registry,
    *,
    config_file: str | None = None,
    plugin: str | None = None,
    preset: str | None = None,
    data: str | None = None,
    out: str | None = None,
    init_from: str | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """A preset (or a config file; with both, the file's settings on the preset, as
    :func:`~jepa_core.config.overlay` applies them), then ``data.root``, ``train.out_dir``, ``train.init_from`` and
    the ``section.key=value`` overrides, every value type-checked.

    Component switches (``data.name=video_files``) apply first: they reset that component's
    options, which must not drop ``data``; every other override comes last and wins. A bad
    preset, key or value is a :class:`ConfigError` (one sentence).
    """
    if config_file and not (plugin or preset):
        cfg = load_config(config_file, registry)
    else:
        if not plugin or not preset:
            raise ConfigError(
                f"--plugin and --preset are required (plugins with presets: {', '.join(registry.preset_plugins())})."
            )
        cfg = registry.preset(plugin, preset).build()
        if config_file:
            cfg = overlay(cfg, read_config_file(config_file), registry, config_file)
    switches = [o for o in overrides if o.split("=", 1)[0].strip().endswith(".name")]
    cfg = apply_overrides(cfg, switches, registry)
    if data is not None:
        _check_reads_folder(cfg, registry)
        cfg = set_value(cfg, "data.root", data, registry, from_text=True)
    if out is not None:
        cfg = set_value(cfg, "train.out_dir", out, registry, from_text=True)
    if init_from is not None:
        cfg = set_value(cfg, "train.init_from", init_from, registry, from_text=True)
    return apply_overrides(cfg, [o for o in overrides if o not in switches], registry)


def _check_reads_folder(cfg: RunConfig, registry: Registry) -> None:
    """``--data`` sets ``data.root``: a dataset without one (generated samples) is a :class:`ConfigError`
    naming the switch to the plugin's folder dataset, with the options the two share and this config changes."""
    options = cfg.data.options
    if not attrs.has(type(options)) or "root" in attrs.fields_dict(type(options)):
        return
    folder = registry.folder_dataset(cfg.plugin)
    if folder is None:
        fix = "pick a preset whose dataset reads a folder"
    else:
        defaults = registry.get("dataset", folder.dataset).config_type()
        shared = [f for f in attrs.fields_dict(type(options)) if f in attrs.fields_dict(type(defaults))]
        kept = [
            f"--set data.{f}={_as_text(getattr(options, f))}"
            for f in shared
            if getattr(options, f) != getattr(defaults, f)
        ]
        if getattr(defaults, "val_fraction", None) == 0 and cfg.probe.enabled:
            kept.append("--set data.val_fraction=0.1")  # the end-of-run probe reads a val split
        fix = "add " + " ".join([f"--set data.name={folder.dataset}", *kept]) + " to train this recipe on a folder"
    raise ConfigError(
        f"--data sets data.root, but dataset '{cfg.data.name}' of {cfg.plugin}/{cfg.preset} generates its "
        f"samples and reads no folder; {fix}."
    )


def _as_text(value: object) -> str:
    """A value as ``--set`` reads it back (YAML flow style: ``true``, ``[0.3, 1.0]``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_as_text(v) for v in value) + "]"
    return str(value)
