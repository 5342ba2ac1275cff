"""jepa_core.objectives: the predictive objective unchanged, LeJEPA's loss, views, placeholders,
pre-flight checks, and LeJEPA runs end to end (checkpoint, exact resume, evaluation)."""

from __future__ import annotations

import io
import itertools
import json

import pytest
import torch

from jepa_core.config import apply_overrides
from jepa_core.data import Batch
from jepa_core.errors import ConfigError
from jepa_core.interfaces import MaskSet, TokenViews
from jepa_core.losses import L2Loss
from jepa_core.objective_checks import KitEncoder, KitPredictor, check_objective, kit_batch, split_batch
from jepa_core.objectives import (
    LeJEPAConfig,
    LeJEPAObjective,
    Networks,
    PredictiveObjective,
    ViewPath,
    check_objective_parts,
    global_view_count,
)
from jepa_core.regularizers import SIGReg, SIGRegConfig, VICReg, VICRegConfig
from jepa_core.views import TokenViewsConfig, TokenViewsMasker
from tests import toy_seq_plugin

LEJEPA = [
    "objective.name=lejepa",
    "target.name=none",
    "predictor.name=none",
    "masker.name=token_views",
    "loss.name=l2",
    "objective.proj_hidden_dim=32",
    "objective.num_slices=64",
]


# ------------------------------------------------------------------------ LeJEPA loss


def _lejepa(**options):
    torch.manual_seed(0)
    encoder = KitEncoder()
    objective = LeJEPAObjective(LeJEPAConfig(proj_hidden_dim=32, num_slices=64, **options), encoder)
    nets = Networks(target=None, loss=L2Loss())
    return encoder, objective, objective.trainable_path(encoder, None, nets), nets


@pytest.mark.parametrize("per_view", [True, False])
def test_lejepa_loss_is_weighted_invariance_plus_sigreg(per_view):
    encoder, objective, path, nets = _lejepa(sigreg_weight=0.1, sigreg_per_view=per_view)
    batch = kit_batch("views")
    parts = objective.loss_parts(path, batch, nets, step=5)
    emb, proj = path(batch.inputs, batch.masks.keep)  # [V, B, D], [V, B, P]
    assert emb.shape[:2] == proj.shape[:2] == (4, 8) and proj.shape[2] == 16
    centre = proj[:2].mean(0)  # two global views
    invariance = (proj - centre).square().mean()
    sig = SIGReg(SIGRegConfig(num_slices=64))
    sigreg = torch.stack([sig(p, step=5) for p in proj]).mean() if per_view else sig(proj.reshape(-1, 16), step=5)
    torch.testing.assert_close(parts["loss_inv"], invariance)
    torch.testing.assert_close(parts["loss_sigreg"], sigreg)
    torch.testing.assert_close(parts["loss"], 0.9 * invariance + 0.1 * sigreg)


def test_lejepa_adds_the_weighted_regulariser_of_each_views_pooled_embedding():
    encoder, objective, path, _ = _lejepa(sigreg_weight=0.1)
    vicreg = VICReg(VICRegConfig(weight=0.5))
    nets = Networks(target=None, loss=L2Loss(), regularizer=vicreg)
    batch = kit_batch("views")
    parts = objective.loss_parts(path, batch, nets, step=5)
    emb, _ = path(batch.inputs, batch.masks.keep)  # [V, B, D]
    reg = torch.stack([vicreg(e, step=5) for e in emb]).mean()
    torch.testing.assert_close(parts["loss_reg"], reg)
    torch.testing.assert_close(parts["loss"], 0.9 * parts["loss_inv"] + 0.1 * parts["loss_sigreg"] + 0.5 * reg)
    parts["loss_reg"].backward()
    assert all(p.grad is not None for p in encoder.parameters() if p.requires_grad)
    assert all(p.grad is None for p in objective.head.parameters())  # the projector is not regularised
    assert "loss_reg" not in objective.loss_parts(path, batch, Networks(target=None, loss=L2Loss()), step=5)


def test_lejepa_embedding_invariance_adds_the_weighted_invariance_of_pooled_embeddings():
    encoder, objective, path, nets = _lejepa(sigreg_weight=0.1, embed_invariance=0.5)
    batch = kit_batch("views")
    parts = objective.loss_parts(path, batch, nets, step=5)
    emb, _ = path(batch.inputs, batch.masks.keep)  # [V, B, D]
    embed_inv = (emb - emb[:2].mean(0)).square().mean()  # to the mean of the two global views
    torch.testing.assert_close(parts["loss_inv_embed"], embed_inv)
    torch.testing.assert_close(parts["loss"], 0.9 * parts["loss_inv"] + 0.1 * parts["loss_sigreg"] + 0.5 * embed_inv)
    assert "loss_inv_embed" not in _lejepa(sigreg_weight=0.1)[1].loss_parts(path, batch, nets, step=5)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="embed_invariance"):
            LeJEPAConfig(embed_invariance=bad)


@pytest.mark.parametrize("apply_to", ["tokens", "both"])
def test_lejepa_regularises_each_views_tokens_as_apply_to_says(apply_to):
    encoder, objective, _, _ = _lejepa(sigreg_weight=0.1)
    vicreg = VICReg(VICRegConfig(weight=0.5, apply_to=apply_to))
    nets = Networks(target=None, loss=L2Loss(), regularizer=vicreg)
    path = objective.trainable_path(encoder, None, nets)
    batch = kit_batch("views")
    parts = objective.loss_parts(path, batch, nets, step=5)
    emb, _, tokens = path(batch.inputs, batch.masks.keep)  # [V, B, D], V x [B, Nk_v, D]
    for e, t, k in zip(emb, tokens, batch.masks.keep, strict=True):
        assert t.shape[:2] == k.shape
        torch.testing.assert_close(t.mean(1), e)
    per_view = [vicreg(t.reshape(-1, t.shape[-1]), step=5) for t in tokens]
    if apply_to == "both":
        per_view = [r + vicreg(e, step=5) for r, e in zip(per_view, emb, strict=True)]
    reg = torch.stack(per_view).mean()
    torch.testing.assert_close(parts["loss_reg"], reg)
    torch.testing.assert_close(parts["loss"], 0.9 * parts["loss_inv"] + 0.1 * parts["loss_sigreg"] + 0.5 * reg)
    pooled_only = torch.stack([vicreg(e, step=5) for e in emb]).mean()
    assert not torch.allclose(parts["loss_reg"], pooled_only)
    with pytest.raises(ValueError, match="sees tokens"):  # a path built without the regulariser
        objective.loss_parts(objective.trainable_path(encoder, None, Networks(None, L2Loss())), batch, nets, step=5)


def test_view_path_encodes_each_view_as_alone_and_groups_sizes():
    vit_like = KitEncoder()
    head = torch.nn.Linear(16, 3)
    path = ViewPath(vit_like, head).eval()
    x = torch.randn(4, 16, 4)
    keep = (torch.arange(16).expand(4, 16), torch.arange(8).expand(4, 8))
    emb, proj = path(x, keep)
    torch.testing.assert_close(emb[1], vit_like(x, keep[1]).mean(1))
    calls = []
    hook = vit_like.register_forward_hook(lambda _m, args, _out: calls.append(tuple(args[1].shape)))
    keep = TokenViewsMasker(TokenViewsConfig(global_keep=0.5, local_keep=0.25))(4, (16,), torch.Generator()).keep
    emb, _ = path(x, keep)
    hook.remove()
    assert calls == [(8, 8), (8, 4)]  # the two global views in one call, the two local ones in another
    for i, k in enumerate(keep):
        torch.testing.assert_close(emb[i], vit_like(x, k).mean(1), rtol=1e-5, atol=1e-6)
    views = (torch.randn(4, 16, 4), torch.randn(4, 16, 4), torch.randn(4, 16, 4))
    emb, _ = path(views)
    for i, v in enumerate(views):
        torch.testing.assert_close(emb[i], vit_like(v).mean(1), rtol=1e-5, atol=1e-6)


def test_view_path_keeps_the_tokens_of_each_view_from_its_crop_in_turn():
    vit_like = KitEncoder()
    path = ViewPath(vit_like, torch.nn.Linear(16, 3)).eval()
    crops = (torch.randn(4, 16, 4), torch.randn(4, 16, 4))
    keep = TokenViewsMasker(TokenViewsConfig(global_keep=0.5, local_keep=0.25))(4, (16,), torch.Generator()).keep
    calls = []
    hook = vit_like.register_forward_hook(lambda _m, args, _out: calls.append(tuple(args[1].shape)))
    emb, proj = path(crops, keep)
    hook.remove()
    assert calls == [(8, 8), (8, 4)] and proj.shape[:2] == (4, 4)
    for i, k in enumerate(keep):  # views 0, 2 from the first crop, 1, 3 from the second
        torch.testing.assert_close(emb[i], vit_like(crops[i % 2], k).mean(1), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(emb[0], vit_like(crops[1], keep[0]).mean(1))


def test_global_views_are_the_leading_views_of_the_first_shape():
    g, small = torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 4, 4)
    assert global_view_count((g, g, small, small)) == 2
    assert global_view_count((g, g, g)) == 3
    with pytest.raises(ValueError, match="several views per sample"):
        global_view_count(g)


def test_projector_batch_norm_gathers_statistics_and_two_processes_equal_one():
    _, objective, _, _ = _lejepa()
    check_objective(objective, processes=2)


@pytest.mark.parametrize("apply_to", ["pooled", "both"])
def test_lejepa_with_a_vicreg_term_passes_the_kit_and_two_processes_equal_one(apply_to):
    """VICReg's statistics of the views are gathered over the processes, like the projector's."""
    _, objective, _, _ = _lejepa()
    check_objective(objective, processes=2, regularizer=VICReg(VICRegConfig(weight=0.5, apply_to=apply_to)))
    if apply_to == "pooled":
        with pytest.raises(AssertionError, match="gather batch statistics"):
            check_objective(objective, processes=2, regularizer=_LocalSpread())


class _LocalSpread:
    """A regulariser with per-rank statistics: the two-process check must see it."""

    weight, apply_to = 1.0, "pooled"

    def __call__(self, z, *, step):
        return z.std(dim=0).mean()


# ---------------------------------------------------------------- kit catches breakage


class _RandomObjective(PredictiveObjective):
    def loss_parts(self, path, batch, nets, *, step):
        out = super().loss_parts(path, batch, nets, step=step)
        return {"loss": out["loss"] + torch.rand(())}


class _DetachedHeadObjective(LeJEPAObjective):
    def loss_parts(self, path, batch, nets, *, step):
        emb, proj = path(batch.inputs, batch.masks.keep)
        return {"loss": emb.square().mean() + 0 * proj.detach().sum()}


class _LocalStatsObjective(LeJEPAObjective):
    """Per-rank batch statistics: the two-process check must see it."""

    def loss_parts(self, path, batch, nets, *, step):
        _, proj = path(batch.inputs, batch.masks.keep)
        return {"loss": proj.std(dim=1).mean()}


def test_kit_catches_broken_objectives():
    with pytest.raises(AssertionError, match="global RNG"):
        check_objective(_RandomObjective())
    with pytest.raises(AssertionError, match=r"no finite gradient reaches trained parameters \['head"):
        check_objective(_DetachedHeadObjective(LeJEPAConfig(proj_hidden_dim=8), KitEncoder()))
    with pytest.raises(AssertionError, match="2 processes with a share of the batch"):
        check_objective(_LocalStatsObjective(LeJEPAConfig(proj_hidden_dim=8, norm="layer"), KitEncoder()), processes=2)


def test_split_batch_cuts_inputs_masks_and_labels():
    views = kit_batch("views", batch_size=6)
    halves = split_batch(views, 2)
    assert [len(h) for h in halves] == [3, 3]
    assert torch.equal(torch.cat([h.masks.keep[3] for h in halves]), views.masks.keep[3])
    sets = kit_batch("sets", batch_size=4)
    assert torch.equal(torch.cat([h.masks.targets for h in split_batch(sets, 2)]), sets.masks.targets)
    crops = Batch((torch.zeros(4, 2), torch.ones(4, 1)), None, torch.arange(4))
    assert [h.inputs[1].shape for h in split_batch(crops, 2)] == [torch.Size([2, 1])] * 2


# ------------------------------------------------------------------------ token views


def test_token_views_masker_draws_sorted_distinct_subsets():
    masker = TokenViewsMasker(TokenViewsConfig(global_views=2, local_views=3, global_keep=0.5, local_keep=0.25))
    views = masker(4, (4, 4), torch.Generator().manual_seed(0))
    assert isinstance(views, TokenViews) and views.num_global == 2 and views.num_views == 5
    assert [k.shape for k in views.keep] == [torch.Size([4, 8])] * 2 + [torch.Size([4, 4])] * 3
    for k in views.keep:
        assert torch.equal(k, k.sort(dim=1).values) and all(len(set(r.tolist())) == r.numel() for r in k)
    again = masker(4, (4, 4), torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(views.keep, again.keep, strict=True))
    assert not torch.equal(views.keep[0], views.keep[1])  # each view its own subset


def test_band_token_views_keep_whole_contiguous_first_axis_slices():
    masker = TokenViewsMasker(TokenViewsConfig(global_keep=0.5, local_keep=0.2, layout="band"))
    grid = (5, 2, 3)  # e.g. time x height x width; 6 tokens per time slice
    views = masker(64, grid, torch.Generator().manual_seed(0))
    assert [k.shape for k in views.keep] == [torch.Size([64, 12])] * 2 + [torch.Size([64, 6])] * 2
    starts = set()
    for k in views.keep:
        slices = k.div(6, rounding_mode="floor")  # the first-axis index of each kept token
        width = k.shape[1] // 6
        first = slices[:, :1]
        assert torch.equal(slices, first + torch.arange(width).repeat_interleave(6))  # whole, contiguous slices
        assert torch.equal(k % 6, torch.arange(6).repeat(width).expand_as(k))
        starts |= set(first.flatten().tolist())
    assert starts == set(range(5))  # every start drawn, the last band ending at the grid's end
    again = masker(64, grid, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(views.keep, again.keep, strict=True))


def test_block_token_views_keep_one_rectangle_over_the_last_two_axes():
    masker = TokenViewsMasker(TokenViewsConfig(global_keep=0.6, local_keep=0.25, layout="block"))
    views = masker(256, (4, 4), torch.Generator().manual_seed(0))
    assert [k.shape for k in views.keep] == [torch.Size([256, 9])] * 2 + [torch.Size([256, 4])] * 2
    for k, side in zip(views.keep, (3, 3, 2, 2), strict=True):
        rows, cols = k.div(4, rounding_mode="floor"), k % 4
        top, left = rows[:, :1], cols[:, :1]
        assert torch.equal(rows, top + torch.arange(side).repeat_interleave(side))  # side x side, row-major
        assert torch.equal(cols, left + torch.arange(side).repeat(side))
        assert set(top.flatten().tolist()) == set(left.flatten().tolist()) == set(range(4 - side + 1))
    video = masker(8, (3, 4, 4), torch.Generator().manual_seed(1)).keep[2]  # one 2 x 2 tube over 3 slices
    assert video.shape == (8, 12) and torch.equal(video[:, 4:8], video[:, :4] + 16)
    assert torch.equal(video[:, 8:], video[:, :4] + 32)
    run = masker(8, (10,), torch.Generator().manual_seed(2)).keep[0]  # a one-axis grid: a run of 6
    assert torch.equal(run, run[:, :1] + torch.arange(6))
    again = masker(256, (4, 4), torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(views.keep, again.keep, strict=True))


def test_token_views_need_two_views_and_fractions_in_range():
    with pytest.raises(ValueError, match="at least 2 views"):
        TokenViewsConfig(global_views=1, local_views=0)
    with pytest.raises(ValueError, match=r"local_keep must be in \(0, 1\]"):
        TokenViewsConfig(local_keep=0.0)
    with pytest.raises(ValueError, match="layout must be one of scattered, band, block, got 'tubes'"):
        TokenViewsConfig(layout="tubes")


# ------------------------------------------------------------------ pre-flight checks


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["target.name=none"],
            r"objective 'predictive' needs a target, but target.name is 'none'; set target.name to one of: ema",
        ),
        (["predictor.name=none"], r"objective 'predictive' needs a predictor"),
        (
            ["objective.name=lejepa", "predictor.name=none", "masker.name=token_views"],
            r"objective 'lejepa' does not use a target, but target.name is 'ema'; set target.name=none",
        ),
    ],
)
def test_objective_parts_are_checked(toy_registry, overrides, message):
    cfg = apply_overrides(toy_seq_plugin.toy_config(), overrides, toy_registry)
    with pytest.raises(ConfigError, match=message):
        check_objective_parts(cfg, toy_registry)


def _cli(tmp_path, *sets):
    from jepa_core.cli import main

    args = [
        "-p",
        "tests.toy_seq_plugin",
        "--no-autoload",
        "train",
        "--plugin",
        "toyseq",
        "--preset",
        "tiny",
        "--out",
        str(tmp_path / "run"),
        "--set",
        "train.max_steps=2",
        "--set",
        "data.num_samples=64",
    ]
    for s in sets:
        args += ["--set", s]
    return main(args)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["masker.name=none"], "objective 'predictive' needs context and target masks, but masker 'none' gives none"),
        ([*LEJEPA, "masker.name=none"], "objective 'lejepa' needs at least 2 views per sample"),
        (["target.name=none"], "objective 'predictive' needs a target"),
        (
            [*LEJEPA, "masker.layout=tubes"],
            "invalid value for 'masker.layout': layout must be one of scattered, band, block, got 'tubes'.",
        ),
        (
            [*LEJEPA, "train.batch_size=1"],
            "objective 'lejepa' estimates SIGReg over the samples of each view, but a micro-batch holds 1 sample "
            "over all processes (train.batch_size=1); use at least 2.",
        ),
        (
            ["regularizer.name=vicreg", "regularizer.weight=1", "train.batch_size=4", "train.micro_batch_size=1"],
            "regularizer 'vicreg' measures the spread of the pooled features over the samples, but a micro-batch "
            "holds 1 sample over all processes (train.batch_size=4, train.micro_batch_size=1)",
        ),
    ],
)
def test_cli_exits_2_before_any_work_on_objective_mismatches(tmp_path, capsys, sets, message):
    assert _cli(tmp_path, *sets) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()


# ----------------------------------------------------------------------- end to end


def test_lejepa_trains_saves_its_projector_resumes_exactly_and_is_evaluated(toy_registry, tmp_path):
    from jepa_core import checkpoint as ckpt
    from jepa_core.eval.setup import encoders_to_evaluate, load_setup
    from jepa_core.extract import load_encoder

    def run(out, steps, *extra, stream=None):
        return toy_seq_plugin.train_toy(toy_registry, out, steps, *extra, *LEJEPA, "train.loss_log=true", stream=stream)

    console = io.StringIO()
    run(tmp_path / "straight", 4, "probe.enabled=true", "probe.epochs=2", stream=console)
    run(tmp_path / "resumed", 2)
    run(tmp_path / "resumed", 4)  # continues from step 2
    a = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "straight" / "checkpoints"))
    b = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "resumed" / "checkpoints"))
    assert a["step"] == b["step"] == 4 and a["predictor"] == {} and a["target_encoder"] == {}
    assert any(k.endswith("running_mean") for k in a["objective"])  # the projector (batch norm) is saved
    for what in ("encoder", "objective"):
        for k in a[what]:
            assert torch.equal(a[what][k], b[what][k]), (what, k)
    report = json.loads((tmp_path / "straight" / "representation.json").read_text())
    assert {"encoder", "random_init"} <= set(report) and "target" not in report
    history = [json.loads(line) for line in (tmp_path / "straight" / "online_eval.jsonl").read_text().splitlines()]
    assert history[0]["step"] == 0 and history[-1]["step"] == 4
    enc = load_encoder(tmp_path / "straight", registry=toy_registry)  # "target" falls back to the encoder
    for k, v in enc.state_dict().items():
        assert torch.equal(v, a["encoder"][k])
    setup = load_setup(toy_registry, str(tmp_path / "straight"))
    evaluated = encoders_to_evaluate(setup, "target", compare_random_init=True)
    assert list(evaluated) == ["encoder", "random init"]  # results never speak of a target encoder
    assert "linear probe (trained encoder): top-1" in console.getvalue()


def test_predictive_objective_is_the_default_and_unchanged(toy_registry):
    from jepa_core.data import build_loader
    from jepa_core.run import build_dataset, build_parts
    from jepa_core.schedules import Schedules
    from jepa_core.trainer import Trainer

    cfg = toy_seq_plugin.toy_config()
    assert cfg.objective.name == "predictive"

    def losses(objective):
        parts = build_parts(cfg, toy_registry)
        trainer = Trainer(
            parts.encoder,
            parts.predictor,
            parts.target,
            parts.loss,
            optim=cfg.optim,
            schedules=Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=8),
            objective=objective,
        )
        loader = build_loader(
            build_dataset(cfg, toy_registry, "train"),
            parts.masker,
            grid=parts.encoder.token_grid,
            micro_batch=8,
            seed=0,
        )
        return [trainer.train_step(b).loss for b in itertools.islice(loader, 3)]

    assert all(torch.equal(x, y) for x, y in zip(losses(None), losses(PredictiveObjective()), strict=True))


def test_kit_networks_are_a_working_predictive_pair():
    enc, pred = KitEncoder(), KitPredictor()
    batch = kit_batch("sets", batch_size=2)
    assert isinstance(batch.masks, MaskSet)
    out = pred(enc(batch.inputs, batch.masks.context), batch.masks.context, batch.masks.targets)
    assert out.shape == (2 * batch.masks.num_targets, batch.masks.targets.shape[2], 16)


def test_one_sample_trains_where_nothing_is_measured_over_the_batch(tmp_path):
    """I-JEPA's prediction, and a regulariser on each sample's tokens, need no second sample."""
    assert _cli(tmp_path / "a", "train.batch_size=1") == 0
    sets = ("regularizer.name=vicreg", "regularizer.weight=1", "regularizer.apply_to=tokens", "train.batch_size=1")
    assert _cli(tmp_path / "b", *sets) == 0
