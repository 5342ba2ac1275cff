"""Run configuration: frozen attrs records, type-checked overrides, and a YAML (or JSON) file form.

A run config names each component (``encoder``, ``predictor``, ``masker``, ``target``, ``loss``,
``data``) and holds that component's own options record; ``optim``, ``train`` and ``probe``
are core records. Overrides use dotted keys::

    cfg = apply_overrides(cfg, ["optim.lr=5e-4", "masker.num_targets=2"], registry)

The file form is flat per component: ``{"encoder": {"name": "vit", "depth": 12, ...}, ...}``,
written as YAML (a run directory's ``config.yaml``) or JSON (``.json`` names; still read), see
:mod:`jepa_core.config_files`. :func:`load_config` also maps foreign forms that plugins register
(the official I-JEPA YAML files, :mod:`jepa_core.config_import`).
"""

from __future__ import annotations

import json
import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from jepa_core.config_files import dump_text, format_of, read_config_file
from jepa_core.config_import import import_foreign
from jepa_core.errors import ConfigError
from jepa_core.eval.probe import LBFGS_MAX_ITER
from jepa_core.hardware import Precision
from jepa_core.objectives import PredictiveConfig
from jepa_core.regularizers import NoRegularizerConfig
from jepa_core.specs import KINDS

# The validators stay importable from here (plugin option records use them).
from jepa_core.validators import adam_betas, momentum_range, non_negative, path_or_none, positive, unit_interval

if TYPE_CHECKING:
    from jepa_core.registry import Registry

# ------------------------------------------------------------------------- records


@attrs.frozen
class ComponentConfig:
    """Which registered component to build (``name``) and its options record."""

    name: str
    options: Any


def _needs_muon(inst: OptimConfig, attr: attrs.Attribute, value: float) -> None:
    """A scale other than 1 of Muon's AdamW share, which ``adamw`` does not have, is an error."""
    if value != 1.0 and inst.optimizer != "muon":
        raise ValueError(
            f"{attr.name}={value!r} scales the lr of the parameters Muon leaves to AdamW, so it needs "
            f"optimizer='muon' (got {inst.optimizer!r}); set {attr.name}=1 with {inst.optimizer!r}"
        )


@attrs.frozen(kw_only=True)
class OptimConfig:
    """The optimizer (AdamW by default) and the per-iteration schedules of the I-JEPA recipe.

    ``lr_schedule``: ``warmup_cosine`` (I-JEPA, V-JEPA) or ``warmup_constant_cooldown``
    (V-JEPA 2: ``lr`` after warmup, then linear to ``final_lr`` over the last ``cooldown_epochs``).
    A constant weight decay or EMA momentum is ``final_weight_decay = weight_decay`` or
    ``ema_end = ema_start``. ``optimizer``: ``adamw`` or ``muon`` (Muon with ``muon_momentum`` for
    2-D weight matrices, AdamW for the rest: :mod:`jepa_core.optim`); ``muon_adamw_lr_scale``
    multiplies the lr of that AdamW share (``muon`` only).
    """

    lr: float = attrs.field(default=1e-3, validator=positive)
    start_lr: float = attrs.field(default=2e-4, validator=non_negative)
    final_lr: float = attrs.field(default=1e-6, validator=non_negative)
    warmup_epochs: float = attrs.field(default=40.0, validator=non_negative)
    weight_decay: float = attrs.field(default=0.04, validator=non_negative)
    final_weight_decay: float = attrs.field(default=0.4, validator=non_negative)
    betas: tuple[float, float] = attrs.field(default=(0.9, 0.999), validator=adam_betas)
    eps: float = attrs.field(default=1e-8, validator=positive)
    ema_start: float = attrs.field(default=0.996, validator=unit_interval)
    ema_end: float = attrs.field(default=1.0, validator=unit_interval)
    ipe_scale: float = attrs.field(default=1.0, validator=positive)
    clip_grad: float | None = attrs.field(default=None, validator=positive)
    clip_grad_after_warmup: bool = False  # V-JEPA: clip only once the lr warmup is over
    lr_schedule: Literal["warmup_cosine", "warmup_constant_cooldown"] = "warmup_cosine"
    cooldown_epochs: float = attrs.field(default=0.0, validator=non_negative)
    ema_schedule: Literal["linear", "cosine"] = "linear"  # momentum from ema_start to ema_end
    optimizer: Literal["adamw", "muon"] = "adamw"
    muon_momentum: float = attrs.field(default=0.95, validator=momentum_range)
    muon_adamw_lr_scale: float = attrs.field(default=1.0, validator=[positive, _needs_muon])


def seed_range(_inst: Any, attr: attrs.Attribute, value: int) -> None:
    """A seed every generator accepts (torch, numpy, Python): ``0 <= seed < 2**63``."""
    if not 0 <= value < 2**63:
        raise ValueError(f"{attr.name} must be in [0, 2**63 - 1], got {value!r}")


@attrs.frozen(kw_only=True)
class TrainConfig:
    """Loop, device and run-directory settings.

    An epoch is one pass over the dataset, or exactly ``steps_per_epoch`` steps when set
    (V-JEPA's recipe counts 300 steps per epoch; the schedules' warmup and horizon follow it).

    ``batch_size`` is the GLOBAL batch of one optimizer step (the recipe's 2048);
    ``micro_batch_size`` is what one process runs in one forward pass (default: the global
    batch split over the processes). The gap is closed by gradient accumulation, so a preset
    means the same optimisation on 1 GPU or 16.

    Speed and scale (applied from outside the model by :mod:`jepa_core.parallel`):
    ``strategy`` ``auto`` = DDP with several processes, else none; ``fsdp`` shards weights,
    gradients and optimizer state (FSDP2) for ViT-H/G. ``precision`` ``bf16`` autocasts
    (no loss scaler), ``fp16`` adds a GradScaler, ``auto`` is bf16 where the device multiplies
    bf16 natively and fp32 elsewhere (:mod:`jepa_core.hardware`). ``compile`` runs ``torch.compile`` on every
    transformer block; ``activation_checkpointing`` recomputes block activations in backward.
    ``attention`` picks the attention kernel: ``fused`` (SDPA), ``math`` (the explicit product)
    or ``auto`` (:func:`jepa_core.parallel.use_fused_attention`: ``math`` for bf16 on a CPU).

    TensorBoard monitors (:mod:`jepa_core.monitors`, main rank only): ``monitor_every`` logs
    representation-collapse scalars (``monitor/*``; one extra no-grad forward of each encoder),
    ``mask_image_every`` logs pictures of the masks; 0 turns either off.

    ``loggers`` names the metrics loggers every scalar, picture and the resolved config go to
    (:mod:`jepa_core.loggers`): ``tensorboard`` (default), ``csv``, and with their extras
    installed ``wandb`` and ``mlflow``, e.g. ``--set train.loggers=tensorboard,csv``; an empty
    value logs no metrics.

    Online evaluation (``eval.*`` options, :mod:`jepa_core.online_eval`): ``eval_every=None``
    (default) evaluates at the start, at the end of every epoch and at the end when the dataset
    has labels, and says in one line that it is off when it has none; ``N > 0`` evaluates every
    ``N`` steps (and at the start and end) and requires labels; ``0`` turns it off.

    >>> TrainConfig(batch_size=2048, micro_batch_size=128).batch_layout(8)
    (128, 2)
    """

    epochs: int = attrs.field(default=300, validator=positive)
    steps_per_epoch: int | None = attrs.field(default=None, validator=positive)  # None: one pass over the data
    batch_size: int = attrs.field(default=2048, validator=positive)
    micro_batch_size: int | None = attrs.field(default=None, validator=positive)
    max_steps: int | None = attrs.field(default=None, validator=positive)
    num_workers: int = attrs.field(default=8, validator=non_negative)
    seed: int = attrs.field(default=0, validator=seed_range)
    device: str = "auto"
    precision: Precision = "fp32"
    strategy: Literal["auto", "ddp", "fsdp", "none"] = "auto"
    compile: bool = False
    activation_checkpointing: bool = False
    attention: Literal["auto", "fused", "math"] = "auto"
    log_every: int = attrs.field(default=20, validator=positive)
    checkpoint_every: int = attrs.field(default=0, validator=non_negative)
    keep_checkpoints: int = attrs.field(default=2, validator=positive)
    keep_every: int = attrs.field(default=0, validator=non_negative)  # checkpoints at multiples are kept forever
    out_dir: str = attrs.field(default="runs/run", validator=path_or_none)
    max_bad_fraction: float = attrs.field(default=0.01, validator=unit_interval)
    # weights to start a NEW run from (either checkpoint format)
    init_from: str | None = attrs.field(default=None, validator=path_or_none)
    loss_log: bool = False  # per-step losses in out_dir/losses.tsv (synced every log_every steps)
    monitor_every: int = attrs.field(default=100, validator=non_negative)  # collapse scalars; 0 = off
    mask_image_every: int = attrs.field(default=500, validator=non_negative)  # mask pictures; 0 = off
    eval_every: int | None = attrs.field(default=None, validator=non_negative)  # online evaluation; see below
    loggers: tuple[str, ...] = ("tensorboard",)  # metrics loggers (jepa_core.loggers)

    def batch_layout(self, world_size: int) -> tuple[int, int]:
        """``(micro_batch, accum_steps)`` for ``world_size`` processes; ConfigError if uneven."""
        if self.batch_size % world_size:
            raise ConfigError(
                f"train.batch_size={self.batch_size} cannot be split evenly over {world_size} processes; "
                f"use a multiple of {world_size}."
            )
        per_process = self.batch_size // world_size
        micro = self.micro_batch_size or per_process
        if per_process % micro:
            raise ConfigError(
                f"train.micro_batch_size={micro} does not divide the per-process batch {per_process} "
                f"(train.batch_size={self.batch_size} over {world_size} processes)."
            )
        return micro, per_process // micro


@attrs.frozen(kw_only=True)
class ProbeConfig:
    """Probe run at the end of training (the demos use it): ``kind`` ``linear`` (mean-pooled
    features, I-JEPA's protocol) or ``attentive`` (a cross-attention pooler over all output
    tokens, V-JEPA's; see :mod:`jepa_core.eval.attentive`), with these epochs, lr, weight decay and
    batch size; ``attentive_blocks`` is the attentive probe's depth (V-JEPA 1, V-JEPA 2 4)."""

    enabled: bool = False
    kind: Literal["linear", "attentive"] = "linear"
    attentive_blocks: int = attrs.field(default=1, validator=positive)
    epochs: int = attrs.field(default=100, validator=positive)
    lr: float = attrs.field(default=1e-2, validator=positive)
    weight_decay: float = attrs.field(default=1e-4, validator=non_negative)
    batch_size: int = attrs.field(default=64, validator=positive)
    compare_random_init: bool = True


@attrs.frozen(kw_only=True)
class EvalConfig:
    """Online evaluation during training (:mod:`jepa_core.online_eval`), when ``train.eval_every``
    asks for it: a k-NN and a linear probe of the frozen evaluation encoder (the target encoder,
    mean-pooled) on a fixed, seeded labelled subset.

    ``train_samples`` samples of the ``train_eval`` split are the probes' training set and
    ``val_samples`` samples of the ``val`` split (or, without one, further samples of
    ``train_eval``) their test set; ``None`` takes up to 5,000 and 2,000 (fewer when the data is
    smaller), an explicit size larger than the data is an error. ``knn_k``/``knn_temperature``: the weighted k-NN vote;
    ``linear_steps``: the most full-batch L-BFGS iterations of the multinomial logistic
    regression on standardised features (it stops earlier once converged:
    :data:`jepa_core.eval.probe.LBFGS_TOLERANCE`), with L2 penalty ``linear_l2``; ``latents``: draw
    the val features on their two principal axes at each evaluation (:mod:`jepa_core.latents`).
    """

    train_samples: int | None = attrs.field(default=None, validator=positive)
    val_samples: int | None = attrs.field(default=None, validator=positive)
    batch_size: int = attrs.field(default=256, validator=positive)
    knn_k: int = attrs.field(default=20, validator=positive)
    knn_temperature: float = attrs.field(default=0.07, validator=positive)
    linear_steps: int = attrs.field(default=LBFGS_MAX_ITER, validator=positive)
    linear_l2: float = attrs.field(default=1e-4, validator=non_negative)
    latents: bool = True


@attrs.frozen(kw_only=True)
class RunConfig:
    """Everything a run needs; presets return one, the run directory stores one."""

    plugin: str
    preset: str
    encoder: ComponentConfig
    predictor: ComponentConfig
    masker: ComponentConfig
    target: ComponentConfig
    loss: ComponentConfig
    data: ComponentConfig
    regularizer: ComponentConfig = ComponentConfig("none", NoRegularizerConfig())
    objective: ComponentConfig = ComponentConfig("predictive", PredictiveConfig())
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    probe: ProbeConfig = ProbeConfig()
    eval: EvalConfig = EvalConfig()


# Which registry kind each component slot of RunConfig is built from.
COMPONENT_SLOTS: dict[str, str] = {k.section: k.name for k in KINDS}
# Slots a config file may leave out (older run directories): their default component.
OPTIONAL_SLOTS: dict[str, str] = {"regularizer": "none", "objective": "predictive"}


def component(registry: Registry, slot: str, name: str, **options: Any) -> ComponentConfig:
    """A component config with the registered defaults, overridden by ``options``.

    >>> component(reg, "loss", "smooth_l1")            # doctest: +SKIP
    ComponentConfig(name='smooth_l1', options=SmoothL1Config(beta=1.0))
    """
    spec = registry.get(COMPONENT_SLOTS[slot], name)
    return ComponentConfig(name=spec.name, options=_make(spec.config_type, options, slot))


# ---------------------------------------------------------------------- overrides


def apply_overrides(cfg: RunConfig, overrides: list[str], registry: Registry) -> RunConfig:
    """Apply ``key=value`` strings; each value is parsed and checked against the field's type.

    The fields of one section change together, so options that constrain each other (an
    encoder's ``img_size`` and ``patch_size``) can both change; a section's ``name`` applies
    first (its registered defaults), then that section's other keys, the last value of a key wins.

    >>> cfg = apply_overrides(cfg, ["encoder.img_size=28", "encoder.patch_size=7"], reg)  # doctest: +SKIP
    """
    if isinstance(overrides, str):
        raise TypeError(f"overrides is a list of 'key=value' strings, got the string {overrides!r}; wrap it in a list")
    names: dict[str, str] = {}
    fields: dict[str, dict[str, str]] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. optim.lr=5e-4).")
        key, raw = item.split("=", 1)
        section, field = _split_key(key.strip())
        if field == "name" and isinstance(getattr(cfg, section), ComponentConfig):
            names[section] = raw.strip()
            fields.setdefault(section, {})
        else:
            fields.setdefault(section, {})[field] = raw.strip()
    for section, values in fields.items():
        if section in names:
            cfg = set_value(cfg, f"{section}.name", names[section], registry)
        cfg = _set_section(cfg, section, values, from_text=True)
    return cfg


def set_value(cfg: RunConfig, key: str, value: Any, registry: Registry, *, from_text: bool = False) -> RunConfig:
    """Return ``cfg`` with dotted ``key`` set to ``value`` (parsed from text when ``from_text``)."""
    section, field = _split_key(key)
    current = getattr(cfg, section)
    if isinstance(current, ComponentConfig) and field == "name":
        spec = registry.get(COMPONENT_SLOTS[section], str(value))
        changes: dict[str, Any] = {section: ComponentConfig(spec.name, _make(spec.config_type, {}, section))}
        return attrs.evolve(cfg, **changes)  # the section is only known at run time
    return _set_section(cfg, section, {field: value}, from_text=from_text)


def _split_key(key: str) -> tuple[str, str]:
    parts = key.split(".")
    if len(parts) != 2:
        raise ConfigError(f"config key '{key}' must be section.field; sections: {', '.join(_sections())}.")
    if parts[0] not in _sections():
        raise ConfigError(f"unknown config section '{parts[0]}' in '{key}'; valid sections: {', '.join(_sections())}.")
    return parts[0], parts[1]


def _set_section(cfg: RunConfig, section: str, values: dict[str, Any], *, from_text: bool) -> RunConfig:
    """``cfg`` with the fields ``values`` of ``section`` (not ``name``) changed in one step."""
    if not values:
        return cfg
    current = getattr(cfg, section)
    record = current.options if isinstance(current, ComponentConfig) else current
    new = _evolve(record, section, values, from_text)
    changes: dict[str, Any] = {
        section: attrs.evolve(current, options=new) if isinstance(current, ComponentConfig) else new
    }
    return attrs.evolve(cfg, **changes)


def _sections() -> list[str]:
    return [f.name for f in attrs.fields(RunConfig) if f.name not in ("plugin", "preset")]


def _evolve(record: Any, section: str, values: dict[str, Any], from_text: bool) -> Any:
    types_ = field_types(type(record))
    parsed: dict[str, Any] = {}
    for field, value in values.items():
        key = f"{section}.{field}"
        if field not in types_:
            raise ConfigError(f"unknown config key '{key}'; valid keys: {', '.join(_prefix(key, types_))}.")
        parsed[field] = parse_value(value, types_[field], key) if from_text else coerce_value(value, types_[field], key)
    try:
        return attrs.evolve(record, **parsed)
    except (ValueError, TypeError) as err:
        fields = _rejected_fields(record, parsed) or list(parsed)
        keys = "', '".join(f"{section}.{field}" for field in fields)
        raise ConfigError(f"invalid value for '{keys}': {err}.") from err


def _rejected_fields(record: Any, values: dict[str, Any]) -> list[str]:
    """The fields of ``values`` the record's validators reject when set alone (none when only
    their combination is invalid), so an error names the bad setting, not every one given."""
    rejected = []
    for field, value in values.items():
        try:
            attrs.evolve(record, **{field: value})
        except (ValueError, TypeError):
            rejected.append(field)
    return rejected


def _prefix(key: str, types_: dict[str, Any]) -> list[str]:
    section = key.split(".")[0]
    return [f"{section}.{name}" for name in types_]


def field_types(cls: type) -> dict[str, Any]:
    attrs.resolve_types(cls)
    return {f.name: f.type for f in attrs.fields(cls) if f.init}


def _make(cls: type, options: dict[str, Any], section: str) -> Any:
    types_ = field_types(cls)
    unknown = sorted(set(options) - set(types_))
    if unknown:
        raise ConfigError(
            f"unknown config key '{section}.{unknown[0]}'; valid keys: {', '.join(_prefix(section, types_))}."
        )
    values = {k: coerce_value(v, types_[k], f"{section}.{k}") for k, v in options.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        try:
            fields = _rejected_fields(cls(), values)  # each value set alone on the defaults
        except (ValueError, TypeError):  # a record without defaults for every field
            fields = []
        where = "for '" + "', '".join(f"{section}.{field}" for field in fields) + "'" if fields else f"in '{section}'"
        raise ConfigError(f"invalid value {where}: {err}.") from err


# ------------------------------------------------------------------ value parsing

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


_WORDS = {int: "an integer", float: "a finite number", bool: "true or false", str: "a string"}


def _describe(tp: Any) -> str:
    """``tp`` for an error message: ``float`` -> 'a finite number', other types by name.

    >>> _describe(float), _describe(int)
    ('a finite number', 'an integer')
    """
    if tp in _WORDS:
        return _WORDS[tp]
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def parse_value(text: Any, tp: Any, key: str) -> Any:
    """Parse command-line text into type ``tp`` (bool, int, float, str, Optional, tuple, Literal)."""
    if not isinstance(text, str):
        return coerce_value(text, tp, key)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(text, inner[0], key) if len(inner) == 1 else text
    if origin is tuple:
        nested = _nested_tuple(text, key)
        if nested is not None:
            return coerce_value(nested, tp, key)
        stripped = text.strip().strip("()[]")
        items = [s.strip() for s in stripped.split(",") if s.strip()]
        return coerce_value(tuple(parse_value(i, _item_type(args, n), key) for n, i in enumerate(items)), tp, key)
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"'{key}' must be a bool (true/false), got '{text}'.")
    if tp in (int, float):
        try:
            return coerce_value(int(text) if tp is int else float(text), tp, key)
        except ValueError:
            raise ConfigError(f"'{key}' must be {_describe(tp)}, got '{text}'.") from None
    return coerce_value(text, tp, key)


def _nested_tuple(text: str, key: str) -> Any:
    """``((0.15, 0.15), (0.7, 0.7))`` or ``[[...], [...]]`` -> nested lists; None for flat text."""
    inner = text.strip()[1:-1]
    if not any(c in inner for c in "()[]"):
        return None
    try:
        return json.loads(text.replace("(", "[").replace(")", "]"))
    except json.JSONDecodeError:
        raise ConfigError(f"'{key}' must be a nested tuple such as ((0.15, 0.15), (0.7, 0.7)), got '{text}'.") from None


def _item_type(args: tuple, n: int) -> Any:
    if len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return args[n] if n < len(args) else Any


def _finite_float(value: int | float) -> bool:
    """Whether ``value`` is a finite float or an int a float can hold (10**400 cannot)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def coerce_value(value: Any, tp: Any, key: str) -> Any:
    """Check (and losslessly convert, e.g. int -> float, list -> tuple) ``value`` against ``tp``."""
    if tp is Any:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce_value(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"'{key}' must be {_describe(tp)}, got {value!r}.")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"'{key}' must be one of {', '.join(map(repr, args))}, got {value!r}.")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a tuple {_describe(tp)}, got {value!r}.")
        if not (len(args) == 2 and args[1] is Ellipsis) and len(value) != len(args):
            raise ConfigError(f"'{key}' must have {len(args)} items, got {len(value)}: {value!r}.")
        return tuple(coerce_value(v, _item_type(args, n), key) for n, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and _finite_float(value):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"'{key}' must be {_describe(tp)}, got {value!r}.")


# ------------------------------------------------------------------- file form


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """A JSON-ready dict; components are flattened to ``{"name": ..., **options}``."""
    out: dict[str, Any] = {"plugin": cfg.plugin, "preset": cfg.preset}
    for f in attrs.fields(RunConfig):
        if f.name in out:
            continue
        value = getattr(cfg, f.name)
        if isinstance(value, ComponentConfig):
            out[f.name] = {"name": value.name, **attrs.asdict(value.options)}
        else:
            out[f.name] = attrs.asdict(value)
    return out


def from_dict(data: dict[str, Any], registry: Registry) -> RunConfig:
    """Rebuild a :class:`RunConfig` from :func:`to_dict` output, checking every key and type."""
    if not isinstance(data, dict):
        raise ConfigError(f"a run config must be a mapping of sections, got {type(data).__name__}.")
    known = {f.name for f in attrs.fields(RunConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown config section '{unknown[0]}'; valid sections: {', '.join(sorted(known))}.")
    kwargs: dict[str, Any] = {}
    for name in ("plugin", "preset"):
        if not isinstance(data.get(name), str):
            raise ConfigError(f"run config needs a string '{name}', got {data.get(name)!r}.")
        kwargs[name] = data[name]
    for slot in COMPONENT_SLOTS:
        if slot in OPTIONAL_SLOTS and slot not in data:
            kwargs[slot] = component(registry, slot, OPTIONAL_SLOTS[slot])
            continue
        section = data.get(slot)
        if not isinstance(section, dict) or not isinstance(section.get("name"), str):
            raise ConfigError(f"run config section '{slot}' must be an object with a 'name' (a string).")
        options = {k: v for k, v in section.items() if k != "name"}
        kwargs[slot] = component(registry, slot, section["name"], **options)
    for name, cls in (("optim", OptimConfig), ("train", TrainConfig), ("probe", ProbeConfig), ("eval", EvalConfig)):
        if name in data:
            if not isinstance(data[name], dict):
                raise ConfigError(f"run config section '{name}' must be an object, got {type(data[name]).__name__}.")
            kwargs[name] = _make(cls, dict(data[name]), name)
    return RunConfig(**kwargs)


def overlay(cfg: RunConfig, data: Any, registry: Registry, source: str) -> RunConfig:
    """``cfg`` with the settings of a partial config mapping ``data`` (``{"optim": {"lr": 5e-4}}``)
    applied, each checked as ``--set`` checks it. A section's ``name`` that differs from
    ``cfg``'s switches that component (its registered defaults, then the section's other keys);
    the same name keeps ``cfg``'s options. ``plugin``/``preset``, where given, must match ``cfg``.

    >>> overlay(cfg, {"optim": {"lr": 5e-4}}, reg, "lr.yaml").optim.lr       # doctest: +SKIP
    0.0005
    """
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"config file '{source}' must hold a mapping of config sections, got {got}.")
    for name in ("plugin", "preset"):
        if name in data and data[name] != getattr(cfg, name):
            raise ConfigError(
                f"config file '{source}' names {name} {data[name]!r}, but --{name} gives {getattr(cfg, name)!r}; "
                f"drop one of them."
            )
    for section, values in data.items():
        if section in ("plugin", "preset"):
            continue
        if section not in _sections():
            raise ConfigError(
                f"unknown config section '{section}' in config file '{source}'; "
                f"valid sections: {', '.join(_sections())}."
            )
        if not isinstance(values, dict):
            raise ConfigError(
                f"config file '{source}': section '{section}' must be a mapping of settings, "
                f"got {type(values).__name__}."
            )
        values = dict(values)
        current = getattr(cfg, section)
        name = values.pop("name", None)
        if isinstance(current, ComponentConfig) and name is not None and name != current.name:
            cfg = set_value(cfg, f"{section}.name", name, registry)
        elif name is not None and not isinstance(current, ComponentConfig):
            raise ConfigError(f"unknown config key '{section}.name' in config file '{source}'.")
        cfg = _set_section(cfg, section, values, from_text=False)
    return cfg


def save_config(cfg: RunConfig, path: str | Path) -> Path:
    """Write ``cfg`` to ``path``: JSON for a ``.json`` name, YAML otherwise.

    >>> save_config(cfg, "runs/x/config.yaml")          # doctest: +SKIP
    PosixPath('runs/x/config.yaml')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_text(to_dict(cfg), format_of(path)))
    return path


def load_config(path: str | Path, registry: Registry, form: str | None = None) -> RunConfig:
    """The run config in a YAML or JSON file: this project's own form, or a foreign form a plugin
    maps (``form``, or detected; e.g. an official I-JEPA YAML file, whose notes are issued as one
    warning). Every problem is a :class:`ConfigError`.

    >>> load_config("runs/demo/config.yaml", build_registry()).preset     # doctest: +SKIP
    'demo'
    """
    data = read_config_file(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"config file '{path}' must hold a mapping of config sections (plugin, preset, encoder, ...), got {got}."
        )
    imported = import_foreign(data, registry, str(path), form)
    if imported is not None:
        return imported.warn()
    missing = [name for name in ("plugin", "preset") if name not in data]
    if missing:
        raise ConfigError(
            f"config file '{path}' names no {' or '.join(missing)}: give a complete run config "
            f"(`jepa config show` writes one), or apply its settings to a preset with --plugin/--preset."
        )
    return from_dict(data, registry)
