"""Reading YAML config files safely, with every problem as one sentence.

Parsing is PyYAML's safe loader (:class:`yaml.SafeLoader`: plain data only, no Python objects)
with two differences that matter for configs:

* numbers in exponent form (``1e-3``, ``5E4``, ``1.0e3``) are floats, as in YAML 1.2 and JSON;
  YAML 1.1 (PyYAML's default) reads some of them as strings;
* a mapping key given twice, or a key that is not a string, is an error instead of being
  silently resolved.

>>> load_yaml("optim:\\n  lr: 1e-3\\n  betas: [0.9, 0.999]\\n")
{'optim': {'lr': 0.001, 'betas': [0.9, 0.999]}}
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from jepa_core.errors import ConfigError

_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class ConfigLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` with YAML 1.2 exponent floats and checked mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)  # merge keys (``<<: *anchor``) first, as the safe loader does
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            where = f"line {key_node.start_mark.line + 1}"
            if not isinstance(key, str):
                raise ConfigError(f"the key {key!r} at {where} is not a name (keys must be strings; quote it)")
            if key in seen:
                raise ConfigError(f"the key '{key}' appears twice in one mapping (again at {where})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class ConfigDumper(yaml.SafeDumper):
    """:class:`yaml.SafeDumper` that quotes strings :class:`ConfigLoader` would read as floats and
    writes lists of plain values inline (``[0.9, 0.999]``), everything else as blocks."""

    def represent_list(self, data: list) -> yaml.SequenceNode:
        inline = all(not isinstance(item, (list, tuple, dict)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


ConfigDumper.add_representer(list, ConfigDumper.represent_list)


for _cls in (ConfigLoader, ConfigDumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789"))


def dump_yaml(data: Any) -> str:
    """``data`` (plain dicts, lists, scalars) as block-style YAML, key order kept, lists of
    values inline; :func:`load_yaml` reads it back equal.

    >>> print(dump_yaml({"optim": {"lr": 0.001, "betas": [0.9, 0.999]}, "name": "1e5"}), end="")
    optim:
      lr: 0.001
      betas: [0.9, 0.999]
    name: '1e5'
    """
    return yaml.dump(
        data, Dumper=ConfigDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000
    )


def load_yaml(text: str, source: str = "<text>") -> Any:
    """The data of YAML ``text`` (a dict, list, scalar, or None for an empty document).

    Malformed YAML, a duplicate or non-string key, more than one document, or nesting too deep
    raise a :class:`ConfigError` naming ``source`` and, where known, the line.

    >>> load_yaml("a: [1")                                             # doctest: +ELLIPSIS
    Traceback (most recent call last):
    jepa_core.errors.ConfigError: config file '<text>' is not valid YAML (line 1, column 6: ...).
    """
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as err:
        raise ConfigError(f"config file '{source}' is not a valid config: {err}.") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = err.problem or err.context or "malformed"
        if err.context and problem.startswith("but "):  # "expected a single document ..., but found another"
            problem = f"{err.context}, {problem}"
        raise ConfigError(f"config file '{source}' is not valid YAML ({where}{problem}).") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file '{source}' is not valid YAML ({str(err).splitlines()[0]}).") from None
    except RecursionError:
        raise ConfigError(f"config file '{source}' nests too deeply to be a run config.") from None
