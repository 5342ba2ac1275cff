"""Bad configuration is rejected before any work starts: one sentence naming the value, CLI exit
code 2, no traceback, and nothing written to the run directory."""

from __future__ import annotations

import json

import pytest

from jepa_core.cli import main

TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin"]
IMAGE = ["--no-autoload", "-p", "jepa_image.plugin"]
TINY_VIT = [
    "encoder.size=tiny",
    "encoder.depth=1",
    "encoder.patch_size=8",
    "encoder.img_size=32",
    "data.resolution=32",
    "predictor.depth=1",
    "predictor.embed_dim=48",
    "train.batch_size=4",
    "train.micro_batch_size=none",
    "train.num_workers=0",
    "train.device=cpu",
]


def _sets(items) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def _error(capsys, rc: int) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.bogus=1", "unknown config key 'train.bogus'; valid keys: train.epochs,"),
        ("bogus.lr=1", "unknown config section 'bogus' in 'bogus.lr'; valid sections:"),
        ("masker.bogus=1", "unknown config key 'masker.bogus'; valid keys: masker.num_targets,"),
        ("train.epochs=abc", "'train.epochs' must be an integer, got 'abc'."),
        ("train.loss_log=maybe", "'train.loss_log' must be a bool (true/false), got 'maybe'."),
        ("train.precision=fp8", "'train.precision' must be one of 'fp32', 'bf16', 'fp16', 'auto', got 'fp8'."),
        ("optim.lr=-1", "invalid value for 'optim.lr': lr must be > 0, got -1.0."),
        ("optim.lr=nan", "'optim.lr' must be a finite number, got nan."),
        ("optim.betas=0.9,1.5", "invalid value for 'optim.betas': betas must be two values in [0, 1), got (0.9, 1.5)."),
        ("optim.ema_start=1.5", "invalid value for 'optim.ema_start': ema_start must be in [0, 1], got 1.5."),
        ("optim.optimizer=sgd", "'optim.optimizer' must be one of 'adamw', 'muon', got 'sgd'."),
        (
            "optim.muon_momentum=1",
            "invalid value for 'optim.muon_momentum': muon_momentum must be in [0, 1), got 1.0.",
        ),
        ("train.batch_size=0", "invalid value for 'train.batch_size': batch_size must be > 0, got 0."),
        ("train.keep_every=-3", "invalid value for 'train.keep_every': keep_every must be >= 0, got -3."),
        (
            "train.max_bad_fraction=2",
            "invalid value for 'train.max_bad_fraction': max_bad_fraction must be in [0, 1], got 2.0.",
        ),
        ("masker.target_scale=0.5,1.5", "target_scale must be (lo, hi) with 0 < lo <= hi <= 1, got (0.5, 1.5)."),
        ("masker.context_scale=0,0.5", "context_scale must be (lo, hi) with 0 < lo <= hi <= 1, got (0.0, 0.5)."),
        ("masker.num_targets=0", "num_targets must be >= 1, got 0."),
        ("encoder.img_size=100", "img_size=100 is not divisible by patch_size=14"),
        ("encoder.stem=cnn", "invalid value for 'encoder.stem': unknown stem 'cnn'; valid: patch, conv."),
        ("encoder.stem=conv", "stem='conv' needs a patch_size that is a power of two (2, 4, 8, 16, ...), got 14."),
    ],
)
def test_invalid_override_is_rejected_naming_the_value(tmp_path, capsys, override, message):
    rc = main(
        [
            *IMAGE,
            "train",
            "--plugin",
            "image",
            "--preset",
            "vith14",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "run"),
            "--set",
            override,
        ]
    )
    assert message in _error(capsys, rc)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["train.max_steps=1", "train.eval_every=-1"],
            "invalid value for 'train.eval_every': eval_every must be >= 0, got -1.",
        ),
        (
            ["masker.name=token_views", "masker.global_views=1", "masker.local_views=0"],
            "invalid value for 'masker.global_views', 'masker.local_views': a multi-view objective needs",
        ),
        (["objective.proj_layers=0"], "invalid value for 'objective.proj_layers': proj_layers must be >= 1, got 0."),
        (
            ["encoder.mlp_ratio=0"],
            "invalid value for 'encoder.mlp_ratio': mlp_ratio must be a finite number > 0, got 0",
        ),
        (
            ["optim.muon_adamw_lr_scale=0.5"],  # lejepa_small steps with AdamW alone
            "invalid value for 'optim.muon_adamw_lr_scale': muon_adamw_lr_scale=0.5 scales the lr of the "
            "parameters Muon leaves to AdamW, so it needs optimizer='muon' (got 'adamw'); set "
            "muon_adamw_lr_scale=1 with 'adamw'.",
        ),
        (
            ["optim.optimizer=muon", "optim.muon_adamw_lr_scale=0"],
            "invalid value for 'optim.muon_adamw_lr_scale': muon_adamw_lr_scale must be > 0, got 0.0.",
        ),
        (
            ["regularizer.name=sigreg", "regularizer.knots=1"],
            "invalid value for 'regularizer.knots': knots must be >= 2, got 1.",
        ),
    ],
)
def test_error_names_the_rejected_settings_of_a_section(tmp_path, capsys, overrides, message):
    """Of several settings of one section, the error names the one a validator rejects alone, or
    every one given when only their combination is invalid."""
    argv = ["train", "--plugin", "image", "--preset", "lejepa_small", "--data", str(tmp_path)]
    rc = main([*IMAGE, *argv, "--out", str(tmp_path / "run"), *_sets(overrides)])
    assert message in _error(capsys, rc)
    assert not (tmp_path / "run").exists()


def _image_run(tmp_path, *extra: str) -> list[str]:
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for i in range(8):
        Image.new("RGB", (16, 16), (i * 30, 0, 0)).save(data / f"{i}.png")
    return [
        *IMAGE,
        "train",
        "--plugin",
        "image",
        "--preset",
        "vith14",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        *_sets([*TINY_VIT, *extra]),
    ]


@pytest.mark.parametrize(
    "extra, message",
    [
        # more/larger targets than fit on the 4x4 grid: the masker is tried once before training
        (("masker.min_keep=10",), "the multiblock masker cannot satisfy min_keep=10 on grid 4x4"),
        (
            ("masker.num_targets=8", "masker.allow_target_overlap=false", "masker.min_keep=2"),
            "num_targets=8: a context set can keep at most 0 tokens",
        ),
        # a component rejecting its options is a config error, not a traceback
        (
            ("predictor.embed_dim=32",),
            "the predictor 'vit_predictor' rejects its options "
            "(predictor embed_dim=32 is not divisible by num_heads=3)",
        ),
    ],
)
def test_impossible_model_or_mask_config_fails_before_training(tmp_path, capsys, extra, message):
    rc = main(_image_run(tmp_path, *extra))
    assert message in _error(capsys, rc)
    assert not (tmp_path / "run").exists()  # no config.json, checkpoints or TensorBoard files


def _toy_train(tmp_path, *extra: str) -> list[str]:
    return [
        *TOY,
        "train",
        "--plugin",
        "toyseq",
        "--preset",
        "tiny",
        "--out",
        str(tmp_path / "run"),
        *_sets(["train.device=cpu", *extra]),
    ]


@pytest.mark.parametrize(
    "world, extra, message",
    [
        (3, (), "train.batch_size=32 cannot be split evenly over 3 processes; use a multiple of 3."),
        (64, (), "train.batch_size=32 cannot be split evenly over 64 processes; use a multiple of 64."),
        (2, ("train.micro_batch_size=5",), "train.micro_batch_size=5 does not divide the per-process batch 16"),
        (1, ("train.micro_batch_size=64",), "train.micro_batch_size=64 does not divide the per-process batch 32"),
    ],
)
def test_batch_that_does_not_fit_the_world_size_fails_before_joining_a_group(
    tmp_path, capsys, monkeypatch, world, extra, message
):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", str(world))
    monkeypatch.delenv("MASTER_ADDR", raising=False)  # would be needed to join a process group
    rc = main(_toy_train(tmp_path, *extra))
    assert message in _error(capsys, rc)
    assert not (tmp_path / "run").exists()


def test_unknown_device_is_one_sentence(tmp_path, capsys):
    rc = main(
        [
            *TOY,
            "train",
            "--plugin",
            "toyseq",
            "--preset",
            "tiny",
            "--out",
            str(tmp_path / "run"),
            "--set",
            "train.device=tpu",
        ]
    )
    assert "train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'tpu'." in _error(capsys, rc)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["train"].update(bogus=1), "unknown config key 'train.bogus'"),
        (lambda d: d["optim"].update(lr="fast"), "'optim.lr' must be a finite number, got 'fast'."),
        (lambda d: d.update(extra={}), "unknown config section 'extra'"),
        (lambda d: d["train"].update(epochs=0), "epochs must be > 0, got 0"),
        (lambda d: d["optim"].update(betas=[0.9]), "'optim.betas' must have 2 items, got 1"),
    ],
)
def test_config_file_is_checked_like_overrides(tmp_path, capsys, edit, message):
    assert main([*TOY, "config", "show", "--plugin", "toyseq", "--preset", "tiny", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    edit(data)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    rc = main([*TOY, "train", "--config", str(path), "--out", str(tmp_path / "run")])
    assert message in _error(capsys, rc)
    assert not (tmp_path / "run").exists()
