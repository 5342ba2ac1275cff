"""The file form of a run config: YAML (``config.yaml``, written by default) or JSON (still read).

Both hold the same plain data, flat per component (``{"encoder": {"name": "vit", ...}, ...}``,
see :func:`jepa_core.config.to_dict`); tuples are written as lists::

    text = dump_text({"optim": {"lr": 1e-3}}, "yaml")       # 'optim:\\n  lr: 0.001\\n'
    data = read_config_file("runs/demo/config.yaml")         # the same dict back
    run_config_file("runs/old_run")                          # runs/old_run/config.json of an older run

The format of a file follows its name: ``.json`` is JSON, anything else YAML (a file that
starts with ``{`` is also read as JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jepa_core.errors import ConfigError
from jepa_core.yaml_io import dump_yaml, load_yaml

CONFIG_FORMATS: tuple[str, ...] = ("yaml", "json")
"""The text forms of a run config (``jepa config show --format``)."""

CONFIG_FILE = "config.yaml"
"""The resolved config a run directory keeps."""

LEGACY_CONFIG_FILE = "config.json"
"""The name run directories written before YAML use; still read."""


def plain(value: Any) -> Any:
    """``value`` with tuples turned into lists, recursively: what YAML and JSON write alike.

    >>> plain({"betas": (0.9, 0.999), "scale": ((0.1, 0.1), (0.6, 0.6))})
    {'betas': [0.9, 0.999], 'scale': [[0.1, 0.1], [0.6, 0.6]]}
    """
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`CONFIG_FORMATS`, else a :class:`ConfigError` naming the valid ones."""
    if fmt not in CONFIG_FORMATS:
        raise ConfigError(f"unknown config format '{fmt}'; valid formats: {', '.join(CONFIG_FORMATS)}.")
    return fmt


def dump_text(data: dict[str, Any], fmt: str = "yaml") -> str:
    """A config dict as YAML (block style, lists of numbers inline, key order kept) or JSON text.

    >>> print(dump_text({"optim": {"lr": 0.001, "betas": (0.9, 0.999)}}), end="")
    optim:
      lr: 0.001
      betas: [0.9, 0.999]
    """
    if check_format(fmt) == "json":
        return json.dumps(plain(data), indent=2) + "\n"
    return dump_yaml(plain(data))


def format_of(path: str | Path) -> str:
    """``json`` for a ``.json`` file name, else ``yaml``.

    >>> format_of("runs/demo/config.json"), format_of("run.yml")
    ('json', 'yaml')
    """
    return "json" if Path(path).suffix.lower() == ".json" else "yaml"


def run_config_file(run_dir: str | Path) -> Path | None:
    """The config a run directory keeps: ``config.yaml``, or the ``config.json`` of an older run;
    None when it has neither.

    >>> run_config_file("runs/demo")                         # doctest: +SKIP
    PosixPath('runs/demo/config.yaml')
    """
    for name in (CONFIG_FILE, LEGACY_CONFIG_FILE):
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


def parse_text(text: str, source: str, fmt: str) -> Any:
    """The data of config ``text`` in ``fmt``; a :class:`ConfigError` naming ``source`` when malformed."""
    if check_format(fmt) == "yaml":
        return load_yaml(text, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"config file '{source}' is not valid JSON: {err}.") from err
    except RecursionError:
        raise ConfigError(f"config file '{source}' nests too deeply to be a run config.") from None


def read_config_file(path: str | Path) -> Any:
    """The parsed content of a YAML or JSON config file, every problem as one :class:`ConfigError`
    sentence (missing, a directory, not UTF-8, unreadable, malformed).

    >>> read_config_file("runs/demo/config.yaml")["preset"]     # doctest: +SKIP
    'demo'
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a directory; give a config file (e.g. runs/demo/{CONFIG_FILE}).")
    if not path.is_file():
        raise ConfigError(f"config file '{path}' does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file '{path}' is not a text file (it is not UTF-8); give a YAML or JSON run config."
        ) from None
    except OSError as err:
        raise ConfigError(f"config file '{path}' cannot be read: {err.strerror or err}.") from err
    fmt = format_of(path)
    if fmt == "yaml" and path.suffix.lower() not in (".yaml", ".yml") and text.lstrip().startswith("{"):
        fmt = "json"
    return parse_text(text, str(path), fmt)
