"""Online evaluation during training: k-NN and linear probe of the frozen encoder, every few steps.

Whether a JEPA learns shows in these curves, not in its loss. :class:`OnlineEvaluator` is a
training callback (:class:`~jepa_core.callback_base.Callback`) that, at the steps ``train.eval_every``
asks for (see :class:`~jepa_core.config.TrainConfig`), mean-pools the evaluation encoder's
output (the EMA target encoder when there is one, as the paper probes) on a fixed, seeded
labelled subset and reports

* ``eval/knn_top1``: weighted k-NN (:func:`~jepa_core.eval.knn.knn_classify`, cosine, ``k`` 20,
  temperature 0.07) of the ``eval.val_samples`` against the ``eval.train_samples``;
* ``eval/linear_top1``: multinomial logistic regression on standardised features, fitted by
  full-batch L-BFGS to convergence (at most ``eval.linear_steps`` iterations, L2
  ``eval.linear_l2``), deterministic;
* ``eval/effective_rank`` and ``eval/feature_spread`` of the val features
  (:mod:`jepa_core.monitors`), the collapse statistics on the same samples;
* ``eval/lidar``: :func:`~jepa_core.monitors.lidar` of the first :data:`LIDAR_SAMPLES` val
  samples, each encoded :data:`LIDAR_VIEWS` times keeping a random :data:`LIDAR_KEEP` of its
  tokens (:func:`token_views`, the same token sets at every evaluation; views of tokens need no
  augmentation of any modality). Encoders without a ``token_grid`` skip it.
* ``eval/latents`` (an image; ``eval.latents``): the val features on their two principal axes,
  coloured by class (:mod:`jepa_core.latents`), also written to ``latents/step_XXXXXXXX.png``.

The first evaluation runs before the first step, on the network at its random init, so every
curve starts at the baseline it must beat. Each evaluation appends one JSON line to
``online_eval.jsonl`` in the run directory and prints one console line::

    evaluator = OnlineEvaluator(train_set, val_set, EvalConfig(), every=0, seed=0, log=print)
    evaluator.evaluate(encoder, step=0)                   # doctest: +SKIP
    {'step': 0, 'knn_top1': 41.2, 'linear_top1': 55.0, ...}

The evaluation forks the global RNG and restores every module's train/eval flag, so training
(and exact resume) is unchanged by it. Under several processes rank 0 evaluates while the others
wait (the caller only builds the evaluator on rank 0).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from jepa_core.callback_base import Callback
from jepa_core.config import EvalConfig
from jepa_core.data import dataset_len
from jepa_core.errors import BadSampleError, ConfigError, DataError
from jepa_core.eval.knn import knn_classify
from jepa_core.eval.probe import LBFGS_MAX_ITER, lbfgs_probe
from jepa_core.latents import latent_picture, picture_path, write_png
from jepa_core.monitors import effective_rank, evaluating, feature_spread, lidar

HISTORY_FILE = "online_eval.jsonl"
CACHE_LIMIT_BYTES = 512 * 2**20  # subsets smaller than this are decoded once and kept in memory
DEFAULT_TRAIN_SAMPLES, DEFAULT_VAL_SAMPLES = 5000, 2000
LIDAR_SAMPLES = 256  # samples whose token views LiDAR reads
LIDAR_VIEWS = 8  # views per sample
LIDAR_KEEP = 0.5  # share of the tokens each view keeps


@attrs.frozen
class EvalSubsets:
    """The fixed labelled samples one run evaluates on (datasets of ``(input, label)``)."""

    train: Dataset
    val: Dataset
    val_source: str  # "val" or "train_eval" (no val split: disjoint samples of train_eval)


def has_labels(dataset: Dataset, tries: int = 64) -> bool:
    """Whether ``dataset`` gives class labels (its first readable sample's label is >= 0)."""
    for i in range(min(tries, dataset_len(dataset))):
        try:
            return int(dataset[i][1]) >= 0
        except BadSampleError:
            continue
    return False


def choose_subsets(
    train_eval: Dataset,
    val: Dataset | None,
    cfg: EvalConfig,
    seed: int,
    *,
    strict: bool = True,
) -> EvalSubsets:
    """Seeded subsets of ``eval.train_samples`` and ``eval.val_samples`` samples.

    ``None`` sizes take up to 5,000 / 2,000 samples. A size larger than the data is a
    :class:`ConfigError` when ``strict`` (the user asked for it), else capped to the data.
    Without a ``val`` split, the val subset is drawn from ``train_eval``, disjoint from the
    train subset.

    >>> subsets = choose_subsets(train_eval, None, EvalConfig(train_samples=100), seed=0)   # doctest: +SKIP
    """
    g = torch.Generator().manual_seed(seed)
    n_train = dataset_len(train_eval)
    val_pool = dataset_len(val) if val is not None else 0
    val_split = val if val_pool > 0 else None
    use_val = val_split is not None
    want_train = cfg.train_samples if cfg.train_samples is not None else DEFAULT_TRAIN_SAMPLES
    want_val = cfg.val_samples if cfg.val_samples is not None else DEFAULT_VAL_SAMPLES
    if not strict:
        cfg = EvalConfig(train_samples=None, val_samples=None)  # the sizes below are caps
    if not use_val:  # share train_eval between the two subsets
        if cfg.train_samples is None and cfg.val_samples is None:
            want_val = min(want_val, n_train // 4)
            want_train = min(want_train, n_train - want_val)
        elif cfg.train_samples is None:
            want_train = min(want_train, n_train - want_val)
        elif cfg.val_samples is None:
            want_val = min(want_val, n_train - want_train)
        _check_size(
            "eval.train_samples + eval.val_samples",
            want_train + want_val,
            n_train,
            "the train_eval split (the dataset has no val split)",
        )
    else:
        if cfg.train_samples is None:
            want_train = min(want_train, n_train)
        if cfg.val_samples is None:
            want_val = min(want_val, val_pool)
        _check_size("eval.train_samples", want_train, n_train, "the train_eval split")
        _check_size("eval.val_samples", want_val, val_pool, "the val split")
    if want_train < 1 or want_val < 1:
        raise DataError(f"online evaluation needs at least 2 labelled samples, the train_eval split has {n_train}.")
    perm = torch.randperm(n_train, generator=g)
    train = Subset(train_eval, perm[:want_train].tolist())
    if val_split is not None:
        val_idx = torch.randperm(val_pool, generator=g)[:want_val]
        return EvalSubsets(train, Subset(val_split, val_idx.tolist()), "val")
    return EvalSubsets(train, Subset(train_eval, perm[want_train : want_train + want_val].tolist()), "train_eval")


def _check_size(what: str, wanted: int, available: int, where: str) -> None:
    if wanted > available:
        raise ConfigError(f"{what}={wanted} is larger than {where} ({available} samples); use at most {available}.")


class SampleBatches:
    """A subset's inputs and labels in batches: decoded once into memory when they take at most
    :data:`CACHE_LIMIT_BYTES`, else re-read each time. Unreadable samples are left out."""

    def __init__(self, dataset: Dataset, batch_size: int) -> None:
        self.dataset, self.batch_size = dataset, batch_size
        self.cached: tuple[torch.Tensor, torch.Tensor] | None = None
        readable = self._readable()
        first = next(readable, None)
        if first is None:
            raise DataError("none of the evaluation samples could be read.")
        x0 = torch.as_tensor(first[0])
        if x0.numel() * x0.element_size() * dataset_len(dataset) <= CACHE_LIMIT_BYTES:
            xs, ys = zip(first, *readable, strict=True)
            self.cached = torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys).long()

    def _readable(self) -> Iterator[tuple[Any, int]]:
        for i in range(dataset_len(self.dataset)):
            try:
                yield self.dataset[i]
            except BadSampleError:
                continue

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.cached is not None:
            x, y = self.cached
            for i in range(0, len(x), self.batch_size):
                yield x[i : i + self.batch_size], y[i : i + self.batch_size]
            return
        chunk: list[tuple[Any, int]] = []
        for sample in self._readable():
            chunk.append(sample)
            if len(chunk) == self.batch_size:
                yield _stack(chunk)
                chunk = []
        if chunk:
            yield _stack(chunk)


def _stack(samples: list[tuple[Any, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*samples, strict=True)
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(ys).long()


def token_views(num_samples: int, num_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """:data:`LIDAR_VIEWS` random sets of ``ceil(LIDAR_KEEP * num_tokens)`` token indices per
    sample, sorted: ``[LIDAR_VIEWS, num_samples, Nk]``.

    >>> token_views(3, 16, torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 8])
    """
    kept = max(1, math.ceil(LIDAR_KEEP * num_tokens))
    order = torch.rand(LIDAR_VIEWS, num_samples, num_tokens, generator=generator).argsort(dim=-1)
    return order[..., :kept].sort(dim=-1).values


@torch.no_grad()
def view_features(encoder: nn.Module, samples: SampleBatches, keep: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Each sample encoded once per token set of ``keep [V, n, Nk]``, kept tokens mean-pooled:
    ``[n, V, D]`` float32 on the CPU."""
    rows, start = [], 0
    for x, _ in samples.batches():
        x = x.to(device)
        sets = keep[:, start : start + len(x)].to(device)  # [V, b, Nk]
        rows.append(torch.stack([encoder(x, keep=s).float().mean(dim=1).cpu() for s in sets], dim=1))  # [b, V, D]
        start += len(x)
    return torch.cat(rows)


@torch.no_grad()
def pooled(encoder: nn.Module, samples: SampleBatches, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-pooled features ``[N, D]`` (float32, CPU) and labels ``[N]``."""
    feats, labels = [], []
    for x, y in samples.batches():
        feats.append(encoder(x.to(device)).float().mean(dim=1).cpu())  # [b, D]
        labels.append(torch.as_tensor(y).long())
    return torch.cat(feats), torch.cat(labels)


def lbfgs_linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    steps: int = LBFGS_MAX_ITER,
    l2: float = 1e-4,
) -> float:
    """Val top-1 (%) of :func:`jepa_core.eval.probe.lbfgs_probe` at a fixed ``l2`` (NaN when the
    line search overflows on extreme features); deterministic.

    >>> x = torch.cat([torch.randn(50, 4) + 3, torch.randn(50, 4) - 3]); y = torch.arange(100) // 50
    >>> lbfgs_linear_probe(x, y, x, y)
    100.0
    """
    return lbfgs_probe(train_x, train_y, val_x, val_y, l2=l2, steps=steps).top1


@attrs.frozen
class EvalRecord:
    """One online evaluation (accuracies in %)."""

    step: int
    knn_top1: float
    linear_top1: float
    effective_rank: float
    feature_spread: float
    num_train: int
    num_val: int
    seconds: float
    lidar: float | None = None  # None: the encoder names no token grid, or too few samples


class OnlineEvaluator(Callback):
    """The callback; see the module docstring. ``every=0`` evaluates at each epoch end only."""

    def __init__(
        self,
        subsets: EvalSubsets,
        cfg: EvalConfig,
        *,
        every: int,
        device: torch.device | str = "cpu",
        encoder_of: Callable[[Any], nn.Module] | None = None,
        log: Callable[[str], None] = lambda msg: None,
        writer: Any = None,
        out_dir: str | Path | None = None,
        progress: Any = None,
    ) -> None:
        self.cfg, self.every, self.device = cfg, every, torch.device(device)
        self.encoder_of = encoder_of or eval_encoder
        self.log, self.writer, self.progress = log, writer, progress
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.history_path = self.out_dir / HISTORY_FILE if self.out_dir is not None else None
        with torch.random.fork_rng(devices=[]):
            self.train = SampleBatches(subsets.train, cfg.batch_size)
            self.val = SampleBatches(subsets.val, cfg.batch_size)
            count = min(LIDAR_SAMPLES, dataset_len(subsets.val))
            self.view_samples = SampleBatches(Subset(subsets.val, range(count)), cfg.batch_size)
        self.view_keep: torch.Tensor | None = None  # drawn at the first evaluation, from the token grid
        self.val_source = subsets.val_source
        self.records: list[EvalRecord] = self._read_history()
        self.last_step = -1

    def _read_history(self) -> list[EvalRecord]:
        if self.history_path is None or not self.history_path.is_file():
            return []
        records = []
        for line in self.history_path.read_text().splitlines():
            try:
                records.append(EvalRecord(**json.loads(line)))
            except (ValueError, TypeError):
                continue  # a torn line from a killed run
        return records

    def evaluate(self, encoder: nn.Module, step: int) -> EvalRecord:
        """Evaluate ``encoder`` now, log and record it as ``step``."""
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []), evaluating(encoder):
            tx, ty = pooled(encoder, self.train, self.device)
            vx, vy = pooled(encoder, self.val, self.device)
            views = self._views(encoder)  # [n, V, D] or None
        if bool(torch.isfinite(tx).all() and torch.isfinite(vx).all()):
            knn = knn_classify(tx, ty, vx, vy, k=self.cfg.knn_k, temperature=self.cfg.knn_temperature).top1
            linear = lbfgs_linear_probe(tx, ty, vx, vy, steps=self.cfg.linear_steps, l2=self.cfg.linear_l2)
            if self.cfg.latents:
                self._draw(vx, vy, step)
        else:  # diverged features: recorded as NaN (the non-finite checks of training report the cause)
            knn = linear = float("nan")
        record = EvalRecord(
            step,
            round(knn, 2),
            round(linear, 2),
            round(float(effective_rank(vx)), 3),
            round(float(feature_spread(vx)), 4),
            len(tx),
            len(vx),
            round(time.perf_counter() - start, 2),
            round(float(lidar(views)), 3) if views is not None else None,
        )
        self._report(record)
        if self.progress is not None:
            self.progress.exclude_time(time.perf_counter() - start)
        return record

    def _draw(self, features: torch.Tensor, labels: torch.Tensor, step: int) -> None:
        """The latent picture of the val features: logged, and written in the run directory."""
        picture = latent_picture(features, labels)
        if self.writer is not None:
            self.writer.add_image("eval/latents", picture, step)
        if self.out_dir is not None:
            write_png(picture, picture_path(self.out_dir, step))

    def _views(self, encoder: nn.Module) -> torch.Tensor | None:
        """LiDAR's token views of the first val samples (the same token sets at every evaluation)."""
        grid = getattr(encoder, "token_grid", None)
        if grid is None:
            return None
        if self.view_keep is None:
            count = sum(len(x) for x, _ in self.view_samples.batches())
            self.view_keep = token_views(count, math.prod(grid), torch.Generator().manual_seed(0))
        if self.view_keep.shape[1] < 2:
            return None
        return view_features(encoder, self.view_samples, self.view_keep, self.device)

    def _report(self, r: EvalRecord) -> None:
        self.records = [x for x in self.records if x.step < r.step] + [r]
        self.last_step = r.step
        init = self.records[0] if self.records[0].step == 0 and r.step > 0 else None
        gain = (
            f" (random init {init.knn_top1:.1f}% / {init.linear_top1:.1f}%)"
            if init
            else (" (random init)" if r.step == 0 else "")
        )
        self.log(
            f"eval step {r.step}: k-NN top-1 {r.knn_top1:.1f}% | linear top-1 {r.linear_top1:.1f}%{gain} | "
            f"effective rank {r.effective_rank:.1f}{'' if r.lidar is None else f' | LiDAR {r.lidar:.1f}'} | "
            f"{r.num_train}+{r.num_val} samples, {r.seconds:.1f} s"
        )
        if self.writer is not None:
            for name in ("knn_top1", "linear_top1", "effective_rank", "feature_spread", "lidar"):
                if getattr(r, name) is not None:
                    self.writer.add_scalar(f"eval/{name}", getattr(r, name), r.step)
        if self.history_path is not None:
            self.history_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.history_path, "a") as f:
                f.write(json.dumps(attrs.asdict(r)) + "\n")

    # ---------------------------------------------------------------- callback
    def on_fit_start(self, trainer: Any) -> None:
        if trainer.step == 0 and not any(r.step == 0 for r in self.records):
            self.evaluate(self.encoder_of(trainer), 0)

    def on_step_end(self, trainer: Any, out: Any) -> None:
        if self.every and trainer.step % self.every == 0:
            self.evaluate(self.encoder_of(trainer), trainer.step)

    def on_epoch_end(self, trainer: Any, epoch: int) -> None:
        if not self.every and trainer.step != self.last_step:
            self.evaluate(self.encoder_of(trainer), trainer.step)

    def on_fit_end(self, trainer: Any) -> None:
        if not trainer.stop_requested and trainer.step != self.last_step:
            self.evaluate(self.encoder_of(trainer), trainer.step)


def eval_encoder(trainer: Any, reads_target: bool = True) -> nn.Module:
    """The network a probe reads: the target provider's encoder when it has one and
    ``reads_target`` (:func:`jepa_core.extract.probes_read_target`: an EMA teacher, not a frozen
    one), else the encoder."""
    target_encoder = getattr(getattr(trainer, "target", None), "encoder", None)
    return target_encoder if reads_target and isinstance(target_encoder, nn.Module) else trainer.encoder
