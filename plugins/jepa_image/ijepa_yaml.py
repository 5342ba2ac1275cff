"""The official I-JEPA YAML files (sections ``data``, ``mask``, ``meta``, ``optimization``,
``logging``) mapped to a run config of this plugin.

    jepa train --config in1k_vith14_ep300.yaml          # recognised and mapped, notes as one warning
    jepa config import-ijepa in1k_vith14_ep300.yaml     # prints the equivalent config

The matching preset (model, patch and crop size; then the epochs) is the starting point, so a
published file maps to its preset exactly apart from the paths; every field is then set from the
file. Fields without an exact counterpart are named in the notes:

- ``data.batch_size`` is per GPU in the published runs (16 GPUs): ``train.micro_batch_size`` is
  it and ``train.batch_size`` (the global batch) is 16 times it; other GPU counts accumulate
  gradients to the same global batch;
- ``data.root_path`` + ``data.image_folder``: ``data.root`` is their ``train/`` sub-folder (where
  the published loader reads the training images);
- colour distortion (SimCLR's: brightness, contrast and saturation ``0.8 s``, hue ``0.2 s``) is
  approximated by ``data.color_jitter = 2 s`` (saturation ``0.4 s``) plus ``data.grayscale = 0.2``;
  Gaussian blur is ``data.blur = 0.5``;
- ``meta.load_checkpoint`` loads weights with ``train.init_from`` (optimizer and schedules start
  afresh; runs of this project resume from their run directory by themselves);
- ``meta.copy_data``, ``data.pin_mem=false`` and ``logging.write_tag`` have no effect here.

Values that cannot be honoured (``mask.allow_overlap=true``, ``mask.num_enc_masks`` other than 1,
an unknown model name or field) are a :class:`~jepa_core.errors.ConfigError`.

>>> imported = convert_ijepa(load_yaml(open("in1k_vith14_ep300.yaml").read()), registry, "x")   # doctest: +SKIP
>>> imported.config.preset
'vith14'
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from jepa_core.config import RunConfig, set_value
from jepa_core.config_import import ImportedConfig
from jepa_core.errors import ConfigError
from jepa_core.registry import Registry
from jepa_core.specs import ConfigFormatSpec

from . import presets

SCHEMA: dict[str, tuple[str, ...]] = {
    "data": (
        "batch_size",
        "color_jitter_strength",
        "crop_scale",
        "crop_size",
        "image_folder",
        "num_workers",
        "pin_mem",
        "root_path",
        "use_color_distortion",
        "use_gaussian_blur",
        "use_horizontal_flip",
    ),
    "logging": ("folder", "write_tag"),
    "mask": (
        "allow_overlap",
        "aspect_ratio",
        "enc_mask_scale",
        "min_keep",
        "num_enc_masks",
        "num_pred_masks",
        "patch_size",
        "pred_mask_scale",
    ),
    "meta": (
        "copy_data",
        "load_checkpoint",
        "model_name",
        "pred_depth",
        "pred_emb_dim",
        "read_checkpoint",
        "use_bfloat16",
    ),
    "optimization": (
        "ema",
        "epochs",
        "final_lr",
        "final_weight_decay",
        "ipe_scale",
        "lr",
        "start_lr",
        "warmup",
        "weight_decay",
    ),
}
"""The published schema: every section and field an official file has."""

REQUIRED: tuple[str, ...] = ("meta.model_name", "mask.patch_size", "data.crop_size")
"""Fields that choose the preset; every other field missing from a file keeps the preset's value."""

PUBLISHED_GPUS = 16
"""GPUs of the published runs: ``data.batch_size`` (per GPU) times this is the global batch."""

MODEL_SIZES: dict[str, str] = {
    "vit_tiny": "tiny",
    "vit_small": "small",
    "vit_base": "base",
    "vit_large": "large",
    "vit_huge": "huge",
    "vit_giant": "giant",
}
"""``meta.model_name`` -> ``encoder.size``."""

OFFICIAL_PRESETS: tuple[Callable[[], RunConfig], ...] = (
    presets.vith14,
    presets.vith16_448,
    presets.vith14_in22k,
    presets.vitg16_in22k,
    presets.vitb16,
    presets.vitl16,
)

SIMCLR_GRAYSCALE = 0.2  # RandomGrayscale probability of SimCLR's colour distortion
REFERENCE_BLUR = 0.5  # probability of the published Gaussian blur


def is_ijepa(data: dict) -> bool:
    """Whether parsed file ``data`` is an I-JEPA config: it has ``meta``, ``mask`` and
    ``optimization`` sections and no ``plugin`` key.

    >>> is_ijepa({"meta": {}, "mask": {}, "optimization": {}}), is_ijepa({"plugin": "image"})
    (True, False)
    """
    return isinstance(data, dict) and "plugin" not in data and {"meta", "mask", "optimization"} <= set(data)


class _Reader:
    """Typed access to the file's fields, remembering which were read."""

    def __init__(self, data: dict, source: str) -> None:
        self.data, self.source = data, source

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"I-JEPA config '{self.source}': {message}")

    def has(self, key: str) -> bool:
        section, field = key.split(".")
        return field in self.data.get(section, {})

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        section, field = key.split(".")
        value = self.data.get(section, {}).get(field, default)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if value is not None and not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(f"{key} must be {names}, got {value!r}.")
        return value


def check_schema(data: dict, source: str) -> list[str]:
    """A :class:`ConfigError` for an unknown section or field; returns the schema fields missing."""
    for section, fields in data.items():
        if section not in SCHEMA:
            raise ConfigError(
                f"I-JEPA config '{source}' has an unknown section '{section}'; its sections are {', '.join(SCHEMA)}."
            )
        if not isinstance(fields, dict):
            raise ConfigError(f"I-JEPA config '{source}': section '{section}' must be a mapping, got {fields!r}.")
        unknown = sorted(set(fields) - set(SCHEMA[section]))
        if unknown:
            raise ConfigError(
                f"I-JEPA config '{source}' has an unknown field '{section}.{unknown[0]}'; the fields of "
                f"{section} are {', '.join(SCHEMA[section])}."
            )
    missing = [f"{s}.{f}" for s, fields in SCHEMA.items() for f in fields if f not in data.get(s, {})]
    absent = [key for key in REQUIRED if key in missing]
    if absent:
        raise ConfigError(f"I-JEPA config '{source}' lacks {absent[0]}, which chooses the model; add it.")
    return missing


def base_preset(size: str, patch: int, res: int, epochs: Any) -> tuple[RunConfig, bool]:
    """The official preset with this model, patch and resolution (the one with these epochs if
    several), and whether one matched; else the first official preset of this size (or vith14)."""
    built = [build() for build in OFFICIAL_PRESETS]
    same = [
        c
        for c in built
        if (c.encoder.options.size, c.encoder.options.patch_size, c.encoder.options.img_size) == (size, patch, res)
    ]
    if same:
        return next((c for c in same if c.train.epochs == epochs), same[0]), True
    return next((c for c in built if c.encoder.options.size == size), built[0]), False


def convert_ijepa(data: dict, registry: Registry, source: str = "<ijepa>") -> ImportedConfig:
    """Map an official I-JEPA YAML file's data to a run config (see the module docstring)."""
    missing = check_schema(data, source)
    r = _Reader(data, source)
    notes: list[str] = []
    model = r.get("meta.model_name", str)
    if model not in MODEL_SIZES:
        raise r.error(f"meta.model_name '{model}' is not a published model; valid names: {', '.join(MODEL_SIZES)}.")
    size, patch, res = MODEL_SIZES[model], r.get("mask.patch_size", int), r.get("data.crop_size", int)
    cfg, matched = base_preset(size, patch, res, r.get("optimization.epochs", int))
    if not matched:
        notes.append(
            f"no preset trains {model} with patch {patch} at {res} px: preset {cfg.preset} with these values set"
        )

    values: list[tuple[str, str, Any]] = [  # (I-JEPA field, config key, value)
        ("meta.model_name", "encoder.size", size),
        ("mask.patch_size", "encoder.patch_size", patch),
        ("data.crop_size", "encoder.img_size", res),
        ("data.crop_size", "data.resolution", res),
    ]

    def take(field: str, key: str, kind: type | tuple[type, ...], convert: Callable[[Any], Any] = lambda v: v) -> None:
        if r.has(field):
            values.append((field, key, convert(r.get(field, kind))))

    pair = (list, tuple)
    take("data.crop_scale", "data.crop_scale", pair)
    take("data.num_workers", "train.num_workers", int)
    take("data.use_horizontal_flip", "data.flip", bool)
    take("mask.aspect_ratio", "masker.target_aspect_ratio", pair)
    take("mask.enc_mask_scale", "masker.context_scale", pair)
    take("mask.pred_mask_scale", "masker.target_scale", pair)
    take("mask.min_keep", "masker.min_keep", int)
    take("mask.num_pred_masks", "masker.num_targets", int)
    take("meta.pred_depth", "predictor.depth", int)
    take("meta.pred_emb_dim", "predictor.embed_dim", int)
    take("meta.use_bfloat16", "train.precision", bool, lambda bf16: "bf16" if bf16 else "fp32")
    take("optimization.epochs", "train.epochs", int)
    take("optimization.lr", "optim.lr", (int, float))
    take("optimization.start_lr", "optim.start_lr", (int, float))
    take("optimization.final_lr", "optim.final_lr", (int, float))
    take("optimization.warmup", "optim.warmup_epochs", (int, float))
    take("optimization.weight_decay", "optim.weight_decay", (int, float))
    take("optimization.final_weight_decay", "optim.final_weight_decay", (int, float))
    take("optimization.ipe_scale", "optim.ipe_scale", (int, float))
    take("logging.folder", "train.out_dir", str)
    if r.has("optimization.ema"):
        ema = r.get("optimization.ema", pair)
        if len(ema) != 2:
            raise r.error(f"optimization.ema must be [start, end], got {ema!r}.")
        values += [("optimization.ema", "optim.ema_start", ema[0]), ("optimization.ema", "optim.ema_end", ema[1])]
    _batch(r, values, notes)
    _data_root(r, values, notes)
    _augmentation(r, values, notes)
    _masks(r)
    _checkpoint(r, values, notes)
    if r.has("data.pin_mem") and r.get("data.pin_mem", bool) is False:
        notes.append("data.pin_mem=false has no effect (batches are pinned whenever the device is CUDA)")
    if r.get("meta.copy_data", bool):
        notes.append("meta.copy_data=true has no effect (point --data at a local copy instead)")
    if r.has("logging.write_tag"):
        notes.append(
            f"logging.write_tag '{r.get('logging.write_tag', str)}' has no effect "
            "(the run directory's file names are fixed)"
        )
    if missing:
        notes.append(f"fields not in the file keep preset {cfg.preset}'s values: {', '.join(missing)}")

    for field, key, value in values:
        try:
            cfg = set_value(cfg, key, value, registry)
        except ConfigError as err:
            raise r.error(f"{field}={value!r} cannot be used ({str(err).rstrip('.')}).") from None
    return ImportedConfig(cfg, "ijepa", tuple(notes), source)


def _batch(r: _Reader, values: list, notes: list[str]) -> None:
    if not r.has("data.batch_size"):
        return
    per_gpu = r.get("data.batch_size", int)
    values += [
        ("data.batch_size", "train.micro_batch_size", per_gpu),
        ("data.batch_size", "train.batch_size", per_gpu * PUBLISHED_GPUS),
    ]
    notes.append(
        f"data.batch_size={per_gpu} is per GPU: train.batch_size={per_gpu * PUBLISHED_GPUS} is the global batch of "
        f"the published {PUBLISHED_GPUS}-GPU runs (train.micro_batch_size={per_gpu}; with fewer GPUs gradients are "
        "accumulated to the same batch)"
    )


def _data_root(r: _Reader, values: list, notes: list[str]) -> None:
    root, folder = r.get("data.root_path", str), r.get("data.image_folder", str)
    if root is None and folder is None:
        return
    path = posixpath.join(root or "", folder or "", "train")
    values.append(("data.image_folder", "data.root", path))
    notes.append(f"data.root is '{path}', the train/ sub-folder of root_path/image_folder (set --data to change it)")


def _augmentation(r: _Reader, values: list, notes: list[str]) -> None:
    if r.get("data.use_color_distortion", bool):
        s = r.get("data.color_jitter_strength", (int, float), 0.0)
        values += [
            ("data.color_jitter_strength", "data.color_jitter", 2 * s),
            ("data.use_color_distortion", "data.grayscale", SIMCLR_GRAYSCALE),
        ]
        notes.append(
            f"colour distortion of strength {s} is approximated by data.color_jitter={2 * s} and "
            f"data.grayscale={SIMCLR_GRAYSCALE} (saturation jitters by 0.4 s here, 0.8 s in SimCLR's distortion)"
        )
    elif r.has("data.use_color_distortion"):
        values += [
            ("data.use_color_distortion", "data.color_jitter", 0.0),
            ("data.use_color_distortion", "data.grayscale", 0.0),
        ]
    if r.has("data.use_gaussian_blur"):
        values.append(
            ("data.use_gaussian_blur", "data.blur", REFERENCE_BLUR if r.get("data.use_gaussian_blur", bool) else 0.0)
        )


def _masks(r: _Reader) -> None:
    if r.get("mask.allow_overlap", bool):
        raise r.error(
            "mask.allow_overlap=true (context blocks overlapping the targets) is not supported: the multiblock "
            "masker always removes the target patches from the context; set it to false."
        )
    enc = r.get("mask.num_enc_masks", int)
    if enc is not None and enc != 1:
        raise r.error(
            f"mask.num_enc_masks={enc} is not supported: the multiblock masker draws one context block; set it to 1."
        )


def _checkpoint(r: _Reader, values: list, notes: list[str]) -> None:
    read = r.get("meta.read_checkpoint", str)
    if not r.get("meta.load_checkpoint", bool):
        if read is not None:
            notes.append("meta.read_checkpoint has no effect because meta.load_checkpoint is false")
        return
    folder = r.get("logging.folder", str) or ""
    name = read if read is not None else f"{r.get('logging.write_tag', str) or 'jepa'}-latest.pth.tar"
    path = posixpath.join(folder, name)
    values.append(("meta.load_checkpoint", "train.init_from", path))
    notes.append(
        f"meta.load_checkpoint starts from the weights in '{path}' (train.init_from); the optimizer and schedules "
        "start afresh (runs of this project resume from their run directory by themselves)"
    )


def config_format_spec() -> ConfigFormatSpec:
    """The ``ijepa`` entry of the ``jepa_config_formats`` hook."""
    return ConfigFormatSpec(
        name="ijepa",
        detect=is_ijepa,
        convert=convert_ijepa,
        description="the official I-JEPA YAML files (sections data, mask, meta, optimization, logging)",
    )
