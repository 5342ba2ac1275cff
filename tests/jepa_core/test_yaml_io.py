"""The YAML config reader: safe loading, YAML 1.2 floats, duplicate keys, one-sentence errors;
and the config file form (YAML written, JSON still read)."""

from __future__ import annotations

import json

import pytest

from jepa_core.config import from_dict, to_dict
from jepa_core.config_files import (
    CONFIG_FILE,
    LEGACY_CONFIG_FILE,
    dump_text,
    format_of,
    read_config_file,
    run_config_file,
)
from jepa_core.errors import ConfigError
from jepa_core.registry import build_registry
from jepa_core.yaml_io import dump_yaml, load_yaml


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-3", 0.001),
        ("5E4", 50000.0),
        ("1.0e-06", 1e-6),
        ("-2e+2", -200.0),
        ("1.5", 1.5),
        ("3", 3),
        ("'1e-3'", "1e-3"),
        ("null", None),
        ("true", True),
        ("[0.9, 0.999]", [0.9, 0.999]),
    ],
)
def test_scalars_read_as_yaml_1_2(text, value):
    got = load_yaml(f"x: {text}\n")["x"]
    assert got == value and type(got) is type(value)


def test_strings_that_look_like_floats_survive_a_round_trip():
    data = {"a": "1e5", "b": 1e5, "c": "true", "d": "null", "e": [0.1, 2]}
    assert load_yaml(dump_yaml(data)) == data


def test_merge_keys_work():
    assert load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")["other"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(
    "text, words",
    [
        ("a: 1\nb: 2\na: 3\n", ["'a' appears twice", "line 3"]),
        ("1: x\n", ["key 1", "line 1", "quote it"]),
        ("a: [1\n", ["not valid YAML", "line 2"]),
        ("a: 1\n---\nb: 2\n", ["single document", "line 2"]),
        ("a: !!python/object:os.system {}\n", ["not valid YAML", "python/object"]),
        ("a: " + "[" * 5000 + "]" * 5000, ["nests too deeply"]),
    ],
)
def test_bad_yaml_is_one_sentence(text, words):
    with pytest.raises(ConfigError) as err:
        load_yaml(text, "run.yaml")
    message = str(err.value)
    assert message.startswith("config file 'run.yaml'") and "\n" not in message
    for word in words:
        assert word in message


def test_every_preset_round_trips_through_yaml_and_json():
    reg = build_registry()
    for plugin in reg.preset_plugins():
        for name, spec in reg.presets(plugin).items():
            cfg = spec.build()
            for fmt in ("yaml", "json"):
                text = dump_text(to_dict(cfg), fmt)
                data = load_yaml(text) if fmt == "yaml" else json.loads(text)
                assert from_dict(data, reg) == cfg, (plugin, name, fmt)


def test_dump_text_rejects_an_unknown_format():
    with pytest.raises(ConfigError, match="unknown config format 'toml'; valid formats: yaml, json"):
        dump_text({}, "toml")


def test_format_follows_the_file_name(tmp_path):
    assert format_of("x/config.json") == "json" and format_of("x/run.yaml") == "yaml" and format_of("x/run") == "yaml"
    (tmp_path / "a.yaml").write_text("plugin: image\n")
    (tmp_path / "b.json").write_text('{"plugin": "image"}')
    (tmp_path / "c.cfg").write_text('{"plugin": "image"}')
    for name in ("a.yaml", "b.json", "c.cfg"):
        assert read_config_file(tmp_path / name) == {"plugin": "image"}


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: p / "missing.yaml", "does not exist"),
        (lambda p: p, "is a directory"),
        (lambda p: (p / "bin.yaml").write_bytes(b"\xff\xfe\x00") and p / "bin.yaml", "not UTF-8"),
        (lambda p: (p / "bad.json").write_text("{") and p / "bad.json", "not valid JSON"),
    ],
)
def test_unreadable_config_files_are_one_sentence(tmp_path, make, words):
    with pytest.raises(ConfigError, match=words):
        read_config_file(make(tmp_path))


def test_run_config_file_prefers_yaml_and_reads_older_runs(tmp_path):
    assert run_config_file(tmp_path) is None
    (tmp_path / LEGACY_CONFIG_FILE).write_text("{}")
    assert run_config_file(tmp_path) == tmp_path / LEGACY_CONFIG_FILE
    (tmp_path / CONFIG_FILE).write_text("{}")
    assert run_config_file(tmp_path) == tmp_path / CONFIG_FILE
