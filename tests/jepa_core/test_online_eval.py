"""jepa_core.online_eval and jepa_core.representation: online k-NN / linear probe, collapse report."""

from __future__ import annotations

import json

import attrs
import pytest
import torch
from torch.utils.data import TensorDataset

from jepa_core.config import EvalConfig, apply_overrides
from jepa_core.errors import ConfigError
from jepa_core.online_eval import (
    HISTORY_FILE,
    OnlineEvaluator,
    SampleBatches,
    choose_subsets,
    has_labels,
    lbfgs_linear_probe,
)
from jepa_core.representation import FILE_NAME as REPRESENTATION_FILE
from tests import toy_seq_plugin
from tests.jepa_core.test_monitors import FakeWriter


def _labelled(n: int, d: int = 4, classes: int = 3, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, d, generator=g) + 10 * torch.nn.functional.one_hot(y, d).float()
    return TensorDataset(x, y)


# ------------------------------------------------------------------------- probes


def test_lbfgs_probe_separates_separable_classes_and_fails_on_noise():
    data = _labelled(300)
    x, y = data.tensors
    assert lbfgs_linear_probe(x[:200], y[:200], x[200:], y[200:]) == 100.0
    noise = torch.randn(300, 4, generator=torch.Generator().manual_seed(1))
    assert lbfgs_linear_probe(noise[:200], y[:200], noise[200:], y[200:]) < 60.0  # 3 classes: chance 33%
    # deterministic: zero init, full batch
    assert lbfgs_linear_probe(noise[:200], y[:200], noise[200:], y[200:]) == lbfgs_linear_probe(
        noise[:200], y[:200], noise[200:], y[200:]
    )


# ------------------------------------------------------------------------ subsets


def test_subsets_are_seeded_sized_and_use_the_val_split():
    train, val = _labelled(100), _labelled(50, seed=1)
    a = choose_subsets(train, val, EvalConfig(train_samples=40, val_samples=20), seed=3)
    b = choose_subsets(train, val, EvalConfig(train_samples=40, val_samples=20), seed=3)
    assert (len(a.train), len(a.val), a.val_source) == (40, 20, "val")
    assert a.train.indices == b.train.indices and a.val.indices == b.val.indices
    assert a.train.indices != choose_subsets(train, val, EvalConfig(train_samples=40), seed=4).train.indices
    default = choose_subsets(train, val, EvalConfig(), seed=0)  # defaults take what there is
    assert (len(default.train), len(default.val)) == (100, 50)


def test_without_a_val_split_the_two_subsets_are_disjoint_samples_of_train_eval():
    train = _labelled(100)
    s = choose_subsets(train, None, EvalConfig(), seed=0)
    assert s.val_source == "train_eval" and s.val.dataset is train
    assert (len(s.train), len(s.val)) == (75, 25)
    assert not set(s.train.indices) & set(s.val.indices)
    s = choose_subsets(train, None, EvalConfig(train_samples=90), seed=0)
    assert (len(s.train), len(s.val)) == (90, 10)


@pytest.mark.parametrize(
    ("cfg", "has_val", "message"),
    [
        (
            EvalConfig(train_samples=101),
            True,
            r"eval.train_samples=101 is larger than the train_eval split \(100 samples\)",
        ),
        (EvalConfig(val_samples=51), True, r"eval.val_samples=51 is larger than the val split \(50 samples\)"),
        (EvalConfig(train_samples=60, val_samples=50), False, r"eval.train_samples \+ eval.val_samples=110 is larger"),
    ],
)
def test_an_explicit_subset_larger_than_the_data_is_a_config_error(cfg, has_val, message):
    with pytest.raises(ConfigError, match=message):
        choose_subsets(_labelled(100), _labelled(50) if has_val else None, cfg, seed=0)


def test_has_labels():
    assert has_labels(_labelled(4))
    assert not has_labels(TensorDataset(torch.zeros(4, 2), torch.full((4,), -1)))


# ---------------------------------------------------------------------- evaluator


class _MeanEncoder(torch.nn.Module):
    """Tokens = the input vector split in two: mean-pooled features are a linear map of it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(2, 3)

    def forward(self, x, keep=None):
        return self.proj(x.view(x.shape[0], 2, 2))  # [B, 2, 3]


def test_evaluator_logs_records_and_restores_the_encoder(tmp_path):
    data = _labelled(120)
    subsets = choose_subsets(data, None, EvalConfig(train_samples=80, val_samples=40), seed=0)
    writer, lines = FakeWriter(), []
    evaluator = OnlineEvaluator(subsets, EvalConfig(), every=0, log=lines.append, writer=writer, out_dir=tmp_path)
    enc = _MeanEncoder()
    state = torch.get_rng_state()
    first = evaluator.evaluate(enc, step=0)
    second = evaluator.evaluate(enc, step=10)
    assert torch.equal(state, torch.get_rng_state()) and enc.training
    assert (first.num_train, first.num_val) == (80, 40) and first.knn_top1 == second.knn_top1
    assert {t for t, _, _ in writer.scalars} == {
        "eval/knn_top1",
        "eval/linear_top1",
        "eval/effective_rank",
        "eval/feature_spread",
    }  # no eval/lidar: this encoder names no token grid
    assert first.lidar is None and "LiDAR" not in lines[0]
    assert sorted({s for _, s, _ in writer.scalars}) == [0, 10]
    assert lines[0].startswith("eval step 0: k-NN top-1") and "(random init)" in lines[0]
    assert f"(random init {first.knn_top1:.1f}% / {first.linear_top1:.1f}%)" in lines[1]
    history = [json.loads(line) for line in (tmp_path / HISTORY_FILE).read_text().splitlines()]
    assert [h["step"] for h in history] == [0, 10] and history[0]["knn_top1"] == first.knn_top1
    again = OnlineEvaluator(subsets, EvalConfig(), every=0, out_dir=tmp_path)  # a resumed run reads the history
    assert [r.step for r in again.records] == [0, 10]


class _TokenEncoder(torch.nn.Module):
    """Tokens of ``x [B, 8]`` are its 8 numbers times a learned row: ``[B, 8, 4]``; honours ``keep``."""

    token_grid = (8,)

    def __init__(self) -> None:
        super().__init__()
        self.row = torch.nn.Parameter(torch.randn(4))

    def forward(self, x, keep=None):
        tokens = x[..., None] * self.row  # [B, 8, 4]
        return tokens if keep is None else torch.gather(tokens, 1, keep[..., None].expand(-1, -1, 4))


def test_lidar_views_are_seeded_token_sets_encoded_as_given():
    from jepa_core.online_eval import LIDAR_VIEWS, token_views, view_features

    keep = token_views(20, 8, torch.Generator().manual_seed(3))
    assert keep.shape == (LIDAR_VIEWS, 20, 4)
    assert torch.equal(keep, token_views(20, 8, torch.Generator().manual_seed(3)))
    assert (keep.diff(dim=-1) > 0).all()  # sorted, no token twice
    assert len({tuple(k) for k in keep[:, 0].tolist()}) > 1  # the views of a sample differ
    data = _labelled(20, d=8)
    samples = SampleBatches(data, batch_size=7)  # the token sets follow the samples across batches
    enc = _TokenEncoder()
    got = view_features(enc, samples, keep, torch.device("cpu"))
    x = data.tensors[0]
    want = torch.stack([enc(x, keep=k).mean(dim=1) for k in keep], dim=1)  # [20, V, 4]
    assert got.shape == (20, LIDAR_VIEWS, 4) and torch.allclose(got, want)


def test_evaluator_reads_lidar_of_the_same_token_views_each_time(tmp_path):
    data = _labelled(300, d=8)
    subsets = choose_subsets(data, None, EvalConfig(train_samples=100, val_samples=200), seed=0)
    writer, lines = FakeWriter(), []
    evaluator = OnlineEvaluator(subsets, EvalConfig(), every=0, log=lines.append, writer=writer, out_dir=tmp_path)
    enc = _TokenEncoder()
    first = evaluator.evaluate(enc, step=0)
    keep = evaluator.view_keep.clone()
    assert keep.shape[1] == 200  # all val samples up to LIDAR_SAMPLES
    again = evaluator.evaluate(enc, step=5)
    assert torch.equal(keep, evaluator.view_keep) and again.lidar == first.lidar  # same views, same encoder
    with torch.no_grad():
        enc.row.mul_(-3.0)  # rescaled features: LiDAR is scale-free
    assert evaluator.evaluate(enc, step=6).lidar == pytest.approx(first.lidar, rel=1e-3)
    assert 0 < first.lidar <= 4 and f"| LiDAR {first.lidar:.1f} |" in lines[0]
    assert [s for t, s, _ in writer.scalars if t == "eval/lidar"] == [0, 5, 6]
    history = [json.loads(line) for line in (tmp_path / HISTORY_FILE).read_text().splitlines()]
    assert history[0]["lidar"] == first.lidar


# ---------------------------------------------------------------------- in a run


def _run(registry, out, *extra):
    from jepa_core.run import train_run

    cfg = apply_overrides(
        toy_seq_plugin.toy_config(),
        [
            "data.num_samples=64",
            "train.batch_size=16",
            "train.epochs=2",
            "train.log_every=2",
            "train.monitor_every=0",
            "train.mask_image_every=0",
            f"train.out_dir={out}",
            *extra,
        ],
        registry,
    )
    lines: list[str] = []
    stream = type("S", (), {"write": lambda self, s: lines.append(s), "flush": lambda self: None})()
    return train_run(cfg, registry, stream=stream), "".join(lines)


def test_default_evaluates_at_start_each_epoch_end_and_writes_the_collapse_report(toy_registry, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result, console = _run(toy_registry, tmp_path / "run")
    history = [json.loads(line) for line in (result.out_dir / HISTORY_FILE).read_text().splitlines()]
    assert [h["step"] for h in history] == [0, 4, 8]  # random init, end of epochs 1 and 2
    assert history[0]["num_train"] == 64 and history[0]["num_val"] == 64  # toy data has a val split
    assert console.count("eval step") == 3
    acc = EventAccumulator(str(result.out_dir / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("eval/knn_top1")] == [0, 4, 8]
    assert [e.step for e in acc.Scalars("eval/lidar")] == [0, 4, 8] and history[0]["lidar"] > 0
    assert [e.step for e in acc.Images("eval/latents")] == [0, 4, 8]
    assert sorted(p.name for p in (result.out_dir / "latents").iterdir()) == [
        "step_00000000.png",
        "step_00000004.png",
        "step_00000008.png",
    ]
    report = json.loads((result.out_dir / REPRESENTATION_FILE).read_text())
    assert set(report) == {"num_samples", "embed_dim", "lidar_views", "target", "context", "random_init", "step"}
    assert report["step"] == 8 and report["embed_dim"] == 32 and report["num_samples"] == 64
    assert report["lidar_views"] == [64, 8, 0.5]
    assert 0 < report["target"]["effective_rank"] <= 32
    assert 0 < report["target"]["lidar"] <= 32 and report["target"]["lidar"] != report["random_init"]["lidar"]
    assert "representation (64 samples, 32 dims, mean-pooled): target effective rank" in console
    assert ", LiDAR " in console


def test_eval_every_n_steps(toy_registry, tmp_path):
    result, _ = _run(
        toy_registry, tmp_path / "run", "train.eval_every=3", "eval.train_samples=32", "eval.val_samples=16"
    )
    history = [json.loads(line) for line in (result.out_dir / HISTORY_FILE).read_text().splitlines()]
    assert [h["step"] for h in history] == [0, 3, 6, 8]
    assert (history[0]["num_train"], history[0]["num_val"]) == (32, 16)


def test_online_evaluation_leaves_training_bit_identical(toy_registry, tmp_path):
    from jepa_core.progress import read_loss_log

    on, _ = _run(toy_registry, tmp_path / "on", "train.eval_every=1", "train.loss_log=true")
    off, _ = _run(toy_registry, tmp_path / "off", "train.eval_every=0", "train.loss_log=true")
    assert not (off.out_dir / HISTORY_FILE).exists()
    assert read_loss_log(on.out_dir / "losses.tsv") == read_loss_log(off.out_dir / "losses.tsv")


class _Unlabelled(torch.utils.data.Dataset):
    def __init__(self, inner):
        self.inner = inner

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, i):
        return self.inner[i][0], -1


class _OneClass(_Unlabelled):
    num_classes = 1

    def __getitem__(self, i):
        return self.inner[i][0], 0


@pytest.mark.parametrize(
    ("wrapper", "off", "refused"),
    [
        (_Unlabelled, "has no labels", "needs class labels"),
        # one class: every prediction is right, an evaluation would print a meaningless 100%
        (_OneClass, "has 1 class", "needs at least 2 classes, but dataset 'sine_waves' has 1"),
    ],
    ids=["unlabelled", "one-class"],
)
def test_data_without_two_classes_turns_evaluation_off_or_fails_when_asked_for(
    toy_registry, tmp_path, monkeypatch, wrapper, off, refused
):
    from jepa_core import build, run

    real = run.build_dataset

    def wrapped(cfg, reg, split):
        return wrapper(real(cfg, reg, split))

    monkeypatch.setattr(run, "build_dataset", wrapped)
    monkeypatch.setattr(build, "build_dataset", wrapped)
    result, console = _run(toy_registry, tmp_path / "auto")
    assert f"online evaluation is off: dataset 'sine_waves' {off}" in console
    assert not (result.out_dir / HISTORY_FILE).exists() and (result.out_dir / REPRESENTATION_FILE).exists()
    with pytest.raises(ConfigError, match=rf"train.eval_every=5 {refused}"):
        _run(toy_registry, tmp_path / "asked", "train.eval_every=5")
    assert not (tmp_path / "asked").exists()  # refused before any work


def test_a_run_builds_each_evaluation_split_once(toy_registry, tmp_path, monkeypatch):
    """The online evaluation, the collapse report and the end-of-run probe read the same datasets."""
    from jepa_core import build, run

    real, built = run.build_dataset, []

    def counted(cfg, reg, split):
        built.append(split)
        return real(cfg, reg, split)

    monkeypatch.setattr(run, "build_dataset", counted)
    monkeypatch.setattr(build, "build_dataset", counted)
    result, console = _run(toy_registry, tmp_path / "run", "probe.enabled=true", "probe.epochs=2")
    assert "linear probe (trained" in console and (result.out_dir / REPRESENTATION_FILE).exists()
    assert sorted(built) == ["train", "train_eval", "val"]


def test_split_cache_keeps_datasets_but_not_errors(toy_registry):
    from jepa_core.build import SplitCache
    from jepa_core.errors import DataError

    cfg = toy_seq_plugin.toy_config()
    splits = SplitCache(cfg, toy_registry)
    assert splits("val") is splits("val") and splits("train_eval") is not splits("val")
    calls = []

    class Flaky:
        def build(self, options, split):
            calls.append(split)
            if len(calls) == 1:
                raise DataError("not yet")
            return [split]

    class Registry:
        def get(self, kind, name):
            return Flaky()

    flaky = SplitCache(cfg, Registry())
    with pytest.raises(DataError, match="not yet"):
        flaky("val")
    assert flaky("val") == ["val"] and flaky("val") is flaky("val") and calls == ["val", "val"]


def test_a_presets_sizes_are_capped_to_small_data_but_chosen_ones_must_fit(tmp_path, toy_registry):
    subsets = choose_subsets(
        _labelled(100), _labelled(50), EvalConfig(train_samples=1000, val_samples=500), seed=0, strict=False
    )
    assert (len(subsets.train), len(subsets.val)) == (100, 50)
    from jepa_core.run import eval_sizes_chosen

    cfg = toy_seq_plugin.toy_config()
    assert not eval_sizes_chosen(cfg, toy_registry)
    assert eval_sizes_chosen(apply_overrides(cfg, ["eval.val_samples=10"], toy_registry), toy_registry)


def test_cli_exits_2_for_a_subset_larger_than_the_data(tmp_path, capsys):
    from jepa_core.cli import main

    rc = main(
        [
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
            "eval.train_samples=100000",
        ]
    )
    assert rc == 2
    assert "eval.train_samples=100000 is larger than the train_eval split (256 samples)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_eval_config_rejects_non_positive_sizes(toy_registry):
    with pytest.raises(ConfigError, match="eval.train_samples"):
        apply_overrides(toy_seq_plugin.toy_config(), ["eval.train_samples=0"], toy_registry)
    with pytest.raises(ConfigError, match="train.eval_every"):
        apply_overrides(toy_seq_plugin.toy_config(), ["train.eval_every=-1"], toy_registry)
    assert attrs.evolve(EvalConfig(), knn_k=5).knn_k == 5
