"""The trainer end to end (toy 1-D plugin), embedded in a user loop, state round trip, accumulation."""

from __future__ import annotations

import copy

import pytest
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.cli import main
from jepa_core.config import apply_overrides, load_config, to_dict
from jepa_core.data import Batch, build_loader
from jepa_core.errors import CheckpointError, ConfigError
from jepa_core.hardware import resolve_precision
from jepa_core.interfaces import MaskSet
from jepa_core.registry import build_registry
from jepa_core.run import build_dataset, build_parts, train_run
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer
from tests import toy_seq_plugin
from tests.jepa_core.test_objectives import LEJEPA

STEPS = 16  # 128 samples / batch 16 = 8 steps per epoch, 2 epochs


@pytest.fixture(scope="module")
def registry():
    return build_registry(autoload=False, plugins=[toy_seq_plugin])


@pytest.fixture(scope="module")
def toy_run(registry, tmp_path_factory):
    out = tmp_path_factory.mktemp("toy_run")
    cfg = apply_overrides(
        toy_seq_plugin.toy_config(),
        [
            "data.num_samples=128",
            "train.batch_size=16",
            "train.epochs=2",
            "train.log_every=4",
            f"train.out_dir={out}",
        ],
        registry,
    )
    return cfg, train_run(cfg, registry, stream=None)


# ------------------------------------------------------------------------ train_run
def test_train_run_loss_falls(toy_run):
    cfg, result = toy_run
    assert result.steps == STEPS and not result.preempted
    steps = [s for s, _ in result.loss_history]
    losses = [v for _, v in result.loss_history]
    assert steps == [4, 8, 12, 16]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.9 * losses[0], losses


def test_train_run_writes_the_run_directory(toy_run, registry):
    cfg, result = toy_run
    out = result.out_dir
    assert load_config(out / "config.yaml", registry) == cfg
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0
    latest = ckpt.latest_checkpoint(out / "checkpoints")
    assert latest is not None and latest.name == f"step_{STEPS:08d}.pt"
    state = ckpt.load_checkpoint(latest)
    assert state["step"] == STEPS and state["epoch"] == 2 and state["config"] == to_dict(cfg)
    assert set(state) >= {"encoder", "predictor", "target_encoder", "opt"}


def test_tensorboard_holds_the_logged_losses(toy_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, result = toy_run
    acc = EventAccumulator(str(result.out_dir / "tensorboard"))
    acc.Reload()
    logged = [(e.step, e.value) for e in acc.Scalars("train/loss")]
    assert [s for s, _ in logged] == [s for s, _ in result.loss_history]
    assert [v for _, v in logged] == pytest.approx([v for _, v in result.loss_history], rel=1e-6)
    assert {"train/lr", "train/weight_decay", "train/ema_momentum"} <= set(acc.Tags()["scalars"])


def test_cli_reruns_from_the_config_file(toy_run, registry, tmp_path, capsys):
    cfg, result = toy_run
    rerun = tmp_path / "rerun"
    code = main(
        [
            "--no-autoload",
            "-p",
            "tests.toy_seq_plugin",
            "train",
            "--config",
            str(result.out_dir / "config.yaml"),
            "--set",
            f"train.out_dir={rerun}",
            "--set",
            "train.max_steps=2",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "run toyseq/tiny" in capsys.readouterr().out
    again = load_config(rerun / "config.yaml", registry)
    assert again.train.out_dir == str(rerun) and again.train.max_steps == 2
    assert apply_overrides(again, [f"train.out_dir={result.out_dir}", "train.max_steps=none"], registry) == cfg
    assert ckpt.latest_checkpoint(rerun / "checkpoints").name == "step_00000002.pt"


# ------------------------------------------------------------------------ embedding
def _trainer(cfg, registry, seed: int = 0, total_steps: int = 20) -> Trainer:
    parts = build_parts(cfg, registry, seed=seed)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=total_steps)
    return Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)


def _params(trainer: Trainer) -> dict[str, torch.Tensor]:
    out = {}
    for prefix, module in (("enc", trainer.encoder), ("pred", trainer.predictor), ("tgt", trainer.target.encoder)):
        out.update({f"{prefix}.{n}": p.detach().clone() for n, p in module.named_parameters()})
    return out


def test_embedded_in_a_user_loop(registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, registry)
    loader = build_loader(
        build_dataset(cfg, registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=8, seed=0
    )
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=len(loader))
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    before = _params(trainer)
    outs = []
    for i, batch in enumerate(loader):
        outs.append(trainer.train_step(batch))
        if i == 2:
            break
    assert trainer.step == 3 and [o.step for o in outs] == [0, 1, 2]
    assert all(isinstance(o.loss, torch.Tensor) and o.loss.ndim == 0 and torch.isfinite(o.loss) for o in outs)
    assert all(o.batch_size == 8 for o in outs)
    after = _params(trainer)
    assert not torch.equal(before["enc.embed.weight"], after["enc.embed.weight"])  # the optimizer stepped
    assert not torch.equal(before["tgt.embed.weight"], after["tgt.embed.weight"])  # the EMA moved
    assert not torch.equal(after["tgt.embed.weight"], after["enc.embed.weight"])


def _batches(cfg, n: int = 8, seed: int = 0) -> tuple[Batch, Batch, Batch]:
    """A full batch of ``n`` and its two halves, with identical per-sample masks."""
    data = toy_seq_plugin.SineDataset(cfg.data.options, "train")
    x = torch.stack([data[i + seed][0] for i in range(n)])
    y = torch.tensor([data[i + seed][1] for i in range(n)])
    masks = toy_seq_plugin.SeqBlockMasker(cfg.masker.options)(n, (16,), torch.Generator().manual_seed(seed))
    h = n // 2

    def part(sl: slice) -> Batch:
        return Batch(x[sl], MaskSet(masks.context[sl], masks.targets[sl]), y[sl])

    return part(slice(None)), part(slice(0, h)), part(slice(h, None))


def test_gradient_accumulation_equals_one_big_batch(registry):
    cfg = toy_seq_plugin.toy_config()
    accum, whole = _trainer(cfg, registry), _trainer(cfg, registry)
    assert all(torch.equal(a, b) for a, b in zip(_params(accum).values(), _params(whole).values(), strict=True))
    for seed in (0, 1, 2):
        full, first, second = _batches(cfg, seed=seed)
        out_a = accum.train_step([first, second])
        out_w = whole.train_step(full)
        assert out_a.batch_size == out_w.batch_size == 8
        assert out_a.loss.item() == pytest.approx(out_w.loss.item(), rel=1e-5)
        assert out_a.grad_norm.item() == pytest.approx(out_w.grad_norm.item(), rel=1e-4)
    pa, pw = _params(accum), _params(whole)
    for name in pa:
        assert torch.allclose(pa[name], pw[name], atol=1e-5, rtol=1e-4), name
    # and accumulation is not a no-op: a single half-batch step lands elsewhere
    half_only = _trainer(cfg, registry)
    for seed in (0, 1, 2):
        half_only.train_step(_batches(cfg, seed=seed)[1])
    assert not torch.allclose(_params(half_only)["pred.out.weight"], pw["pred.out.weight"], atol=1e-5)


def test_state_dict_round_trip(registry):
    cfg = toy_seq_plugin.toy_config()
    a = _trainer(cfg, registry, seed=0)
    for seed in (0, 1):
        a.train_step(_batches(cfg, seed=seed)[0])
    state = copy.deepcopy(a.state_dict())

    b = _trainer(cfg, registry, seed=123)  # different init
    assert not torch.equal(_params(a)["enc.embed.weight"], _params(b)["enc.embed.weight"])
    b.load_state_dict(state)
    assert (b.step, b.epoch, b.step_in_epoch) == (2, 0, 2)
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    for i, s in sa["state"].items():
        assert torch.equal(s["exp_avg"], sb["state"][i]["exp_avg"]) and torch.equal(
            s["exp_avg_sq"], sb["state"][i]["exp_avg_sq"]
        )

    # the restored trainer continues exactly like the original
    batch = _batches(cfg, seed=5)[0]
    out_a, out_b = a.train_step(batch), b.train_step(batch)
    assert out_a.step == out_b.step == 2 and out_a.lr == out_b.lr
    assert torch.equal(out_a.loss, out_b.loss)
    pa, pb = _params(a), _params(b)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_load_state_dict_missing_part_is_a_checkpoint_error(registry):
    cfg = toy_seq_plugin.toy_config()
    trainer = _trainer(cfg, registry)
    state = trainer.state_dict()
    del state["predictor"]
    with pytest.raises(CheckpointError, match="no 'predictor' state"):
        trainer.load_state_dict(state)


@pytest.mark.parametrize("after_warmup, clipped_steps", [(False, [0, 1, 2, 3]), (True, [2, 3])])
def test_gradient_clipping_can_wait_for_the_end_of_warmup(registry, monkeypatch, after_warmup, clipped_steps):
    cfg = apply_overrides(
        toy_seq_plugin.toy_config(),
        [
            "optim.clip_grad=0.001",
            f"optim.clip_grad_after_warmup={after_warmup}",
            "optim.warmup_epochs=0.1",
        ],
        registry,
    )
    trainer = _trainer(cfg, registry)  # 20 steps per epoch -> warmup of 2 steps
    assert trainer.schedules.warmup_steps == 2
    clip = torch.nn.utils.clip_grads_with_norm_
    seen: list[int] = []

    def recording(params, max_norm, total_norm):
        seen.append(trainer.step)
        return clip(params, max_norm, total_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grads_with_norm_", recording)
    norms = []
    for seed in range(4):
        trainer.train_step(_batches(cfg, seed=seed)[0])
        grads = [p.grad for p in trainer.encoder.parameters() if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())
    assert seen == clipped_steps
    for step, norm in enumerate(norms):  # clipped steps leave gradients at the 0.001 cap
        assert (norm <= 0.0011) == (step in clipped_steps), (step, norm)


def test_train_run_with_fixed_steps_per_epoch(registry, tmp_path):
    cfg = apply_overrides(
        toy_seq_plugin.toy_config(),
        [
            "data.num_samples=32",
            "train.batch_size=16",
            "train.epochs=2",
            "train.steps_per_epoch=3",
            "train.log_every=1",
            f"train.out_dir={tmp_path}",
        ],
        registry,
    )
    result = train_run(cfg, registry, stream=None)
    assert result.steps == 6  # 2 epochs of 3 steps, though 32 samples hold only 2 batches of 16
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "checkpoints"))
    assert state["epoch"] == 2 and state["step"] == 6


class _Clock:
    """A stand-in for ``time.perf_counter`` that only moves when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fit_counts_the_time_spent_waiting_for_batches(registry, monkeypatch):
    import jepa_core.trainer as trainer_module

    cfg = toy_seq_plugin.toy_config()
    full, _, _ = _batches(cfg)
    clock = _Clock()
    monkeypatch.setattr(trainer_module.time, "perf_counter", clock)

    class SlowLoader:  # each batch takes 0.25 "seconds" to arrive, the end of an epoch 0.5
        def __iter__(self):
            for _ in range(3):
                clock.now += 0.25
                yield full
            clock.now += 0.5

    trainer = _trainer(cfg, registry)
    trainer.fit(SlowLoader(), epochs=2)
    assert trainer.step == 6
    assert trainer.data_wait_seconds == pytest.approx(2 * (3 * 0.25 + 0.5))


def _first_batch(cfg, registry, parts, micro_batch: int = 8) -> Batch:
    loader = build_loader(
        build_dataset(cfg, registry, "train"),
        parts.masker,
        grid=parts.encoder.token_grid,
        micro_batch=micro_batch,
        seed=0,
    )
    return next(iter(loader))


def test_from_parts_trains_the_configured_regulariser_and_precision(registry):
    cfg = apply_overrides(toy_seq_plugin.toy_config(), ["regularizer.name=vicreg", "train.precision=auto"], registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=4)
    parts = build_parts(cfg, registry)
    trainer = Trainer.from_parts(parts, cfg, schedules=sched)
    assert trainer.regularizer is parts.regularizer and trainer.objective is parts.objective
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # train.device auto
    assert trainer.device.type == device.type and trainer.precision == resolve_precision("auto", device)
    out = trainer.train_step(_first_batch(cfg, registry, parts))
    assert set(out.parts) == {"loss_pred", "loss_reg"} and float(out.parts["loss_reg"]) > 0
    # The constructor given the parts one by one trains no regulariser unless it is passed.
    loose = build_parts(cfg, registry)
    plain = Trainer(loose.encoder, loose.predictor, loose.target, loose.loss, optim=cfg.optim, schedules=sched)
    assert plain.regularizer is None and not plain.train_step(_first_batch(cfg, registry, loose)).parts


def test_from_parts_trains_a_lejepa_recipe_the_bare_constructor_cannot(registry):
    cfg = apply_overrides(toy_seq_plugin.toy_config(), LEJEPA, registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=4)
    parts = build_parts(cfg, registry)
    batch = _first_batch(cfg, registry, parts)
    trainer = Trainer.from_parts(parts, cfg, schedules=sched, precision="fp32")
    head_before = [p.detach().clone() for p in trainer.head.parameters()]
    out = trainer.train_step(batch)
    assert torch.isfinite(out.loss) and trainer.precision == "fp32"
    assert any(not torch.equal(a, b) for a, b in zip(head_before, trainer.head.parameters(), strict=True))
    bare = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    with pytest.raises(TypeError, match="predictive objective"):
        bare.train_step(batch)


def test_train_step_rejects_an_empty_step_and_what_is_not_a_batch(registry):
    cfg = toy_seq_plugin.toy_config()
    trainer = _trainer(cfg, registry)
    with pytest.raises(ValueError, match="at least one micro-batch"):
        trainer.train_step([])
    with pytest.raises(TypeError, match="got dict"):
        trainer.train_step({"x": torch.zeros(2)})  # type: ignore[arg-type]
    assert trainer.step == 0  # nothing stepped


@pytest.mark.parametrize(
    ("epochs", "iterations", "bad"),
    [(0, 10, "epochs"), (-1, 10, "epochs"), (2, 0, "iterations_per_epoch"), (1.5, 10, "epochs")],
)
def test_schedules_need_a_positive_run_length(epochs, iterations, bad):
    cfg = toy_seq_plugin.toy_config()
    with pytest.raises(
        ValueError, match=f"^{bad} must be a whole number >= 1, got {epochs if bad == 'epochs' else iterations}"
    ):
        Schedules.from_config(cfg.optim, epochs=epochs, iterations_per_epoch=iterations)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"micro_batch": 0}, "micro_batch must be >= 1, got 0"),
        ({"micro_batch": -3}, "micro_batch must be >= 1, got -3"),
        ({"micro_batch": 4, "accum_steps": 0}, "accum_steps must be >= 1, got 0"),
        ({"micro_batch": 4, "world_size": 2, "rank": 2}, r"rank must be in \[0, 1\] for world_size 2, got 2"),
    ],
)
def test_loader_rejects_batch_layouts_that_cannot_be(registry, kwargs, message):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, registry)
    with pytest.raises(ValueError, match=message):
        build_loader(
            build_dataset(cfg, registry, "train"), parts.masker, grid=parts.encoder.token_grid, seed=0, **kwargs
        )


def test_train_step_names_what_a_sequence_held(registry):
    trainer = _trainer(toy_seq_plugin.toy_config(), registry)
    with pytest.raises(TypeError, match="got a sequence holding Tensor"):
        trainer.train_step([torch.zeros(2)])  # type: ignore[list-item]


def test_trainer_resolves_auto_precision_and_names_a_missing_cuda_device(registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=4)
    args = (parts.encoder, parts.predictor, parts.target, parts.loss)
    trainer = Trainer(*args, optim=cfg.optim, schedules=sched, precision="auto")
    assert trainer.precision == resolve_precision("auto", torch.device("cpu"))
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16, got 'bf32'"):
        Trainer(*args, optim=cfg.optim, schedules=sched, precision="bf32")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' is not available here"):
            Trainer(*args, optim=cfg.optim, schedules=sched, device="cuda")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "fit's epochs must be a whole number >= 1, got 0"),
        ({"epochs": 1, "max_steps": -2}, "fit's max_steps must be a whole number >= 1, got -2"),
        ({"epochs": 1, "accum_steps": 0}, "fit's accum_steps must be a whole number >= 1, got 0"),
    ],
)
def test_fit_rejects_a_run_that_cannot_train(registry, kwargs, message):
    trainer = _trainer(toy_seq_plugin.toy_config(), registry)
    with pytest.raises(ValueError, match=message):
        trainer.fit([], **kwargs)
    assert trainer.step == 0


def test_a_checkpoint_of_another_objective_is_named_as_such(registry):
    lejepa = apply_overrides(
        toy_seq_plugin.toy_config(),
        ["objective.name=lejepa", "target.name=none", "predictor.name=none", "masker.name=token_views"],
        registry,
    )
    sched = Schedules.from_config(lejepa.optim, epochs=1, iterations_per_epoch=4)
    views = Trainer.from_parts(build_parts(lejepa, registry), lejepa, schedules=sched)
    predictive = _trainer(toy_seq_plugin.toy_config(), registry)
    with pytest.raises(CheckpointError, match="holds no predictor but this run's objective trains one"):
        predictive.load_state_dict(views.state_dict())
    with pytest.raises(CheckpointError, match="holds a predictor but this run's objective has none"):
        views.load_state_dict(predictive.state_dict())


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_from_parts_takes_the_configured_device(registry):
    cfg = apply_overrides(toy_seq_plugin.toy_config(), ["train.device=cuda"], registry)
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=4)
    with pytest.raises(ConfigError, match="train.device='cuda' but CUDA is not available here"):
        Trainer.from_parts(build_parts(cfg, registry), cfg, schedules=sched)
    assert Trainer.from_parts(build_parts(cfg, registry), cfg, schedules=sched, device="cpu").device.type == "cpu"


def test_train_run_names_arguments_of_the_wrong_kind(registry):
    with pytest.raises(TypeError, match="^train_run takes a RunConfig .* got dict$"):
        train_run({"plugin": "toyseq"}, registry, stream=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="^train_run takes the Registry .* got NoneType$"):
        train_run(toy_seq_plugin.toy_config(), None, stream=None)  # type: ignore[arg-type]
