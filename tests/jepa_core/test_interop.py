"""Checkpoint formats: detection, the released I-JEPA layout, strict loading, init_from."""

from __future__ import annotations

import io

import pytest
import torch

from jepa_core import checkpoint as ckpt_io
from jepa_core.config import apply_overrides
from jepa_core.errors import CheckpointError, ConfigError
from jepa_core.extract import extract, load_encoder
from jepa_core.interop import detect_format, infer_architecture, load_networks, read_checkpoint
from jepa_core.registry import build_registry
from jepa_core.run import build_parts

TINY = [
    "encoder.img_size=32",
    "encoder.patch_size=8",
    "encoder.depth=2",
    "encoder.embed_dim=32",
    "encoder.num_heads=2",
    "predictor.embed_dim=16",
    "predictor.depth=1",
    "data.resolution=32",
    "data.num_train=32",
    "data.num_val=16",
    "train.batch_size=8",
    "train.num_workers=0",
    "probe.enabled=false",
]


@pytest.fixture(scope="module")
def registry():
    return build_registry()


def tiny_cfg(registry, *extra):
    return apply_overrides(registry.preset("image", "demo").build(), TINY + list(extra), registry)


def released_state(parts) -> dict:
    """A checkpoint in the released I-JEPA layout, written from this project's modules."""
    prefixed = lambda m: {f"module.{k}": v.clone() for k, v in m.state_dict().items()}  # noqa: E731
    with torch.no_grad():  # make the target differ from the context encoder, as after training
        for p in parts.target.encoder.parameters():
            p.add_(0.01)
    opt = torch.optim.AdamW(list(parts.encoder.parameters()) + list(parts.predictor.parameters()))
    return {
        "encoder": prefixed(parts.encoder),
        "predictor": prefixed(parts.predictor),
        "target_encoder": prefixed(parts.target.encoder),
        "opt": opt.state_dict(),
        "scaler": torch.amp.GradScaler("cpu", enabled=False).state_dict(),
        "epoch": 300,
        "loss": 0.123,
        "batch_size": 128,
        "world_size": 16,
        "lr": 1e-6,
    }


@pytest.fixture(scope="module")
def released(registry, tmp_path_factory):
    parts = build_parts(tiny_cfg(registry), registry, seed=7)
    path = tmp_path_factory.mktemp("released") / "IN1K-vit.tiny.8-2e.pth.tar"
    torch.save(released_state(parts), path)
    return path, parts


def test_detect_format_on_both_formats_and_garbage(released):
    path, _ = released
    state = torch.load(path, weights_only=True)
    assert detect_format(state) == "ijepa"
    assert all(k.startswith("module.") for k in state["encoder"])
    assert detect_format({"format": "jepaforge", "encoder": {}}) == "jepaforge"
    with pytest.raises(CheckpointError, match="neither a jepaforge checkpoint.*keys are: epoch, weights"):
        detect_format({"weights": {"a": torch.zeros(1)}, "epoch": 1})
    with pytest.raises(CheckpointError, match="holds a list"):
        detect_format([1, 2])
    with pytest.raises(CheckpointError, match="format 'other'"):
        detect_format({"format": "other"})


def test_released_file_loads_strictly_into_all_three_networks(registry, released):
    path, parts = released
    ckpt = read_checkpoint(path)
    assert ckpt.format == "ijepa" and ckpt.config is None
    fresh = build_parts(tiny_cfg(registry), registry, seed=99)
    load_networks(ckpt, encoder=fresh.encoder, predictor=fresh.predictor, target_encoder=fresh.target.encoder)
    for a, b in (
        (fresh.encoder, parts.encoder),
        (fresh.predictor, parts.predictor),
        (fresh.target.encoder, parts.target.encoder),
    ):
        assert a.state_dict().keys() == b.state_dict().keys()
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    x = torch.randn(2, 3, 32, 32)
    ctx, tgt = torch.tensor([[0, 1, 2, 3]] * 2), torch.tensor([[[5, 6]]] * 2)
    with torch.no_grad():
        assert torch.equal(fresh.target.encoder.eval()(x), parts.target.encoder.eval()(x))
        assert torch.equal(fresh.encoder.eval()(x), parts.encoder.eval()(x))
        z = parts.encoder(x, ctx)
        assert torch.equal(fresh.predictor.eval()(z, ctx, tgt), parts.predictor.eval()(z, ctx, tgt))


def test_load_encoder_from_released_file_picks_target_or_context(registry, released):
    path, parts = released
    overrides = TINY[:5]
    with pytest.raises(ConfigError, match="released I-JEPA format and holds no config; pass --plugin and --preset"):
        load_encoder(path, registry=registry)
    tgt = load_encoder(path, plugin="image", preset="demo", overrides=overrides, registry=registry)
    ctx = load_encoder(path, "context", plugin="image", preset="demo", overrides=overrides, registry=registry)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(extract(tgt, x), parts.target.encoder.eval()(x).mean(1))
        assert torch.allclose(extract(ctx, x), parts.encoder.eval()(x).mean(1))
    assert not torch.allclose(extract(tgt, x), extract(ctx, x))


def test_wrong_architecture_names_the_mismatched_keys(registry, released):
    path, _ = released
    ckpt = read_checkpoint(path)
    shallow = build_parts(tiny_cfg(registry, "encoder.depth=1"), registry)
    with pytest.raises(CheckpointError) as err:
        load_networks(ckpt, encoder=shallow.encoder)
    msg = str(err.value)
    assert "unexpected keys blocks.1." in msg and "depth 2 vs 1" in msg and str(path) in msg
    wide = build_parts(tiny_cfg(registry, "encoder.embed_dim=48"), registry)
    with pytest.raises(
        CheckpointError,
        match=r"shape mismatches .*blocks.0.attn.proj.weight \(32, 32\) vs \(48, 48\).*embed_dim 32 vs 48",
    ):
        load_networks(ckpt, target_encoder=wide.target.encoder)


def test_infer_architecture_reads_key_shapes(released):
    path, _ = released
    ckpt = read_checkpoint(path)
    assert infer_architecture(ckpt.network("encoder")) == {
        "embed_dim": 32,
        "depth": 2,
        "patch_size": 8,
        "in_chans": 3,
        "grid": "4x4",
        "mlp_dim": 128,
    }
    assert infer_architecture(ckpt.state["predictor"]) == {
        "predictor_dim": 16,
        "predictor_depth": 1,
        "encoder_dim": 32,
        "grid": "4x4",
    }


def test_missing_file_and_empty_run_dir_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="'.*nope.pth.tar' does not exist"):
        read_checkpoint(tmp_path / "nope.pth.tar")
    with pytest.raises(CheckpointError, match="holds no checkpoints"):
        read_checkpoint(tmp_path)


def test_train_init_from_released_file_starts_from_its_weights(registry, released, tmp_path, monkeypatch):
    from jepa_core import run as run_mod
    from jepa_core.trainer import Trainer

    path, parts = released
    seen = {}
    original = Trainer.fit

    def fit_spy(self, *args, **kwargs):  # the weights at the start of training
        seen["target"] = {k: v.clone() for k, v in self.target.encoder.state_dict().items()}
        seen["predictor"] = {k: v.clone() for k, v in self.predictor.state_dict().items()}
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", fit_spy)
    cfg = tiny_cfg(registry, "train.max_steps=1", f"train.out_dir={tmp_path}", f"train.init_from={path}")
    log = io.StringIO()
    result = run_mod.train_run(cfg, registry, stream=log)
    assert result.steps == 1
    assert f"initialised encoder, predictor and target encoder from {path} (ijepa format)" in log.getvalue()
    want = parts.target.encoder.state_dict()
    assert all(torch.equal(seen["target"][k], want[k]) for k in want)
    assert all(torch.equal(seen["predictor"][k], v) for k, v in parts.predictor.state_dict().items())
    # the run's own checkpoint is jepaforge and wins over init_from when re-run (resume)
    assert read_checkpoint(tmp_path).format == "jepaforge"
    log2 = io.StringIO()
    run_mod.train_run(cfg, registry, stream=log2)
    assert "resuming from" in log2.getvalue() and "initialised" not in log2.getvalue()
    assert (
        f"train.init_from '{path}' is not read: a resumed run continues from its own checkpoint (train into a "
        "new --out to start from those weights)"
    ) in log2.getvalue()


def test_cli_train_init_from_sets_the_config(registry):
    from jepa_core.cli import build_parser
    from jepa_core.cli.common import config_from_args

    args = build_parser().parse_args(["train", "--plugin", "image", "--preset", "demo", "--init-from", "x.pth.tar"])
    assert config_from_args(args, registry).train.init_from == "x.pth.tar"


def test_init_from_a_wrong_architecture_is_a_checkpoint_error(registry, released, tmp_path):
    from jepa_core.run import train_run

    path, _ = released
    cfg = tiny_cfg(
        registry, "encoder.depth=1", "train.max_steps=1", f"train.out_dir={tmp_path}", f"train.init_from={path}"
    )
    with pytest.raises(CheckpointError, match="unexpected keys blocks.1"):
        train_run(cfg, registry, stream=None)
    assert ckpt_io.latest_checkpoint(tmp_path / "checkpoints") is None


def test_init_from_a_lejepa_run_loads_its_encoder_and_starts_the_rest_as_a_fresh_run(registry, tmp_path, monkeypatch):
    """A checkpoint trained without a predictor or target encoder (LeJEPA) initialises an I-JEPA
    run's encoder; its predictor keeps its fresh init and its target encoder copies the encoder."""
    from jepa_core import run as run_mod
    from jepa_core.trainer import Trainer

    source = tmp_path / "lejepa"
    lejepa = apply_overrides(
        registry.preset("image", "lejepa_demo").build(),
        [s for s in TINY if not s.startswith("predictor.")] + ["train.max_steps=1", f"train.out_dir={source}"],
        registry,
    )
    run_mod.train_run(lejepa, registry, stream=None)
    trained = read_checkpoint(source).network("encoder")

    seen = {}
    original = Trainer.fit

    def fit_spy(self, *args, **kwargs):  # the weights at the start of training
        for name, module in self.networks().items():
            seen[name] = {k: v.clone() for k, v in module.state_dict().items()}
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", fit_spy)
    cfg = tiny_cfg(registry, "train.max_steps=1", f"train.out_dir={tmp_path / 'ijepa'}", f"train.init_from={source}")
    log = io.StringIO()
    assert run_mod.train_run(cfg, registry, stream=log).steps == 1
    assert (
        "initialised encoder from " in log.getvalue()
        and "predictor: a fresh init (the checkpoint has none); target encoder: a copy of the loaded encoder"
        in log.getvalue()
    ), log.getvalue()
    assert all(torch.equal(seen["encoder"][k], v) for k, v in trained.items())
    assert all(torch.equal(seen["target_encoder"][k], v) for k, v in trained.items())
    fresh = build_parts(cfg, registry).predictor.state_dict()
    assert all(torch.equal(seen["predictor"][k], v) for k, v in fresh.items())


def test_init_from_another_modalitys_run_names_what_the_checkpoint_was_trained_as(tiny_image_run, tmp_path, capsys):
    from jepa_core.cli import main

    argv = ["train", "--plugin", "video", "--preset", "demo", "--out", str(tmp_path / "run")]
    assert main([*argv, "--init-from", str(tiny_image_run), "--set", "train.max_steps=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the encoder in the checkpoint does not match the model: ")
    assert "(trained with preset image/demo, encoder 'vit') (choose the matching --preset" in err
    assert err.count("\n") == 1
