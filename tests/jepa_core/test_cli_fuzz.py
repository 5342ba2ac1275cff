"""Fuzzing the command line: a few hundred seeded random ``--set`` values and config files, each of
which must end in exit 0 or in exit 2 with one line on stderr, never a traceback.

``jepa train`` is called in-process through ``main(argv)``. A config that passes every check
stops where training work would begin (model building is replaced by a sentinel), except for a
handful that really train one step of the toy preset.
"""

from __future__ import annotations

import json
import random

import pytest

from jepa_core import run as run_module
from jepa_core.cli import main
from jepa_core.config import to_dict
from tests import toy_seq_plugin

SEED = 20261130
TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin"]
INTS = [0, 1, -1, 2, 3, 7, 64, 255, 2**31, 2**63 - 1, 2**63, 10**12, 10**20, -(10**30)]
FLOATS = [
    "0.5",
    "1e-9",
    "1e309",
    "-1e309",
    "nan",
    "inf",
    "-inf",
    "-0.0",
    "1e-320",
    "3.",
    ".5",
    "1_000",
    "0x10",
    "1e5e5",
]
TEXTS = [
    "",
    " ",
    "none",
    "null",
    "None",
    "true",
    "false",
    "yes",
    "maybe",
    "auto",
    "cpu",
    "cuda:7",
    "fsdp",
    "bf16",
    "x" * 300,
    "caf\u00e9",
    "\x00",
    "a=b",
    "vit",
    "seq_block",
    "ema",
    "smooth_l1",
    "((",
    "(1,(2)",
    "[]",
    "()",
    "1,2",
    "1,2,3",
    "0.9,0.95",
    "(1,2)",
    "((0.1,0.2),(0.3,0.4))",
    "[[1,2],[3]]",
    "[[0.1, 0.2], [0.3, x]]",
]
JUNK_KEYS = [
    "train",
    "train.",
    ".lr",
    "optim.lr.x",
    "nosuch.key",
    "optim.nosuch",
    "",
    "=",
    "probe.",
    "data.name",
    "encoder.name",
    "loss.name",
    "masker.name",
    "target.name",
    "predictor.name",
    "plugin",
    "preset.x",
]


class ReachedTraining(Exception):
    """Raised where the run would start building models: the config passed every check."""


@pytest.fixture
def stop_before_training(monkeypatch):
    def build_parts(*args, **kwargs):
        raise ReachedTraining

    monkeypatch.setattr(run_module, "build_parts", build_parts)


def _keys() -> dict[str, object]:
    """Every ``section.key`` of the toy preset with its value."""
    data = to_dict(toy_seq_plugin.toy_config())
    return {
        f"{section}.{key}": value
        for section, values in data.items()
        if isinstance(values, dict)
        for key, value in values.items()
    }


def _plausible(rng: random.Random, current: object) -> str:
    """A value of the same kind as ``current``: often valid, sometimes at an edge."""
    if isinstance(current, bool):
        return rng.choice(["true", "false"])
    if isinstance(current, int):
        return str(rng.choice([1, 2, 4, 8, 16, 32, current, current + 1, max(current - 1, 0)]))
    if isinstance(current, float):
        return repr(rng.choice([0.0, 1e-4, 0.01, 0.5, 0.99, 1.0, current * rng.random(), current]))
    if isinstance(current, (list, tuple)):
        return ",".join(_plausible(rng, item) for item in current)
    return str(current)


def _text(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.3:
        return str(rng.choice(INTS))
    if pick < 0.5:
        return rng.choice(FLOATS)
    return rng.choice(TEXTS)


def _json_value(rng: random.Random, depth: int = 0):
    pick = rng.randrange(9 if depth < 2 else 6)
    return [
        lambda: rng.choice(INTS),
        lambda: float(rng.choice(["0.5", "1e-9", "1e308", "-0.0", "inf", "nan"])),
        lambda: rng.choice(TEXTS),
        lambda: rng.choice([True, False]),
        lambda: None,
        lambda: 10**400,
        lambda: [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {rng.choice(TEXTS + ["name"]): _json_value(rng, depth + 1) for _ in range(rng.randrange(3))},
        lambda: [[rng.random(), rng.random()], [rng.random()]],
    ][pick]()


def _check(capsys, argv: list[str], case: str) -> str:
    """Run ``argv``: 'ok', 'error' (exit 2, one line) or 'valid' (reached training)."""
    try:
        code = main(argv)
    except ReachedTraining:
        capsys.readouterr()
        return "valid"
    out, err = capsys.readouterr()
    assert code in (0, 2), f"{case}: exit {code}\n{err[-2000:]}"
    if code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, f"{case}:\n{err[-2000:]}"
        return "error"
    return "ok"


def test_random_set_values_exit_0_or_2_with_one_line(tmp_path, capsys, stop_before_training):
    rng = random.Random(SEED)
    keys = _keys()
    outcomes: dict[str, int] = {}
    for n in range(300):
        sets = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            key = rng.choice(JUNK_KEYS) if rng.random() < 0.1 else rng.choice(sorted(keys))
            value = _plausible(rng, keys[key]) if key in keys and rng.random() < 0.5 else _text(rng)
            item = f"{key}={value}" if rng.random() < 0.97 else key
            sets += ["--set", item]
        argv = [
            *TOY,
            "train",
            "--plugin",
            "toyseq",
            "--preset",
            "tiny",
            "--out",
            str(tmp_path / f"run{n}"),
            "--set",
            "train.device=cpu",
            *sets,
        ]
        result = _check(capsys, argv, " ".join(sets))
        outcomes[result] = outcomes.get(result, 0) + 1
    assert outcomes.get("error", 0) > 100 and outcomes.get("valid", 0) > 20, outcomes  # both sides exercised


def test_random_set_values_on_the_image_preset(capsys):
    """Image options have their own validators (mask scales, sizes): ``config show`` only."""
    rng = random.Random(SEED + 1)
    from jepa_core.registry import build_registry

    data = to_dict(build_registry().preset("image", "demo").build())
    keys = [
        f"{s}.{k}"
        for s, v in data.items()
        if isinstance(v, dict) and s in ("encoder", "predictor", "masker", "data")
        for k in v
    ]
    for _ in range(30):
        item = f"{rng.choice(keys)}={_text(rng)}"
        _check(capsys, ["config", "show", "--plugin", "image", "--preset", "demo", "--set", item], item)


def _mutated_config(rng: random.Random, base: dict) -> str:
    data = json.loads(json.dumps(base))
    pick = rng.random()
    if pick < 0.05:
        return rng.choice(['{"plugin": "toyseq",', "", "null", "[]", "42", '"text"', "{" * 50, '{"a": NaN}'])
    for _ in range(rng.choice([1, 1, 2, 3])):
        section = rng.choice(list(data) + ["nosuch"])
        what = rng.random()
        if what < 0.6 and isinstance(data.get(section), dict) and data[section]:
            key = rng.choice(list(data[section]) + ["nosuch"])
            data[section][key] = _json_value(rng)
        elif what < 0.75 and section in data:
            if isinstance(data[section], dict) and data[section] and rng.random() < 0.5:
                del data[section][rng.choice(list(data[section]))]
            else:
                del data[section]
        else:
            data[section] = _json_value(rng)
    return json.dumps(data)


def test_random_config_files_exit_0_or_2_with_one_line(tmp_path, capsys, stop_before_training):
    rng = random.Random(SEED + 2)
    base = to_dict(toy_seq_plugin.toy_config())
    base["train"]["device"] = "cpu"
    outcomes: dict[str, int] = {}
    for n in range(150):
        path = tmp_path / f"config{n}.json"
        path.write_text(_mutated_config(rng, base))
        result = _check(
            capsys, [*TOY, "train", "--config", str(path), "--out", str(tmp_path / f"run{n}")], path.read_text()[:300]
        )
        outcomes[result] = outcomes.get(result, 0) + 1
    assert outcomes.get("error", 0) > 50 and outcomes.get("valid", 0) > 5, outcomes


def test_a_few_fuzzed_valid_configs_really_train(tmp_path, capsys):
    rng = random.Random(SEED + 3)
    trained = 0
    for n in range(40):
        optim = [
            "lr",
            "start_lr",
            "final_lr",
            "weight_decay",
            "eps",
            "betas",
            "ema_start",
            "clip_grad",
            "warmup_epochs",
        ]
        sets = [arg for key in rng.sample(optim, 2) for arg in ("--set", f"optim.{key}={_text(rng)}")]
        argv = [
            *TOY,
            "train",
            "--plugin",
            "toyseq",
            "--preset",
            "tiny",
            "--out",
            str(tmp_path / f"run{n}"),
            "--set",
            "train.device=cpu",
            "--set",
            "train.max_steps=1",
            *sets,
        ]
        if _check(capsys, argv, " ".join(sets)) == "ok":
            trained += 1
            if trained == 2:
                return
    pytest.fail("fewer than two fuzzed configs were valid")
