"""The official I-JEPA YAML files map to this plugin's presets; every field is mapped or named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from jepa_core.config import from_dict, set_value, to_dict
from jepa_core.config_files import dump_text
from jepa_core.config_import import detect_format, import_foreign, read_foreign
from jepa_core.errors import ConfigError, RegistryError
from jepa_core.registry import build_registry
from jepa_core.yaml_io import load_yaml
from jepa_image.ijepa_yaml import SCHEMA

FILES = Path(__file__).parent / "ijepa_configs"
PRESET_OF = {
    "in1k_vith14_ep300.yaml": "vith14",
    "in1k_vith16-448_ep300.yaml": "vith16_448",
    "in22k_vith14_ep66.yaml": "vith14_in22k",
    "in22k_vitg16_ep44.yaml": "vitg16_in22k",
}


@pytest.fixture(scope="module")
def reg():
    return build_registry()


def _data(name: str = "in1k_vith14_ep300.yaml") -> dict:
    return load_yaml((FILES / name).read_text())


def _convert(reg, data: dict):
    return import_foreign(data, reg, "run.yaml")


def test_the_test_files_follow_the_published_schema_field_for_field():
    for name in PRESET_OF:
        data = _data(name)
        assert {s: sorted(f) for s, f in data.items()} == {s: sorted(f) for s, f in SCHEMA.items()}, name


@pytest.mark.parametrize("name", sorted(PRESET_OF))
def test_published_files_map_to_their_preset_exactly(reg, name):
    imported = read_foreign(FILES / name, reg)
    assert imported.format == "ijepa"
    preset = reg.preset("image", PRESET_OF[name]).build()
    data = _data(name)
    root = f"/datasets01/{data['data']['image_folder']}train"
    expected = set_value(set_value(preset, "data.root", root, reg), "train.out_dir", data["logging"]["folder"], reg)
    assert imported.config == expected


def test_notes_name_every_field_without_an_exact_counterpart(reg):
    message = read_foreign(FILES / "in1k_vith14_ep300.yaml", reg).message()
    assert message.startswith("ijepa config '") and "\n" not in message
    for words in (
        "data.batch_size=128 is per GPU",
        "train.batch_size=2048",
        "16-GPU",
        "train/ sub-folder",
        "logging.write_tag 'jepa' has no effect",
    ):
        assert words in message


def test_warn_issues_one_warning_and_returns_the_config(reg):
    imported = read_foreign(FILES / "in1k_vith14_ep300.yaml", reg)
    with pytest.warns(UserWarning) as caught:
        assert imported.warn() is imported.config
    assert len(caught) == 1


def test_the_imported_config_round_trips_through_yaml(reg):
    cfg = read_foreign(FILES / "in22k_vitg16_ep44.yaml", reg).config
    assert from_dict(load_yaml(dump_text(to_dict(cfg))), reg) == cfg


def _changed(section: str, **fields) -> dict:
    data = copy.deepcopy(_data())
    for key, value in fields.items():
        if value is None and key.startswith("_del_"):
            del data[section][key[5:]]
        else:
            data[section][key] = value
    return data


def test_augmentations_bf16_and_workers_are_mapped(reg):
    data = _changed(
        "data",
        use_color_distortion=True,
        color_jitter_strength=0.5,
        use_gaussian_blur=True,
        use_horizontal_flip=True,
        num_workers=3,
        crop_scale=[0.2, 1.0],
    )
    data["meta"]["use_bfloat16"] = False
    imported = _convert(reg, data)
    d, t = imported.config.data.options, imported.config.train
    assert (d.color_jitter, d.grayscale, d.blur, d.flip, d.crop_scale) == (1.0, 0.2, 0.5, True, (0.2, 1.0))
    assert (t.precision, t.num_workers) == ("fp32", 3)
    assert "approximated by data.color_jitter=1.0" in imported.message()


def test_masks_optimisation_and_predictor_are_mapped(reg):
    data = _data()
    data["mask"].update(
        aspect_ratio=[0.5, 2.0], enc_mask_scale=[0.8, 1.0], pred_mask_scale=[0.1, 0.25], min_keep=4, num_pred_masks=2
    )
    data["meta"].update(pred_depth=6, pred_emb_dim=256)
    data["optimization"].update(
        ema=[0.99, 0.999],
        epochs=10,
        lr=5e-4,
        start_lr=1e-5,
        final_lr=0.0,
        warmup=2,
        weight_decay=0.05,
        final_weight_decay=0.05,
        ipe_scale=1.25,
    )
    cfg = _convert(reg, data).config
    m, o = cfg.masker.options, cfg.optim
    assert (m.target_aspect_ratio, m.context_scale, m.target_scale, m.min_keep, m.num_targets) == (
        (0.5, 2.0),
        (0.8, 1.0),
        (0.1, 0.25),
        4,
        2,
    )
    assert (cfg.predictor.options.depth, cfg.predictor.options.embed_dim, cfg.train.epochs) == (6, 256, 10)
    assert (
        o.ema_start,
        o.ema_end,
        o.lr,
        o.start_lr,
        o.final_lr,
        o.warmup_epochs,
        o.weight_decay,
        o.final_weight_decay,
        o.ipe_scale,
    ) == (0.99, 0.999, 5e-4, 1e-5, 0.0, 2.0, 0.05, 0.05, 1.25)


def test_load_checkpoint_starts_from_the_named_weights(reg):
    data = _data()
    data["meta"].update(load_checkpoint=True, read_checkpoint="released.pth.tar")
    imported = _convert(reg, data)
    assert imported.config.train.init_from == "/checkpoints/in1k_vith14_ep300/released.pth.tar"
    assert "optimizer and schedules start afresh" in imported.message()
    data["meta"]["read_checkpoint"] = None
    assert _convert(reg, data).config.train.init_from == "/checkpoints/in1k_vith14_ep300/jepa-latest.pth.tar"
    data["meta"].update(load_checkpoint=False, read_checkpoint="x.pth.tar")
    imported = _convert(reg, data)
    assert imported.config.train.init_from is None and "meta.read_checkpoint has no effect" in imported.message()


def test_ignored_fields_are_named(reg):
    data = _changed("data", pin_mem=False)
    data["meta"]["copy_data"] = True
    message = _convert(reg, data).message()
    assert "data.pin_mem=false has no effect" in message and "meta.copy_data=true has no effect" in message


def test_a_model_without_a_preset_starts_from_one_of_its_size(reg):
    data = _data()
    data["meta"]["model_name"] = "vit_small"
    data["mask"]["patch_size"] = 16
    imported = _convert(reg, data)
    enc = imported.config.encoder.options
    assert (enc.size, enc.patch_size, enc.img_size) == ("small", 16, 224)
    assert "no preset trains vit_small with patch 16 at 224 px" in imported.message()


def test_missing_fields_keep_the_presets_values_and_are_named(reg):
    data = _data()
    del data["optimization"]["ipe_scale"], data["data"]["pin_mem"]
    imported = _convert(reg, data)
    assert imported.config.optim.ipe_scale == 1.0
    assert (
        "fields not in the file keep preset vith14's values: data.pin_mem, optimization.ipe_scale" in imported.message()
    )


@pytest.mark.parametrize(
    "section, field, value, words",
    [
        ("mask", "allow_overlap", True, "mask.allow_overlap=true"),
        ("mask", "num_enc_masks", 2, "mask.num_enc_masks=2 is not supported"),
        (
            "meta",
            "model_name",
            "vit_enormous",
            "meta.model_name 'vit_enormous' is not a published model; valid names: vit_tiny",
        ),
        ("meta", "use_bfloat16", "yes please", "meta.use_bfloat16 must be bool, got 'yes please'"),
        ("mask", "pred_mask_scale", [0.3, 0.1], "mask.pred_mask_scale=[0.3, 0.1] cannot be used"),
        ("optimization", "ema", [0.9], "optimization.ema must be [start, end]"),
        ("optimization", "lr", -1.0, "optimization.lr=-1.0 cannot be used"),
        ("mask", "num_pred_mask", 4, "unknown field 'mask.num_pred_mask'; the fields of mask are allow_overlap"),
    ],
)
def test_values_that_cannot_be_honoured_are_one_sentence(reg, section, field, value, words):
    data = _data()
    data[section][field] = value
    with pytest.raises(ConfigError) as err:
        _convert(reg, data)
    assert str(err.value).startswith("I-JEPA config 'run.yaml'") and words in str(err.value)


def test_unknown_sections_and_missing_model_fields_are_errors(reg):
    data = _data()
    data["extra"] = {}
    with pytest.raises(ConfigError, match="unknown section 'extra'; its sections are data, logging, mask, meta"):
        _convert(reg, data)
    data = _data()
    del data["mask"]["patch_size"]
    with pytest.raises(ConfigError, match="lacks mask.patch_size"):
        _convert(reg, data)


def test_project_configs_are_not_taken_for_ijepa(reg):
    own = to_dict(reg.preset("image", "demo").build())
    assert detect_format(own, reg) is None
    assert import_foreign(own, reg, "x.yaml") is None
    with pytest.raises(ConfigError, match="is not in the ijepa form"):
        import_foreign({"optim": {}}, reg, "x.yaml", form="ijepa")
    with pytest.raises(RegistryError, match="unknown config format 'vjepa'; valid config formats: ijepa"):
        import_foreign(own, reg, "x.yaml", form="vjepa")
