"""Config overrides (parsing and type checks), component switching, the JSON form and batch layout."""

from __future__ import annotations

import json
import types
from typing import Literal

import attrs
import pytest

from jepa_core import hookimpl
from jepa_core.config import (
    OptimConfig,
    TrainConfig,
    apply_overrides,
    component,
    from_dict,
    load_config,
    parse_value,
    save_config,
    set_value,
    to_dict,
)
from jepa_core.errors import ConfigError, RegistryError
from jepa_core.losses import L2Config, SmoothL1Config
from jepa_core.registry import build_registry
from jepa_core.specs import MaskerSpec
from tests import toy_seq_plugin


def _scale(_inst, attr, value):
    lo, hi = value
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"{attr.name} must satisfy 0 < min <= max <= 1, got {value!r}")


@attrs.frozen
class RangedBlockConfig:
    """A masker config with a validated range, like the image plugin's block scales."""

    scale: tuple[float, float] = attrs.field(default=(0.15, 0.2), validator=_scale)
    mode: Literal["a", "b"] = "a"
    min_keep: int | None = None


def _divides(inst, attr, value):
    if inst.cells % inst.block:
        raise ValueError(f"cells={inst.cells} is not divisible by block={inst.block}")


@attrs.frozen
class GridConfig:
    """Two options that constrain each other, like an encoder's image and patch sizes."""

    cells: int = attrs.field(default=32, validator=_divides)
    block: int = attrs.field(default=8, validator=_divides)


@pytest.fixture
def reg():
    plugin = types.ModuleType("ranged")

    @hookimpl
    def jepa_maskers():
        yield MaskerSpec(name="ranged_block", config_type=RangedBlockConfig, build=lambda cfg: None)
        yield MaskerSpec(name="grid", config_type=GridConfig, build=lambda cfg: None)

    plugin.jepa_maskers = jepa_maskers
    return build_registry(autoload=False, plugins=[toy_seq_plugin, plugin])


@pytest.fixture
def cfg():
    return toy_seq_plugin.toy_config()


# ------------------------------------------------------------------- overrides parse
def test_overrides_parse_each_type(cfg, reg):
    new = apply_overrides(
        cfg,
        [
            "train.epochs=7",  # int
            "optim.lr=5e-4",  # float
            "optim.ema_start=1",  # int text into a float field
            "probe.enabled=true",  # bool
            "probe.compare_random_init=off",
            "train.device=cpu",  # str
            "train.max_steps=none",  # Optional -> None
            "train.micro_batch_size=8",  # Optional -> int
            "optim.clip_grad=1.5",  # Optional[float]
            "optim.betas=0.8,0.95",  # tuple
            "train.precision=bf16",  # Literal
            "masker.num_targets=3",  # component option
            " data.num_samples = 64 ",  # spaces around key and value
        ],
        reg,
    )
    assert new.train.epochs == 7 and isinstance(new.train.epochs, int)
    assert new.optim.lr == 5e-4
    assert new.optim.ema_start == 1.0 and isinstance(new.optim.ema_start, float)
    assert new.probe.enabled is True and new.probe.compare_random_init is False
    assert new.train.device == "cpu"
    assert new.train.max_steps is None and new.train.micro_batch_size == 8
    assert new.optim.clip_grad == 1.5
    assert new.optim.betas == (0.8, 0.95)
    assert new.train.precision == "bf16"
    assert new.masker.options.num_targets == 3 and new.masker.name == "seq_block"
    assert new.data.options.num_samples == 64
    assert cfg.train.epochs == 4  # the original is untouched (frozen records)


def test_tuple_accepts_brackets_and_value_keeps_equals(cfg, reg):
    assert apply_overrides(cfg, ["optim.betas=(0.5, 0.6)"], reg).optim.betas == (0.5, 0.6)
    assert apply_overrides(cfg, ["optim.betas=[0.5,0.6]"], reg).optim.betas == (0.5, 0.6)
    assert apply_overrides(cfg, ["train.out_dir=runs/a=b"], reg).train.out_dir == "runs/a=b"


def test_optional_literal_and_tuple_in_component_options(reg, cfg):
    cfg = set_value(cfg, "masker.name", "ranged_block", reg)
    new = apply_overrides(cfg, ["masker.scale=0.1,0.3", "masker.mode=b", "masker.min_keep=4"], reg)
    assert new.masker.options == RangedBlockConfig(scale=(0.1, 0.3), mode="b", min_keep=4)
    assert apply_overrides(new, ["masker.min_keep=null"], reg).masker.options.min_keep is None


# -------------------------------------------------------------------- override errors
@pytest.mark.parametrize(
    "override, pieces",
    [
        ("optim.lrr=1", ["'optim.lrr'", "valid keys", "optim.lr", "optim.start_lr"]),
        ("masker.size=2", ["'masker.size'", "masker.num_targets", "masker.block"]),
        ("model.depth=2", ["section 'model'", "encoder", "optim", "probe"]),
        ("lr=1", ["'lr'", "section.field"]),
        ("optim.lr", ["'optim.lr'", "key=value"]),
    ],
)
def test_wrong_key(cfg, reg, override, pieces):
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, [override], reg)
    for piece in pieces:
        assert piece in str(info.value)


@pytest.mark.parametrize(
    "override, pieces",
    [
        ("train.epochs=abc", ["'train.epochs'", "int", "'abc'"]),
        ("train.epochs=1.5", ["'train.epochs'", "'1.5'"]),
        ("optim.lr=fast", ["'optim.lr'", "a finite number", "'fast'"]),
        ("optim.lr=nan", ["'optim.lr'", "nan"]),
        ("probe.enabled=maybe", ["'probe.enabled'", "bool", "'maybe'"]),
        ("optim.betas=0.9", ["'optim.betas'", "2 items"]),
        ("optim.betas=0.9,x", ["'optim.betas'", "'x'"]),
        ("train.precision=fp8", ["'train.precision'", "'fp32', 'bf16', 'fp16'", "'fp8'"]),
        ("train.max_steps=many", ["'train.max_steps'", "'many'"]),
        ("masker.num_targets=two", ["'masker.num_targets'", "'two'"]),
    ],
)
def test_wrong_type(cfg, reg, override, pieces):
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, [override], reg)
    for piece in pieces:
        assert piece in str(info.value)


@pytest.mark.parametrize(
    "override, pieces",
    [
        ("optim.lr=-1", ["'optim.lr'", "lr must be > 0", "-1"]),
        ("optim.ema_start=1.5", ["'optim.ema_start'", "[0, 1]"]),
        ("train.batch_size=0", ["'train.batch_size'", "> 0"]),
        ("train.max_bad_fraction=2", ["'train.max_bad_fraction'"]),
        ("train.num_workers=-2", ["'train.num_workers'", ">= 0"]),
        ("loss.beta=0", ["'loss.beta'", "beta must be > 0"]),
    ],
)
def test_out_of_range(cfg, reg, override, pieces):
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, [override], reg)
    for piece in pieces:
        assert piece in str(info.value)


def test_out_of_range_component_option(cfg, reg):
    cfg = set_value(cfg, "masker.name", "ranged_block", reg)
    with pytest.raises(ConfigError, match=r"'masker.scale'.*scale must satisfy"):
        apply_overrides(cfg, ["masker.scale=0.5,1.5"], reg)
    with pytest.raises(ConfigError, match=r"'masker.mode' must be one of 'a', 'b', got 'c'"):
        apply_overrides(cfg, ["masker.mode=c"], reg)


def test_options_that_constrain_each_other_change_together(cfg, reg):
    cfg = set_value(cfg, "masker.name", "grid", reg)
    for order in (["masker.cells=28", "masker.block=7"], ["masker.block=7", "masker.cells=28"]):
        assert apply_overrides(cfg, order, reg).masker.options == GridConfig(cells=28, block=7)
    with pytest.raises(ConfigError, match=r"'masker.cells': cells=28 is not divisible by block=8"):
        apply_overrides(cfg, ["masker.cells=28"], reg)
    with pytest.raises(ConfigError, match=r"'masker.block', 'masker.cells': cells=29 is not divisible by block=7"):
        apply_overrides(cfg, ["masker.block=7", "masker.cells=29"], reg)
    assert apply_overrides(cfg, ["masker.block=7", "masker.block=4", "masker.cells=28"], reg).masker.options.block == 4


def test_a_component_name_applies_before_its_options_in_any_order(cfg, reg):
    for order in (["masker.block=4", "masker.name=grid"], ["masker.name=grid", "masker.block=4"]):
        new = apply_overrides(cfg, order, reg)
        assert new.masker.name == "grid" and new.masker.options == GridConfig(block=4)


# -------------------------------------------------------------------- component name
def test_component_name_switch(cfg, reg):
    assert cfg.loss.options == SmoothL1Config()
    new = apply_overrides(cfg, ["loss.name=l2"], reg)
    assert new.loss.name == "l2" and new.loss.options == L2Config()
    with pytest.raises(ConfigError, match=r"'loss.beta'.*valid keys"):  # the new options record has no beta
        apply_overrides(new, ["loss.beta=2"], reg)
    with pytest.raises(RegistryError, match=r"unknown loss 'huber'.*l2, smooth_l1"):
        apply_overrides(cfg, ["loss.name=huber"], reg)


def test_component_helper_uses_registered_defaults(reg):
    assert component(reg, "loss", "smooth-l1", beta=2) == component(reg, "loss", "smooth_l1", beta=2.0)
    assert component(reg, "loss", "smooth_l1", beta=2).options == SmoothL1Config(beta=2.0)
    with pytest.raises(ConfigError, match=r"'loss.gamma'.*loss.beta"):
        component(reg, "loss", "smooth_l1", gamma=1)


def test_parse_value_direct():
    assert parse_value("3", int | None, "k") == 3
    assert parse_value("None", int | None, "k") is None
    assert parse_value("1,2,3", tuple[int, ...], "k") == (1, 2, 3)
    with pytest.raises(ConfigError, match="'k' must be an integer"):
        parse_value("3.5", int, "k")


def test_parse_nested_tuples_from_the_command_line():
    pairs = tuple[tuple[float, float], ...]
    assert parse_value("((0.15, 0.15), (0.7, 0.7))", pairs, "k") == ((0.15, 0.15), (0.7, 0.7))
    assert parse_value("[[1, 2],[3, 4]]", pairs, "k") == ((1.0, 2.0), (3.0, 4.0))
    assert parse_value("(0.8, 0.9)", tuple[float, float], "k") == (0.8, 0.9)  # flat text as before
    with pytest.raises(ConfigError, match=r"'k' must be a nested tuple such as"):
        parse_value("((0.1, 0.2), (0.3", pairs, "k")


# ------------------------------------------------------------------------ file form
def test_dict_round_trip(cfg, reg):
    cfg = apply_overrides(cfg, ["optim.betas=0.8,0.9", "train.max_steps=10", "probe.enabled=true"], reg)
    data = to_dict(cfg)
    assert data["encoder"] == {"name": "seq_transformer", **attrs.asdict(cfg.encoder.options)}
    assert from_dict(data, reg) == cfg
    assert from_dict(json.loads(json.dumps(data)), reg) == cfg  # lists come back as tuples


def test_save_load_round_trip(cfg, reg, tmp_path):
    cfg = set_value(cfg, "masker.name", "ranged_block", reg)
    cfg = apply_overrides(cfg, ["masker.scale=0.2,0.4", "optim.clip_grad=2"], reg)
    path = save_config(cfg, tmp_path / "sub" / "config.json")
    assert json.loads(path.read_text())["masker"]["scale"] == [0.2, 0.4]
    assert load_config(path, reg) == cfg


def test_load_config_errors(reg, cfg, tmp_path):
    with pytest.raises(ConfigError, match="'.*missing.json' does not exist"):
        load_config(tmp_path / "missing.json", reg)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad, reg)
    data = to_dict(cfg)
    with pytest.raises(ConfigError, match="unknown config section 'extra'"):
        from_dict({**data, "extra": {}}, reg)
    with pytest.raises(ConfigError, match=r"'optim.lrr'.*optim.lr"):
        from_dict({**data, "optim": {**data["optim"], "lrr": 1}}, reg)
    with pytest.raises(ConfigError, match=r"'train.epochs' must be an integer, got '4'"):
        from_dict({**data, "train": {**data["train"], "epochs": "4"}}, reg)
    with pytest.raises(ConfigError, match="section 'loss' must be an object with a 'name'"):
        from_dict({**data, "loss": {"beta": 1.0}}, reg)
    with pytest.raises(ConfigError, match="must be a mapping of sections"):
        from_dict([1, 2], reg)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- batch layout
def test_batch_layout():
    assert TrainConfig(batch_size=32).batch_layout(1) == (32, 1)
    assert TrainConfig(batch_size=32).batch_layout(4) == (8, 1)
    assert TrainConfig(batch_size=32, micro_batch_size=8).batch_layout(1) == (8, 4)
    assert TrainConfig(batch_size=32, micro_batch_size=8).batch_layout(2) == (8, 2)
    assert TrainConfig(batch_size=2048, micro_batch_size=128).batch_layout(16) == (128, 1)


def test_batch_layout_errors():
    with pytest.raises(ConfigError, match=r"train.batch_size=30 cannot be split evenly over 4"):
        TrainConfig(batch_size=30).batch_layout(4)
    with pytest.raises(ConfigError, match=r"train.micro_batch_size=12 does not divide the per-process batch 32"):
        TrainConfig(batch_size=32, micro_batch_size=12).batch_layout(1)
    with pytest.raises(ConfigError, match=r"micro_batch_size=16 does not divide the per-process batch 8"):
        TrainConfig(batch_size=32, micro_batch_size=16).batch_layout(4)


def test_defaults_are_the_recipe():
    o = OptimConfig()
    assert (o.lr, o.start_lr, o.final_lr, o.weight_decay, o.final_weight_decay) == (1e-3, 2e-4, 1e-6, 0.04, 0.4)
    assert (o.betas, o.eps, o.ema_start, o.ema_end, o.ipe_scale, o.clip_grad) == (
        (0.9, 0.999),
        1e-8,
        0.996,
        1.0,
        1.0,
        None,
    )


def test_overrides_given_as_one_string_are_named(cfg, reg):
    with pytest.raises(
        TypeError, match=r"^overrides is a list of 'key=value' strings, got the string 'train.epochs=3'"
    ):
        apply_overrides(cfg, "train.epochs=3", reg)  # type: ignore[arg-type]
