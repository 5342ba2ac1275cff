"""A training run from a :class:`RunConfig`, end to end in its run directory, resumable.

>>> result = train_run(cfg, build_registry())      # doctest: +SKIP
>>> result.steps, result.preempted                 # doctest: +SKIP
(320, False)

Run directory layout (``train.out_dir``)::

    config.yaml          the resolved config; `jepa train --config config.yaml` re-runs it (an older
                         run's config.json is still read)
    tensorboard/         TensorBoard event files (train/*, monitor/* collapse scalars, mask pictures)
    metrics.csv          the same scalars, a row per log step, with train.loggers=...,csv (jepa_core.loggers)
    checkpoints/         step_XXXXXXXX.pt (atomic; the newest K plus multiples of keep_every are kept)
    losses.tsv           per-step losses when train.loss_log (see jepa_core.progress.LossLog)
    probe.json           end-of-run probe results (probe.kind: linear or attentive) when probe.enabled
    run.lock             while a run uses the directory: its host and pid (jepa_core.rundir)

A run directory that already holds a checkpoint is resumed from its newest one (unless
``resume=False``), with the same config except for what :data:`jepa_core.rundir.RESUMABLE_CHANGES`
allows (``allow_config_change=True`` lifts that); a directory another run is using is refused.
SIGTERM/SIGUSR1 finish the current step, write a checkpoint and return ``preempted=True`` (the
CLI exits with ``EXIT_PREEMPTED`` = 75); re-running resumes.

The parts are built by :mod:`jepa_core.build` and checked by :mod:`jepa_core.preflight` before
any training; the callbacks are :mod:`jepa_core.callbacks`, :mod:`jepa_core.progress`,
:mod:`jepa_core.nonfinite` and :mod:`jepa_core.bad_samples`'s. Their names stay importable from here.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import attrs
import torch

from jepa_core import checkpoint as ckpt
from jepa_core import rundir
from jepa_core.bad_samples import BadSampleLimit, BadSampleTally
from jepa_core.build import Parts, SplitCache, build_dataset, build_encoder, build_parts, first_readable_sample
from jepa_core.callback_base import Callback
from jepa_core.callbacks import HANGUP, Checkpointer, PreemptionHandler, monitors
from jepa_core.config import RunConfig, to_dict
from jepa_core.config_files import plain
from jepa_core.console import echo
from jepa_core.data import EpochBatchSampler, build_loader, first_view, model_input
from jepa_core.dist import DistInfo, barrier, detect, init_distributed, rank_seed, select_device
from jepa_core.errors import CheckpointError, ConfigError
from jepa_core.eval.attentive import attentive_probe
from jepa_core.eval.classes import check_label_counts
from jepa_core.eval.features import extract_features
from jepa_core.eval.probe import ProbeResult, linear_probe
from jepa_core.extract import encoder_label, probes_read_target
from jepa_core.hardware import resolve_precision
from jepa_core.interfaces import token_grid
from jepa_core.interop import init_trainer_from
from jepa_core.loggers import LoggerContext, LoggerFanOut, check_loggers, open_loggers
from jepa_core.nonfinite import NonFiniteGuard
from jepa_core.objectives import check_batch_statistics, check_objective_parts, check_views
from jepa_core.online_eval import EvalSubsets, OnlineEvaluator, eval_encoder
from jepa_core.optim import check_optimizer_strategy
from jepa_core.parallel import ParallelPlan, apply_parallelism, is_sharded, unsharded_copy
from jepa_core.preflight import (
    check_batch_fits,
    check_input_shape,
    check_masker,
    check_probe_data,
    eval_sizes_chosen,
    online_eval_subsets,
)
from jepa_core.progress import LossLog, ProgressLogger
from jepa_core.registry import Registry
from jepa_core.representation import describe, representation_report, write_report
from jepa_core.safe_write import write_text
from jepa_core.schedules import Schedules
from jepa_core.seeding import seed_host_rngs
from jepa_core.trainer import Trainer

__all__ = [
    "EXIT_HANGUP",
    "EXIT_INTERRUPTED",
    "EXIT_PREEMPTED",
    "RunResult",
    "run_probe",
    "train_run",
    # built and checked before training (jepa_core.build, jepa_core.preflight)
    "Parts",
    "build_dataset",
    "build_encoder",
    "build_parts",
    "check_batch_fits",
    "check_input_shape",
    "check_masker",
    "check_probe_data",
    "eval_sizes_chosen",
    "first_readable_sample",
    "online_eval_subsets",
    # callbacks (jepa_core.callbacks)
    "Checkpointer",
    "PreemptionHandler",
    "monitors",
]

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: stopped on a signal after writing a checkpoint; re-run to resume
EXIT_INTERRUPTED = 130  # 128 + SIGINT: stopped by Ctrl-C after writing a checkpoint; re-run to resume
EXIT_HANGUP = 129  # 128 + SIGHUP: stopped by a closed terminal after writing a checkpoint; re-run to resume

Log = Callable[[str], None]


@attrs.frozen
class RunResult:
    """What a finished (or preempted) run returns: where it wrote, how far it got, its logged
    ``(step, mean loss)`` pairs and the end-of-run probe results."""

    out_dir: Path
    steps: int
    loss_history: tuple[tuple[int, float], ...]
    preempted: bool = False
    probe: dict[str, ProbeResult] | None = None
    stop_signal: int | None = None  # the signal that stopped a preempted run (None: another rank's)


_STDOUT: Any = object()  # sentinel: resolve sys.stdout at call time, not import time


def train_run(
    cfg: RunConfig,
    registry: Registry,
    *,
    resume: bool = True,
    stream: TextIO | None = _STDOUT,
    allow_config_change: bool = False,
) -> RunResult:
    """Train ``cfg`` end to end in its run directory (see the module docstring).

    Before any work the run directory is claimed (:func:`jepa_core.rundir.claim`): its path is
    checked, its lock taken (a second run on it stops naming the holder), and a resumed run must
    keep the stored config except for :data:`~jepa_core.rundir.RESUMABLE_CHANGES` unless
    ``allow_config_change``.

    >>> result = train_run(registry.preset("image", "demo").build(), registry)   # doctest: +SKIP
    """
    if not isinstance(cfg, RunConfig):
        raise TypeError(
            f"train_run takes a RunConfig (registry.preset(plugin, name).build(), or load_config), "
            f"got {type(cfg).__name__}"
        )
    if not isinstance(registry, Registry):
        raise TypeError(
            f"train_run takes the Registry the config names its components in, got {type(registry).__name__}"
        )
    if stream is _STDOUT:
        stream = sys.stdout
    info = detect()
    cfg.train.batch_layout(info.world_size)  # config errors before any work
    device = select_device(cfg.train.device, info)
    init_distributed(info, device)
    log = _console(stream, info)
    check_objective_parts(cfg, registry)
    check_loggers(cfg.train.loggers, registry)  # an unknown logger or a missing package: before any work
    with rundir.claim(
        cfg, registry, info, resume=resume, allow_config_change=allow_config_change, log=log, device=device
    ):
        return _train(cfg, registry, resume=resume, stream=stream, allow_config_change=allow_config_change)


def _console(stream: TextIO | None, info: DistInfo) -> Log:
    """Messages to ``stream`` on the main rank; nowhere on the others."""
    if stream is not None and info.is_main:
        return lambda msg: echo(msg, stream)
    return lambda msg: None


@attrs.frozen
class _Checked:
    """The training data and the parts, past every pre-flight check."""

    dataset: Any
    parts: Parts
    eval_subsets: EvalSubsets | None
    splits: SplitCache  # the evaluation splits, built once for the whole run


def _build_checked(cfg: RunConfig, registry: Registry, info: DistInfo, micro: int, log: Log) -> _Checked:
    """Data first (its errors before any model is built), then the parts, each checked on real input."""
    dataset = build_dataset(cfg, registry, "train")
    check_batch_fits(dataset, cfg)
    splits = SplitCache(cfg, registry)
    if cfg.probe.enabled and info.is_main:
        check_probe_data(cfg, registry, splits)
    eval_subsets = online_eval_subsets(cfg, registry, log, splits) if info.is_main else None
    parts = build_parts(cfg, registry)  # the same seed on every rank: identical replicas
    seed_host_rngs(rank_seed(cfg.train.seed, info))  # Python's random and numpy, for plugins that use them
    masks = check_masker(parts.masker, token_grid(parts.encoder), micro, cfg)  # impossible masks fail fast
    sample = model_input(dataset, first_readable_sample(dataset, cfg.train.seed), cfg.train.seed)
    check_input_shape(parts.encoder, first_view(sample), cfg)
    check_views(parts.objective, sample, masks, parts.encoder, cfg)
    check_batch_statistics(parts.objective, parts.regularizer, micro * info.world_size, cfg)
    return _Checked(dataset, parts, eval_subsets, splits)


def _restore(
    trainer: Trainer,
    cfg: RunConfig,
    folder: Path,
    *,
    resume: bool,
    device: torch.device,
    log: Log,
    layout: ckpt.DataLayout,
    allow_layout_change: bool = False,
) -> None:
    """Continue from the newest checkpoint in ``folder``, else start from ``train.init_from``'s weights if set.

    A checkpoint written on training data of another size or epoch length (``layout``) is refused
    unless ``allow_layout_change`` (``--allow-config-change``): its position in the epoch and its
    schedules would not be the run's.
    """
    latest = ckpt.latest_checkpoint(folder) if resume else None
    if latest is not None:
        try:
            state = ckpt.load_checkpoint(latest, map_location=device)
        except CheckpointError as err:
            raise CheckpointError(_unreadable_resume(err, latest, folder)) from err
        ckpt.check_position(state, latest)
        stored = ckpt.DataLayout.stored_in(state)
        if stored is not None and stored != layout:
            if not allow_layout_change:
                raise ConfigError(
                    f"cannot resume: {latest.name} was written on {stored.describe()} and the data now gives "
                    f"{layout.describe()}, so its place in the epoch and its schedules would not match; restore "
                    "the data, train into another --out, or pass --allow-config-change to go on with this data."
                )
            log(f"resuming on {layout.describe()} instead of the checkpoint's {stored.describe()}")
        trainer.load_state_dict(state)
        del state
        log(
            f"resuming from {latest} (step {trainer.step}, epoch {trainer.epoch}, "
            f"step-in-epoch {trainer.step_in_epoch})"
        )
        if cfg.train.init_from:
            log(
                f"train.init_from '{cfg.train.init_from}' is not read: a resumed run continues from its own "
                "checkpoint (train into a new --out to start from those weights)"
            )
    elif cfg.train.init_from:
        init = init_trainer_from(cfg.train.init_from, trainer, map_location=device)
        log(f"initialised {init.describe()}; optimizer and schedules start afresh")


def _unreadable_resume(err: CheckpointError, latest: Path, folder: Path) -> str:
    """``err`` with what to do about it: the checkpoint before ``latest``, or a fresh start."""
    earlier = [p for _, p in ckpt.list_checkpoints(folder) if p != latest]
    then = f"resume from {earlier[-1].name}" if earlier else "start the run afresh"
    reason = str(err).split(";")[0].rstrip(".")
    return f"cannot resume: {reason}; move {latest.name} out of {folder} to {then}."


def _callbacks(
    cfg: RunConfig,
    info: DistInfo,
    parts: Parts,
    trainer: Trainer,
    checked: _Checked,
    *,
    total: int,
    samples_per_epoch: int,
    layout: ckpt.DataLayout,
    sample_noun: str = "samples",
    reads_target: bool = True,
    stream: TextIO | None,
    device: torch.device,
    log: Log,
    writer: LoggerFanOut | None = None,
) -> tuple[ProgressLogger, list[Any]]:
    """The progress logger, and every callback of the run in the order they run."""
    out_dir = Path(cfg.train.out_dir)
    folder = out_dir / "checkpoints"
    bad_samples = BadSampleTally()
    progress = ProgressLogger(
        total_steps=total,
        log_every=cfg.train.log_every,
        stream=stream if info.is_main else None,
        writer=writer,  # the selected loggers (main rank only)
        images_per_step_factor=info.world_size,
        bad_samples=bad_samples,
        data_workers=cfg.train.num_workers,
        sample_noun=sample_noun,
    )
    bad_sample_limit = BadSampleLimit(
        bad_samples,
        max_fraction=cfg.train.max_bad_fraction,
        # judged at log steps after 200 samples, or one epoch of this rank's samples if fewer
        min_samples=min(200, samples_per_epoch),
        log_every=cfg.train.log_every,
        total_steps=total,
    )
    guard = NonFiniteGuard(log_every=cfg.train.log_every, total_steps=total, checkpoint_dir=folder)
    loss_log = None
    if cfg.train.loss_log and info.is_main:
        loss_log = LossLog(out_dir / LossLog.FILE_NAME, log_every=cfg.train.log_every, start_step=trainer.step)
    checkpointer = Checkpointer(
        folder, cfg, info, before_save=(loss_log.flush,) if loss_log else (), data_layout=layout
    )
    callbacks: list[Callback] = [
        guard,
        bad_samples,  # counts first: the progress logger and the limit read it
        progress,
        *([loss_log] if loss_log else []),
        *monitors(cfg, info, progress, parts, log),
        checkpointer,
        bad_sample_limit,  # last: the logger's report and an epoch's or the run's checkpoint come first
    ]
    if checked.eval_subsets is not None and is_sharded(parts.encoder):
        log("online evaluation is off under FSDP (sharded encoders); evaluate checkpoints with jepa eval")
    elif checked.eval_subsets is not None:  # first: its last evaluation must precede the logger closing TensorBoard
        callbacks.insert(
            0,
            OnlineEvaluator(
                checked.eval_subsets,
                cfg.eval,
                every=cfg.train.eval_every or 0,
                encoder_of=functools.partial(eval_encoder, reads_target=reads_target),
                device=device,
                log=log,
                writer=progress.writer,
                out_dir=out_dir,
                progress=progress,
            ),
        )
    return progress, callbacks


def _train(
    cfg: RunConfig, registry: Registry, *, resume: bool, stream: TextIO | None, allow_config_change: bool
) -> RunResult:
    """The body of :func:`train_run`, in a claimed run directory."""
    info = detect()
    micro, accum = cfg.train.batch_layout(info.world_size)  # config errors before any work
    check_optimizer_strategy(cfg.optim, cfg.train.strategy)
    device = select_device(cfg.train.device, info)
    init_distributed(info, device)
    out_dir = Path(cfg.train.out_dir)
    log = _console(stream, info)

    checked = _build_checked(cfg, registry, info, micro, log)
    parts = checked.parts
    precision = resolve_precision(cfg.train.precision, device)
    if precision == "fp16" and device.type == "cpu":
        log(
            "train.precision=fp16 on a CPU has no fast half-precision kernels (tens of times slower than bf16 "
            "or fp32 on the project's CPUs); use bf16, or auto for the CPU's fastest"
        )
    plan = apply_parallelism(
        parts.encoder,
        parts.predictor,
        parts.target,
        attrs.evolve(cfg.train, precision=precision),
        device,
        info,
    )
    loader = build_loader(
        checked.dataset,
        parts.masker,
        grid=token_grid(parts.encoder),
        micro_batch=micro,
        accum_steps=accum,
        seed=cfg.train.seed,
        rank=info.rank,
        world_size=info.world_size,
        num_workers=cfg.train.num_workers,
        pin_memory=device.type == "cuda",
        steps_per_epoch=cfg.train.steps_per_epoch,
        epochs=cfg.train.epochs,
    )
    assert isinstance(loader.batch_sampler, EpochBatchSampler)  # build_loader's
    ipe = loader.batch_sampler.steps_per_epoch
    schedules = Schedules.from_config(cfg.optim, epochs=cfg.train.epochs, iterations_per_epoch=ipe)
    trainer = Trainer.from_parts(
        parts,
        cfg,
        schedules=schedules,
        device=device,
        precision=precision,
        wrap=plan.wrap,
        stop_check_every=cfg.train.log_every,  # log steps sync anyway
    )
    layout = ckpt.DataLayout(samples=len(checked.dataset), steps_per_epoch=ipe)
    _restore(
        trainer,
        cfg,
        out_dir / "checkpoints",
        resume=resume,
        device=device,
        log=log,
        layout=layout,
        allow_layout_change=allow_config_change,
    )
    if not info.is_main:  # model-side randomness (drop-path) must differ per rank; rank 0 keeps its stream
        torch.manual_seed(rank_seed(cfg.train.seed + trainer.step, info))
        seed_host_rngs(rank_seed(cfg.train.seed + trainer.step, info))
    if info.is_main:
        rundir.save_run_config(cfg)
    total = cfg.train.max_steps or cfg.train.epochs * ipe
    _describe_run(cfg, checked, plan, info, micro, accum, ipe, total, device, precision, log)
    for misfit in schedules.misfits():
        log(
            f"warning: {misfit} (optim.warmup_epochs={cfg.optim.warmup_epochs:g}, "
            f"optim.cooldown_epochs={cfg.optim.cooldown_epochs:g}, train.epochs={cfg.train.epochs}, "
            f"optim.ipe_scale={cfg.optim.ipe_scale:g})"
        )
    if trainer.step >= total:
        log(f"the run is at step {trainer.step}, at or past its last step {total}: nothing left to train")
    writer = (
        open_loggers(
            cfg.train.loggers,
            registry,
            LoggerContext(
                out_dir=Path(cfg.train.out_dir),
                config=plain(to_dict(cfg)),
                run_name=Path(cfg.train.out_dir).name,
                start_step=trainer.step,
            ),
        )
        if info.is_main
        else None
    )  # every selected logger gets the same scalars, pictures and config
    progress, callbacks = _callbacks(
        cfg,
        info,
        parts,
        trainer,
        checked,
        total=total,
        samples_per_epoch=ipe * micro * accum,
        layout=layout,
        sample_noun=registry.get("dataset", cfg.data.name).sample_noun,
        reads_target=probes_read_target(cfg, registry),
        stream=stream,
        device=device,
        log=log,
        writer=writer,
    )
    with PreemptionHandler(trainer) as preemption:
        trainer.fit(loader, epochs=cfg.train.epochs, max_steps=cfg.train.max_steps, callbacks=callbacks)
    preempted = preemption.received is not None or trainer.stop_requested  # the latter: another rank's signal
    probe = None
    if preempted:
        cause = f"signal {preemption.received}" if preemption.received is not None else "another rank's signal"
        if preemption.received == signal.SIGINT:
            cause = f"Ctrl-C ({cause})"
        elif preemption.received == HANGUP:
            cause = f"a closed terminal ({cause})"
        log(f"stopped by {cause} at step {trainer.step}; checkpoint written, re-run to resume")
    else:
        if info.is_main:
            _report_representation(cfg, registry, trainer, device, log, checked.splits)
        probe = _end_of_run_probe(cfg, registry, trainer, info, device, log, checked.splits)
    barrier()  # all ranks leave together (the others wait for rank 0's probe)
    return RunResult(out_dir, trainer.step, tuple(progress.history), preempted, probe, preemption.received)


def _describe_run(
    cfg: RunConfig,
    checked: _Checked,
    plan: ParallelPlan,
    info: DistInfo,
    micro: int,
    accum: int,
    ipe: int,
    total: int,
    device: torch.device,
    precision: str,
    log: Log,
) -> None:
    log(
        f"run {cfg.plugin}/{cfg.preset}: {len(checked.dataset)} samples, {ipe} steps/epoch, {total} steps, "
        f"batch {cfg.train.batch_size} = {micro} x {info.world_size} processes x {accum} accumulation, "
        f"grid {checked.parts.encoder.token_grid}, device {device} ({precision}), world size {info.world_size}, "
        f"{plan.describe()} -> {Path(cfg.train.out_dir)}"
    )


def _report_representation(
    cfg: RunConfig, registry: Registry, trainer: Trainer, device: torch.device, log: Log, splits: SplitCache
) -> None:
    """The end-of-run collapse report of the trained encoders against a random init (representation.json)."""
    if is_sharded(trainer.encoder):
        return
    measured = {"target": eval_encoder(trainer, probes_read_target(cfg, registry)), "context": trainer.encoder}
    if measured["target"] is trainer.encoder:  # no probed target (lejepa, a frozen teacher): one encoder
        measured = {"encoder": trainer.encoder}
    report = representation_report(
        {**measured, "random_init": build_encoder(cfg, registry).to(device)},
        splits("train_eval"),
        device=device,
        seed=cfg.train.seed,
    )
    report["step"] = trainer.step
    write_report(report, Path(cfg.train.out_dir))
    log(describe(report))


def _end_of_run_probe(
    cfg: RunConfig,
    registry: Registry,
    trainer: Trainer,
    info: DistInfo,
    device: torch.device,
    log: Log,
    splits: SplitCache,
) -> dict[str, ProbeResult] | None:
    """``probe.enabled``: the probe on the main rank, written to probe.json (under FSDP every rank
    first gathers a full copy of the encoder)."""
    if not cfg.probe.enabled:
        return None
    encoder = eval_encoder(trainer, probes_read_target(cfg, registry))
    if is_sharded(encoder):  # FSDP: gather a full copy (all ranks)
        encoder = unsharded_copy(encoder, build_encoder(cfg, registry).to(device))
    if not info.is_main:
        return None
    probe = run_probe(cfg, registry, encoder, device, log, splits)
    write_text(
        Path(cfg.train.out_dir) / "probe.json",
        json.dumps({k: attrs.asdict(v) for k, v in probe.items()}, indent=2),
        what="the probe results",
        flag="--out",
    )
    return probe


def run_probe(
    cfg: RunConfig,
    registry: Registry,
    encoder: torch.nn.Module,
    device: torch.device,
    log: Log,
    splits: SplitCache | None = None,
) -> dict[str, ProbeResult]:
    """``probe.kind`` probe (linear or attentive) of the trained target encoder, and of the same
    architecture at random init, on the ``train_eval`` and ``val`` splits (``splits``: the run's,
    already built)."""
    splits = splits or SplitCache(cfg, registry)
    train_set = splits("train_eval")
    val_set = splits("val")
    encoders = {"trained": encoder}
    if cfg.probe.compare_random_init:
        encoders["random_init"] = build_encoder(cfg, registry)
    p = cfg.probe
    attentive = p.kind == "attentive"
    pool = "none" if attentive else "mean"  # attentive: all output tokens [N, T, D]
    results = {}
    for name, enc in encoders.items():
        tx, ty = extract_features(enc, train_set, batch_size=p.batch_size, device=device, pool=pool)
        check_label_counts(ty, what=f"the train_eval split of dataset '{cfg.data.name}'")
        vx, vy = extract_features(enc, val_set, batch_size=p.batch_size, device=device, pool=pool)
        if attentive:
            results[name] = attentive_probe(
                tx,
                ty,
                vx,
                vy,
                epochs=p.epochs,
                lr=p.lr,
                weight_decay=p.weight_decay,
                batch_size=p.batch_size,
                num_blocks=p.attentive_blocks,
                seed=cfg.train.seed,
                device=device,
            )
        else:
            results[name] = linear_probe(
                tx,
                ty,
                vx,
                vy,
                epochs=p.epochs,
                lr=p.lr,
                weight_decay=p.weight_decay,
                seed=cfg.train.seed,
            )
        top5 = f", top-5 {results[name].top5:.1f}%" if results[name].top5 is not None else ""
        log(
            f"{p.kind} probe ({name} {encoder_label(cfg, registry)}): top-1 {results[name].top1:.1f}%{top5} "
            f"on {results[name].num_val} held-out samples"
        )
    return results
