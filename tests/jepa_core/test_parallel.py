"""jepa_core.parallel: strategies, FSDP2 on CPU/gloo, activation checkpointing, compile.

The two-process test launches this module under torchrun (``python -m torch.distributed.run
--nproc-per-node 2 -m tests.jepa_core.test_parallel OUT``): the worker at the bottom trains
the toy config with DDP, then with FSDP2 (2 steps, then resumed to 4 from the checkpoint), and
each rank dumps its DDP target encoder; then the image and video demos (shrunk) with FSDP2 and
activation checkpointing. The tests compare that with one process.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import torch
from torch import nn

from jepa_core import checkpoint as ckpt
from jepa_core import hardware
from jepa_core.dist import DistInfo
from jepa_core.errors import ConfigError
from jepa_core.parallel import (
    ParallelPlan,
    apply_parallelism,
    fused_attention_layers,
    optimizer_state_dict,
    resolve_strategy,
    set_fused_attention,
    transformer_blocks,
    use_fused_attention,
)

REPO = Path(__file__).resolve().parents[2]
STEPS = 4
TOY_ARGS = [
    "-p",
    "tests.toy_seq_plugin",
    "--no-autoload",
    "train",
    "--plugin",
    "toyseq",
    "--preset",
    "tiny",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.micro_batch_size=4",
    "--set",
    "train.device=cpu",
    "--set",
    "train.log_every=1",
]
IMAGE_ARGS = [  # the image plugin's demo ViT at 64 px, shrunk to 2 blocks for speed
    "-p",
    "jepa_image.plugin",
    "train",
    "--plugin",
    "image",
    "--preset",
    "demo",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.device=cpu",
    "--set",
    "train.max_steps=2",
    "--set",
    "train.num_workers=0",
    "--set",
    "data.num_train=64",
    "--set",
    "probe.enabled=false",
    "--set",
    "train.micro_batch_size=4",  # masks are drawn per micro-batch: keep it equal
    "--set",
    "encoder.depth=2",
    "--set",
    "predictor.depth=1",
    "--set",
    "regularizer.name=none",  # batch statistics span a micro-batch per rank: 2 x 4 gathered vs 4 per accumulation
]
VIDEO_ARGS = [  # the video plugin's demo (two mask sets, a mask token per set) with V-JEPA 2's RoPE, 2 blocks
    "-p",
    "jepa_video.plugin",
    "train",
    "--plugin",
    "video",
    "--preset",
    "demo",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.device=cpu",
    "--set",
    "train.max_steps=2",
    "--set",
    "train.num_workers=0",
    "--set",
    "data.num_train=32",
    "--set",
    "probe.enabled=false",
    "--set",
    "train.micro_batch_size=4",
    "--set",
    "encoder.depth=2",
    "--set",
    "predictor.depth=1",
    "--set",
    "encoder.pos_embedding=rope",
    "--set",
    "predictor.pos_embedding=rope",
    "--set",
    "regularizer.name=none",  # batch statistics span a micro-batch per rank, as for IMAGE_ARGS
]


REGULARIZERS = ("vicreg", "sigreg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: list[str], *, log_dir: Path | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --nproc-per-node 2 ARGS`` on a free port, from the repo root."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
    ]
    if log_dir is not None:
        cmd += ["--log-dir", str(log_dir), "--redirects", "3"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["JEPA_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc = subprocess.run(cmd + args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def single_process_run(toy_registry, out: Path, **train: object):
    """The reference: the same toy run in this process (one rank, accumulation 4)."""
    from jepa_core.run import train_run
    from tests import toy_seq_plugin

    cfg = toy_seq_plugin.toy_config()
    cfg = attrs.evolve(
        cfg,
        train=attrs.evolve(
            cfg.train,
            batch_size=16,
            micro_batch_size=4,
            device="cpu",
            out_dir=str(out),
            max_steps=STEPS,
            **train,
        ),
    )
    train_run(cfg, toy_registry, stream=None)
    return ckpt.load_checkpoint(ckpt.latest_checkpoint(out / "checkpoints"))


def assert_states_close(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-4, msg=lambda m, k=k: f"{k}: {m}")


# ------------------------------------------------------------------ single process


def test_resolve_strategy_auto_and_errors():
    assert resolve_strategy("auto", DistInfo(0, 4, 0)) == "ddp"
    assert resolve_strategy("auto", DistInfo()) == "none"
    assert resolve_strategy("fsdp", DistInfo(1, 2, 1)) == "fsdp"
    with pytest.raises(ConfigError, match="'fsdp' needs several processes"):
        resolve_strategy("fsdp", DistInfo())
    with pytest.raises(ConfigError, match="unsynchronised replicas"):
        resolve_strategy("none", DistInfo(0, 2, 0))
    with pytest.raises(ConfigError, match="must be one of"):
        resolve_strategy("zero3", DistInfo())


def test_strategy_is_a_checked_config_key(toy_registry):
    from jepa_core.config import apply_overrides
    from tests import toy_seq_plugin

    cfg = apply_overrides(toy_seq_plugin.toy_config(), ["train.strategy=fsdp", "train.compile=true"], toy_registry)
    assert (cfg.train.strategy, cfg.train.compile) == ("fsdp", True)
    with pytest.raises(ConfigError, match="train.strategy"):
        apply_overrides(cfg, ["train.strategy=zero"], toy_registry)


def test_cli_exits_2_for_fsdp_in_a_single_process(tmp_path, capsys):
    from jepa_core.cli import main

    rc = main(TOY_ARGS + ["--out", str(tmp_path / "run"), "--set", "train.strategy=fsdp"])
    assert rc == 2
    assert "train.strategy='fsdp' needs several processes" in capsys.readouterr().err


def test_cli_exits_2_for_muon_with_fsdp_before_any_work(tmp_path, capsys):
    from jepa_core.cli import main

    rc = main(
        TOY_ARGS + ["--out", str(tmp_path / "run"), "--set", "train.strategy=fsdp", "--set", "optim.optimizer=muon"]
    )
    assert rc == 2
    assert "optim.optimizer='muon' is not supported with train.strategy='fsdp'" in capsys.readouterr().err
    assert not any((tmp_path / "run").glob("checkpoints/*"))


def tiny_vit_parts():
    from jepa_core.targets import EMATargetProvider
    from jepa_image.vit import ViTConfig, build_vit
    from jepa_vit.predictor import PredictorConfig, build_predictor

    torch.manual_seed(0)
    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=2, embed_dim=64, num_heads=2))
    pred = build_predictor(PredictorConfig(embed_dim=32, depth=1), enc)
    return enc, pred, EMATargetProvider(enc)


def test_transformer_blocks_finds_vit_predictor_and_toy_blocks():
    from tests import toy_seq_plugin

    enc, pred, target = tiny_vit_parts()
    assert transformer_blocks(enc) == list(enc.blocks)
    assert transformer_blocks(pred) == list(pred.predictor_blocks)
    assert transformer_blocks(target) == list(target.encoder.blocks)
    toy = toy_seq_plugin.SeqEncoder(toy_seq_plugin.SeqEncoderConfig(depth=3))
    assert transformer_blocks(toy) == list(toy.blocks.layers)


def test_vit_attention_uses_fused_sdpa():
    enc, pred, _ = tiny_vit_parts()
    assert fused_attention_layers([enc, pred]) == (3, 3)
    called = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        called.append(args[0].shape)
        return real(*args, **kwargs)

    torch.nn.functional.scaled_dot_product_attention = spy
    try:
        enc(torch.randn(1, 3, 32, 32))
    finally:
        torch.nn.functional.scaled_dot_product_attention = real
    assert len(called) == 2  # one SDPA call per encoder block


@pytest.mark.parametrize(
    ("mode", "device", "precision", "fused"),
    [
        ("auto", "cpu", "bf16", False),  # the explicit product: faster on short sequences there
        ("auto", "cpu", "fp32", True),
        ("auto", "cuda", "bf16", True),
        ("math", "cuda", "bf16", False),
        ("fused", "cpu", "bf16", True),
    ],
)
def test_attention_kernel_choice(mode, device, precision, fused):
    assert use_fused_attention(mode, torch.device(device), precision) is fused


@pytest.mark.parametrize(("native_bf16", "fused"), [(True, False), (False, True)])
def test_auto_attention_follows_the_precision_auto_resolves_to(monkeypatch, native_bf16, fused):
    monkeypatch.setattr(hardware, "cpu_multiplies_bf16", lambda: native_bf16)
    assert use_fused_attention("auto", torch.device("cpu"), "auto") is fused


def test_bad_attention_mode_is_one_config_error():
    with pytest.raises(ConfigError, match=r"train.attention must be one of auto, fused, math, got 'flash'"):
        use_fused_attention("flash", torch.device("cpu"), "fp32")


def test_attention_setting_reaches_every_layer_and_keeps_the_output():
    from jepa_core.config import TrainConfig

    enc, pred, target = tiny_vit_parts()
    x = torch.randn(2, 3, 32, 32)
    fused_out = enc(x)
    plan = apply_parallelism(enc, pred, target, TrainConfig(precision="bf16"), torch.device("cpu"), DistInfo())
    assert fused_attention_layers([enc, pred, target]) == (0, 5)
    assert "fused SDPA attention in 0/3 layers" in plan.describe()
    torch.testing.assert_close(enc(x), fused_out)  # the same attention, another kernel
    set_fused_attention([enc], True)
    assert fused_attention_layers([enc]) == (2, 2)


def test_activation_checkpointing_is_switched_on_and_refused_without_support():
    from jepa_core.config import TrainConfig
    from tests import toy_seq_plugin

    enc, pred, target = tiny_vit_parts()
    cfg = TrainConfig(activation_checkpointing=True)
    plan = apply_parallelism(enc, pred, target, cfg, torch.device("cpu"), DistInfo())
    assert enc.grad_checkpointing and pred.grad_checkpointing
    assert plan.activation_checkpointing and "activation checkpointing" in plan.describe()
    toy = toy_seq_plugin.SeqEncoder(toy_seq_plugin.SeqEncoderConfig())
    with pytest.raises(ConfigError, match=r"train.activation_checkpointing=true .*\(SeqEncoder\)"):
        apply_parallelism(toy, pred, target, cfg, torch.device("cpu"), DistInfo())


def test_compile_wraps_every_block_and_keeps_loss_and_state_keys():
    from jepa_core.config import TrainConfig

    def loss_of(enc, pred, target):
        torch.manual_seed(1)
        x = torch.randn(2, 3, 32, 32)
        ctx = torch.tensor([[0, 1, 2, 3, 4, 5, 6]] * 2)
        tgt = torch.tensor([[[10, 11], [14, 15]]] * 2)
        return torch.nn.functional.mse_loss(pred(enc(x, ctx), ctx, tgt), target.targets(x, tgt))

    reference = loss_of(*tiny_vit_parts())
    enc, pred, target = tiny_vit_parts()
    keys = list(enc.state_dict())
    plan = apply_parallelism(
        enc, pred, target, TrainConfig(compile=True), torch.device("cpu"), DistInfo(), compile_backend="eager"
    )
    assert plan.compiled_blocks == 2 + 1 + 2  # encoder, predictor, target encoder
    assert all(b._compiled_call_impl is not None for b in transformer_blocks(enc))
    assert list(enc.state_dict()) == keys  # checkpoints keep the plain key names
    torch.testing.assert_close(loss_of(enc, pred, target), reference)


def test_plain_optimizer_state_is_untouched_without_sharding():
    enc, pred, _ = tiny_vit_parts()
    path = nn.ModuleDict({"encoder": enc, "predictor": pred})
    opt = torch.optim.AdamW(path.parameters())
    assert optimizer_state_dict(path, opt) == opt.state_dict()
    assert ParallelPlan("ddp", None).describe() == "strategy ddp"


# --------------------------------------------------------------------- two processes


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("parallel")
    torchrun(["-m", "tests.jepa_core.test_parallel", str(out)])
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from jepa_core.registry import build_registry
    from tests import toy_seq_plugin

    registry = build_registry(autoload=False, plugins=[toy_seq_plugin])
    return single_process_run(registry, tmp_path_factory.mktemp("single"))


def test_fsdp_two_processes_equal_one_process_and_resume(two_process_runs, reference):
    path = ckpt.latest_checkpoint(two_process_runs / "fsdp" / "checkpoints")
    assert path.name == ckpt.checkpoint_name(STEPS)  # 2 steps, then resumed to 4 from step 2
    fsdp = ckpt.load_checkpoint(path)
    assert fsdp["world_size"] == 2
    for what in ("encoder", "predictor", "target_encoder"):
        assert all(type(v) is torch.Tensor for v in fsdp[what].values())  # gathered, not DTensors
        assert_states_close(fsdp[what], reference[what])
    # The optimizer state has the single-process layout: integer ids, same groups, same moments.
    assert [g["params"] for g in fsdp["opt"]["param_groups"]] == [g["params"] for g in reference["opt"]["param_groups"]]
    assert fsdp["opt"]["state"].keys() == reference["opt"]["state"].keys()
    for i, s in reference["opt"]["state"].items():
        torch.testing.assert_close(fsdp["opt"]["state"][i]["exp_avg"], s["exp_avg"], atol=1e-6, rtol=1e-4)
        assert float(fsdp["opt"]["state"][i]["step"]) == STEPS


def test_fsdp_probe_runs_on_a_gathered_copy_of_the_target(two_process_runs):
    import json

    probe = json.loads((two_process_runs / "fsdp" / "probe.json").read_text())
    assert set(probe) == {"trained"} and probe["trained"]["num_val"] > 0


def test_fsdp_with_activation_checkpointing_on_the_image_vit_equals_one_process(two_process_runs, tmp_path):
    from jepa_core.cli import main

    assert main(IMAGE_ARGS + ["--out", str(tmp_path / "single"), "--set", "train.log_every=100"]) == 0
    single = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "single" / "checkpoints"))
    fsdp = ckpt.load_checkpoint(ckpt.latest_checkpoint(two_process_runs / "image_fsdp" / "checkpoints"))
    assert fsdp["step"] == single["step"] == 2
    for what in ("encoder", "predictor", "target_encoder"):
        assert_states_close(fsdp[what], single[what])


def test_fsdp_on_the_video_plugin_with_rope_and_two_mask_sets_equals_one_process(two_process_runs, tmp_path):
    from jepa_core.cli import main

    assert main(VIDEO_ARGS + ["--out", str(tmp_path / "single"), "--set", "train.log_every=100"]) == 0
    single = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "single" / "checkpoints"))
    fsdp = ckpt.load_checkpoint(ckpt.latest_checkpoint(two_process_runs / "video_fsdp" / "checkpoints"))
    assert fsdp["step"] == single["step"] == 2 and fsdp["world_size"] == 2
    assert {"mask_tokens.0", "mask_tokens.1"} <= set(fsdp["predictor"])
    for what in ("encoder", "predictor", "target_encoder"):
        assert_states_close(fsdp[what], single[what])


def test_fsdp_checkpoint_loads_into_a_single_process_trainer(two_process_runs):
    from jepa_core.registry import build_registry
    from jepa_core.run import build_parts
    from jepa_core.schedules import Schedules
    from jepa_core.trainer import Trainer
    from tests import toy_seq_plugin

    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, build_registry(autoload=False, plugins=[toy_seq_plugin]))
    trainer = Trainer(
        parts.encoder,
        parts.predictor,
        parts.target,
        parts.loss,
        optim=cfg.optim,
        schedules=Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=16),
    )
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(two_process_runs / "fsdp" / "checkpoints"))
    trainer.load_state_dict(state)
    assert trainer.step == STEPS
    assert_states_close(trainer.encoder.state_dict(), state["encoder"], atol=0)
    assert len(trainer.optimizer.state) == len(state["opt"]["state"])


def test_fsdp_shards_are_halves_and_target_shards_match_context(two_process_runs):
    info = [torch.load(two_process_runs / f"fsdp_shards_rank{r}.pt") for r in (0, 1)]
    for rank in info:
        assert rank["aligned"]  # target and context encoders: same names, local shapes, placements
        assert rank["strategy"] == "fsdp"
    full = ckpt.load_checkpoint(ckpt.latest_checkpoint(two_process_runs / "fsdp" / "checkpoints"))["target_encoder"]
    for name, shard0 in info[0]["target_local"].items():
        rebuilt = torch.cat([shard0, info[1]["target_local"][name]])[: full[name].shape[0]]
        torch.testing.assert_close(rebuilt, full[name])  # Shard(0): rank 0 has the first half


def test_ddp_target_encoders_identical_on_both_ranks(two_process_runs, reference):
    ranks = [torch.load(two_process_runs / f"ddp_target_rank{r}.pt") for r in (0, 1)]
    for name, value in ranks[0].items():
        assert torch.equal(value, ranks[1][name]), name
    assert_states_close(ranks[0], reference["target_encoder"])


@pytest.mark.parametrize("reg", REGULARIZERS)
def test_ddp_trains_with_each_regularizer_on_gathered_statistics(two_process_runs, reg):
    """Statistics are all-reduced (tests/jepa_core/test_regularizers.py proves the value and
    gradients equal one process on the whole batch); here: a real DDP run stays in lockstep."""
    from jepa_core.progress import read_loss_log

    ranks = [torch.load(two_process_runs / f"ddp_{reg}_target_rank{r}.pt") for r in (0, 1)]
    for name, value in ranks[0].items():
        assert torch.equal(value, ranks[1][name]), name
    plain = torch.load(two_process_runs / "ddp_target_rank0.pt")
    assert any(not torch.equal(plain[k], ranks[0][k]) for k in plain)  # the regulariser changed training
    losses = read_loss_log(two_process_runs / f"ddp_{reg}" / "losses.tsv")
    assert sorted(losses) == list(range(1, STEPS + 1)) and all(math.isfinite(v) for v in losses.values())


# -------------------------------------------------------------------------- worker


def _worker(out: Path) -> int:
    """Runs in each of the two torchrun processes (see the module docstring)."""
    from jepa_core import cli
    from jepa_core.parallel import check_aligned
    from jepa_core.trainer import Trainer

    rank = int(os.environ["RANK"])
    original_fit = Trainer.fit
    tag = {"name": ""}

    def fit(self: Trainer, *args, **kwargs):  # record each rank's state after training
        original_fit(self, *args, **kwargs)
        enc = self.target.encoder
        if tag["name"].startswith("ddp"):
            torch.save(
                {k: v.detach().clone() for k, v in enc.state_dict().items()},
                out / f"{tag['name']}_target_rank{rank}.pt",
            )
        else:
            try:
                check_aligned(enc, self.encoder)
                aligned = True
            except RuntimeError:
                aligned = False
            shards = {n: p.to_local().detach().clone() for n, p in enc.named_parameters()}
            torch.save(
                {"aligned": aligned, "strategy": "fsdp", "target_local": shards}, out / f"fsdp_shards_rank{rank}.pt"
            )

    Trainer.fit = fit
    runs = [
        ("ddp", ["--out", str(out / "ddp"), "--set", "train.strategy=ddp", "--set", f"train.max_steps={STEPS}"]),
        *(
            (
                f"ddp_{reg}",
                [
                    "--out",
                    str(out / f"ddp_{reg}"),
                    "--set",
                    "train.strategy=ddp",
                    "--set",
                    f"train.max_steps={STEPS}",
                    "--set",
                    f"regularizer.name={reg}",
                    "--set",
                    "regularizer.weight=0.5",
                    "--set",
                    "train.loss_log=true",
                ],
            )
            for reg in REGULARIZERS
        ),
        ("fsdp", ["--out", str(out / "fsdp"), "--set", "train.strategy=fsdp", "--set", "train.max_steps=2"]),
        (
            "fsdp",
            [
                "--out",
                str(out / "fsdp"),
                "--set",
                "train.strategy=fsdp",
                "--set",
                f"train.max_steps={STEPS}",
                "--set",
                "probe.enabled=true",
                "--set",
                "probe.epochs=2",
                "--set",
                "probe.compare_random_init=false",
            ],
        ),
    ]
    for name, args in runs:
        tag["name"] = name
        rc = cli.main(TOY_ARGS + args)
        if rc != 0:
            return rc
    tag["name"] = "image"
    Trainer.fit = original_fit
    for extra in (["--set", "train.strategy=fsdp", "--set", "train.activation_checkpointing=true"],):
        rc = cli.main(IMAGE_ARGS + ["--out", str(out / "image_fsdp")] + extra)
        if rc != 0:
            return rc
    fsdp_ckpt = ["--set", "train.strategy=fsdp", "--set", "train.activation_checkpointing=true"]
    return cli.main(VIDEO_ARGS + ["--out", str(out / "video_fsdp")] + fsdp_ckpt)


if __name__ == "__main__":
    from jepa_core.dist import exit_process

    exit_process(_worker(Path(sys.argv[1])))  # the hard exit, as the jepa script ends a distributed run
