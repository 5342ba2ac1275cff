"""Assemble a run from a :class:`RunConfig`: components, data, trainer, run directory, resume.

>>> result = train_run(cfg, build_registry())      # doctest: +SKIP

Run directory layout (``train.out_dir``)::

    config.json          the resolved config; `jepa train --config config.json` re-runs it
    tensorboard/         TensorBoard event files (train/*, monitor/* collapse scalars, mask pictures)
    checkpoints/         step_XXXXXXXX.pt (atomic; the newest K plus multiples of keep_every are kept)
    losses.tsv           per-step losses when train.loss_log (see jepa_core.progress.LossLog)
    probe.json           end-of-run probe results (probe.kind: linear or attentive) when probe.enabled
    run.lock             while a run uses the directory: its host and pid (jepa_core.rundir)

A run directory that already holds a checkpoint is resumed from its newest one (unless
``resume=False``), with the same config except for what :data:`jepa_core.rundir.RESUMABLE_CHANGES`
allows (``allow_config_change=True`` lifts that); a directory another run is using is refused.
SIGTERM/SIGUSR1 finish the current step, write a checkpoint and return ``preempted=True`` (the
CLI exits with ``EXIT_PREEMPTED`` = 75); re-running resumes.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import attrs
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.config import RunConfig, save_config, to_dict
from jepa_core.dist import DistInfo, barrier, detect, init_distributed, rank_seed, select_device
from jepa_core.errors import ConfigError, DataError, NonFiniteLossError, RegistryError
from jepa_core.parallel import apply_parallelism, is_sharded, unsharded_copy
from jepa_core.eval.features import extract_features
from jepa_core.eval.attentive import attentive_probe
from jepa_core.eval.probe import ProbeResult, linear_probe
from jepa_core.data import build_loader, first_view
from jepa_core.hardware import resolve_precision
from jepa_core.monitors import CollapseMonitor, MaskPictures
from jepa_core.objectives import check_objective_parts, check_views
from jepa_core.online_eval import EvalSubsets, OnlineEvaluator, choose_subsets, eval_encoder, has_labels
from jepa_core.representation import describe, representation_report, write_report
from jepa_core.progress import LossLog, ProgressLogger, nonfinite_error, nonfinite_parameters
from jepa_core import rundir
from jepa_core.console import echo
from jepa_core.eval.classes import check_dataset_classes, check_label_counts
from jepa_core.safe_write import write_text, writing
from jepa_core.seeding import seed_host_rngs
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: stopped on a signal after writing a checkpoint; re-run to resume


@attrs.frozen
class Parts:
    encoder: torch.nn.Module
    predictor: torch.nn.Module
    target: torch.nn.Module
    loss: Any
    masker: Any
    regularizer: Any = None
    objective: Any = None


def build_parts(cfg: RunConfig, registry: Any, *, seed: int | None = None) -> Parts:
    """Build every model-side component named in ``cfg`` (seeded, so init is reproducible).

    A component that rejects its options with ``ValueError`` (e.g. a width that does not split
    into the heads) becomes a :class:`ConfigError` naming the config section.

    >>> parts = build_parts(cfg, build_registry())          # doctest: +SKIP
    """
    torch.manual_seed(cfg.train.seed if seed is None else seed)
    encoder = _build(cfg, registry, "encoder")
    predictor = _build(cfg, registry, "predictor", encoder)
    target = _build(cfg, registry, "target", encoder)
    loss = _build(cfg, registry, "loss")
    masker = _build(cfg, registry, "masker")
    regularizer = _build(cfg, registry, "regularizer")
    objective = _build(cfg, registry, "objective", encoder)
    return Parts(encoder, predictor, target, loss, masker, regularizer, objective)


def build_encoder(cfg: RunConfig, registry: Any, *, seed: int | None = None) -> torch.nn.Module:
    """The encoder alone, initialised exactly as :func:`build_parts` initialises it (the same seed,
    built first): the network at its random init, for baselines.

    >>> build_encoder(cfg, registry).state_dict().keys() == build_parts(cfg, registry).encoder.state_dict().keys()   # doctest: +SKIP
    True
    """
    torch.manual_seed(cfg.train.seed if seed is None else seed)
    return _build(cfg, registry, "encoder")


def _build(cfg: RunConfig, registry: Any, section: str, *args: Any) -> Any:
    component = getattr(cfg, section)
    try:
        return registry.get(section, component.name).build(component.options, *args)
    except ValueError as err:
        raise ConfigError(f"the {section} '{component.name}' rejects its options ({err}); fix the {section}.* values.") from err


def build_dataset(cfg: RunConfig, registry: Any, split: str):
    return registry.get("dataset", cfg.data.name).build(cfg.data.options, split)


def first_readable_sample(dataset: Any, seed: int) -> torch.Tensor:
    """The input of sample 0, or of the next readable one if it is unreadable (as in training).

    Seeded like training reads (:class:`~jepa_core.data.KeyedDataset`), so it draws nothing
    from the global RNG.

    >>> first_readable_sample(dataset, seed=0).shape        # doctest: +SKIP
    torch.Size([3, 224, 224])
    """
    from jepa_core.data import KeyedDataset

    return KeyedDataset(dataset, seed)[(0, 0, 0, 0)][0]


def check_masker(masker: Any, grid: tuple[int, ...], batch_size: int, cfg: RunConfig) -> Any:
    """Draw one batch of masks on ``grid`` so an impossible masker config fails before training.

    The masker raises :class:`~jepa_core.errors.MaskingError` (one sentence naming the values)
    when, e.g., more targets are asked for than fit on the grid. Returns the masks.

    >>> check_masker(parts.masker, parts.encoder.token_grid, 64, cfg)   # doctest: +SKIP
    """
    return masker(batch_size, tuple(grid), torch.Generator().manual_seed(cfg.train.seed))


def check_probe_data(cfg: RunConfig, registry: Any) -> None:
    """Fail before training when the end-of-run probe could not run: no val split, or no labels.

    Builds the ``val`` split (the dataset raises its own one-sentence error when there is none)
    and reads the label of its first sample.

    >>> check_probe_data(cfg, registry)        # doctest: +SKIP
    """
    val = build_dataset(cfg, registry, "val")
    if len(val) == 0:
        raise DataError(f"probe.enabled=true needs a non-empty val split, but dataset '{cfg.data.name}' has none; "
                        "set one (e.g. data.val_root) or probe.enabled=false.")
    label = int(val[0][1])
    if label < 0:
        raise DataError(f"probe.enabled=true needs class labels, but dataset '{cfg.data.name}' gives label {label} "
                        "(a flat folder of images); use one sub-folder per class or set probe.enabled=false.")
    check_dataset_classes(val, what=f"the val split of dataset '{cfg.data.name}' (probe.enabled=true)")


def check_batch_fits(dataset: Any, cfg: RunConfig) -> None:
    """Fail before any model is built when one global batch needs more samples than the dataset has.

    >>> check_batch_fits(dataset, cfg)        # doctest: +SKIP
    """
    try:
        n = len(dataset)
    except (OverflowError, ValueError) as err:  # a size beyond 2**63 or below 0
        raise ConfigError(f"dataset '{cfg.data.name}' cannot have the size its options ask for ({err}); "
                          "check the data.* values.") from err
    if cfg.train.batch_size > n:
        raise DataError(f"the dataset has {n} samples, fewer than one global batch of {cfg.train.batch_size}; "
                        f"lower train.batch_size to at most {n}.")


def check_input_shape(encoder: torch.nn.Module, sample: torch.Tensor, cfg: RunConfig) -> None:
    """Fail before training when the data's sample shape is not what the encoder expects."""
    expected = getattr(encoder, "expected_input_shape", None)
    if expected is not None and tuple(sample.shape) != tuple(expected):
        raise ConfigError(
            f"dataset '{cfg.data.name}' yields inputs of shape {tuple(sample.shape)} but encoder "
            f"'{cfg.encoder.name}' expects {tuple(expected)}; make the data and encoder sizes agree."
        )


@attrs.frozen
class RunResult:
    out_dir: Path
    steps: int
    loss_history: tuple[tuple[int, float], ...]
    preempted: bool = False
    probe: dict[str, ProbeResult] | None = None


class Checkpointer:
    """Writes checkpoints every ``every`` steps, at each epoch end and at the end (main rank only).

    It refuses to save non-finite state: if any step so far had a non-finite loss or gradient,
    or a weight is NaN/inf, it raises :class:`~jepa_core.errors.NonFiniteLossError` and the
    earlier checkpoints stay the newest. ``before_save`` callables (e.g. :meth:`LossLog.flush`)
    run right before each write. Retention: the newest ``train.keep_checkpoints`` plus every
    step that is a multiple of ``train.keep_every``. Temporary files a killed write left
    behind are removed at start-up.

    >>> checkpointer = Checkpointer(Path("runs/x/checkpoints"), cfg, detect())   # doctest: +SKIP
    """

    def __init__(self, folder: Path, cfg: RunConfig, info: DistInfo, *, before_save: tuple[Any, ...] = ()) -> None:
        self.folder, self.cfg, self.info = folder, cfg, info
        self.before_save = before_save
        self.last_saved_step = -1
        if info.is_main:
            ckpt.remove_temp_files(folder)

    def check_finite(self, trainer: Trainer) -> None:
        """Raise :class:`NonFiniteLossError` unless every step and every weight is finite (one sync)."""
        bad = int(trainer.first_nonfinite_step.item())
        if bad >= 0:
            raise nonfinite_error(bad, self.folder)
        names = nonfinite_parameters(trainer.networks())
        count = torch.tensor(len(names), device=trainer.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(count, op=torch.distributed.ReduceOp.MAX)  # shards: agree on all ranks
        if int(count.item()):
            shown = ", ".join(names[:3]) or "a parameter shard on another rank"
            raise NonFiniteLossError(
                f"the weights became non-finite after step {trainer.step} ({shown}); training stopped without "
                f"saving them and the last good checkpoint in {self.folder} is kept (lower optim.lr or set optim.clip_grad)."
            )

    def save(self, trainer: Trainer) -> None:
        if trainer.step == self.last_saved_step:
            return
        self.check_finite(trainer)  # never overwrite good checkpoints with non-finite weights
        for hook in self.before_save:
            hook(trainer)
        train_state = trainer.state_dict()  # every rank: gathering sharded (FSDP) state is a collective
        if self.info.is_main:
            state = {**train_state, "config": to_dict(self.cfg), "world_size": self.info.world_size}
            ckpt.save_checkpoint(state, self.folder, step=trainer.step)
            ckpt.prune_checkpoints(
                self.folder, keep_last=self.cfg.train.keep_checkpoints, keep_every=self.cfg.train.keep_every
            )
        self.last_saved_step = trainer.step
        barrier()

    def on_step_end(self, trainer: Trainer, out: Any) -> None:
        every = self.cfg.train.checkpoint_every
        if every and trainer.step % every == 0:
            self.save(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int) -> None:
        self.save(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        self.save(trainer)


class PreemptionHandler:
    """SIGTERM/SIGUSR1 ask the trainer to stop after the current step (then a checkpoint is written)."""

    SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR1", None)) if s)

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "PreemptionHandler":
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signum
        self.trainer.stop_requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def monitors(cfg: RunConfig, info: DistInfo, progress: ProgressLogger, parts: Parts, log: Any) -> list[Any]:
    """The TensorBoard monitors ``cfg`` asks for (main rank only), writing through ``progress``'s writer.

    ``train.monitor_every`` -> :class:`~jepa_core.monitors.CollapseMonitor` (skipped, with a
    note, when FSDP shards the encoders: the extra forward would be a collective on one rank),
    ``train.mask_image_every`` -> :class:`~jepa_core.monitors.MaskPictures`; 0 turns either off.

    >>> monitors(cfg, detect(), progress, parts, print)               # doctest: +SKIP
    [<jepa_core.monitors.CollapseMonitor ...>, <jepa_core.monitors.MaskPictures ...>]
    """
    if not info.is_main:
        return []
    out: list[Any] = []
    if cfg.train.monitor_every:
        if is_sharded(parts.encoder):
            log("train.monitor_every: collapse monitors are off under FSDP (sharded encoders)")
        else:
            out.append(CollapseMonitor(progress, every=cfg.train.monitor_every))
    if cfg.train.mask_image_every:
        out.append(MaskPictures(progress, every=cfg.train.mask_image_every, grid=parts.encoder.token_grid))
    return out


_STDOUT: Any = object()  # sentinel: resolve sys.stdout at call time, not import time


def train_run(
    cfg: RunConfig, registry: Any, *, resume: bool = True, stream: TextIO | None = _STDOUT,
    allow_config_change: bool = False,
) -> RunResult:
    """Train ``cfg`` end to end in its run directory (see the module docstring).

    Before any work the run directory is claimed (:func:`jepa_core.rundir.claim`): its path is
    checked, its lock taken (a second run on it stops naming the holder), and a resumed run must
    keep the stored config except for :data:`~jepa_core.rundir.RESUMABLE_CHANGES` unless
    ``allow_config_change``.
    """
    if stream is _STDOUT:
        stream = sys.stdout
    info = detect()
    cfg.train.batch_layout(info.world_size)  # config errors before any work
    device = select_device(cfg.train.device, info)
    init_distributed(info, device)
    log = (lambda msg: echo(msg, stream)) if (stream is not None and info.is_main) else (lambda msg: None)
    check_objective_parts(cfg, registry)
    with rundir.claim(cfg, registry, info, resume=resume, allow_config_change=allow_config_change,
                      log=log, device=device):
        return _train(cfg, registry, resume=resume, stream=stream)


def _train(cfg: RunConfig, registry: Any, *, resume: bool, stream: TextIO | None) -> RunResult:
    """The body of :func:`train_run`, in a claimed run directory."""
    info = detect()
    micro, accum = cfg.train.batch_layout(info.world_size)  # config errors before any work
    device = select_device(cfg.train.device, info)
    init_distributed(info, device)
    out_dir = Path(cfg.train.out_dir)
    log = (lambda msg: echo(msg, stream)) if (stream is not None and info.is_main) else (lambda msg: None)

    dataset = build_dataset(cfg, registry, "train")  # data errors first, before any model is built
    check_batch_fits(dataset, cfg)
    if cfg.probe.enabled and info.is_main:
        check_probe_data(cfg, registry)
    eval_subsets = online_eval_subsets(cfg, registry, log) if info.is_main else None
    parts = build_parts(cfg, registry)  # the same seed on every rank: identical replicas
    seed_host_rngs(rank_seed(cfg.train.seed, info))  # Python's random and numpy, for plugins that use them
    masks = check_masker(parts.masker, parts.encoder.token_grid, micro, cfg)  # impossible masks fail fast
    sample = first_readable_sample(dataset, cfg.train.seed)
    check_input_shape(parts.encoder, first_view(sample), cfg)
    check_views(parts.objective, sample, masks, parts.encoder, cfg)
    precision = resolve_precision(cfg.train.precision, device)
    plan = apply_parallelism(
        parts.encoder, parts.predictor, parts.target, attrs.evolve(cfg.train, precision=precision), device, info,
    )

    loader = build_loader(
        dataset, parts.masker, grid=parts.encoder.token_grid, micro_batch=micro, accum_steps=accum,
        seed=cfg.train.seed, rank=info.rank, world_size=info.world_size,
        num_workers=cfg.train.num_workers, pin_memory=device.type == "cuda",
        steps_per_epoch=cfg.train.steps_per_epoch, epochs=cfg.train.epochs,
    )
    ipe = loader.batch_sampler.steps_per_epoch
    schedules = Schedules.from_config(cfg.optim, epochs=cfg.train.epochs, iterations_per_epoch=ipe)
    trainer = Trainer(
        parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=schedules,
        device=device, precision=precision,
        wrap=plan.wrap, stop_check_every=cfg.train.log_every,  # log steps sync anyway
        regularizer=parts.regularizer, objective=parts.objective,
    )
    folder = out_dir / "checkpoints"
    latest = ckpt.latest_checkpoint(folder) if resume else None
    if latest is not None:
        state = ckpt.load_checkpoint(latest, map_location=device)
        ckpt.check_position(state, latest)
        trainer.load_state_dict(state)
        del state
        log(f"resuming from {latest} (step {trainer.step}, epoch {trainer.epoch}, step-in-epoch {trainer.step_in_epoch})")
    elif cfg.train.init_from:
        from jepa_core.interop import init_trainer_from

        init = init_trainer_from(cfg.train.init_from, trainer, map_location=device)
        log(f"initialised encoder, predictor and target encoder from {init.source} ({init.format} format); "
            "optimizer and schedules start afresh")
    if not info.is_main:  # model-side randomness (drop-path) must differ per rank; rank 0 keeps its stream
        torch.manual_seed(rank_seed(cfg.train.seed + trainer.step, info))
        seed_host_rngs(rank_seed(cfg.train.seed + trainer.step, info))
    if info.is_main:
        with writing(out_dir / "config.json", what="the run config", flag="--out"):
            save_config(cfg, out_dir / "config.json")
    total = cfg.train.max_steps or cfg.train.epochs * ipe
    log(
        f"run {cfg.plugin}/{cfg.preset}: {len(dataset)} samples, {ipe} steps/epoch, {total} steps, "
        f"batch {cfg.train.batch_size} = {micro} x {info.world_size} processes x {accum} accumulation, "
        f"grid {parts.encoder.token_grid}, device {device} ({precision}), world size {info.world_size}, {plan.describe()} -> {out_dir}"
    )
    progress = ProgressLogger(
        total_steps=total, log_every=cfg.train.log_every, stream=stream if info.is_main else None,
        tensorboard_dir=out_dir / "tensorboard" if info.is_main else None,
        images_per_step_factor=info.world_size, max_bad_fraction=cfg.train.max_bad_fraction,
        # the bad-fraction check starts after 200 samples, or one epoch of this rank's samples if fewer
        min_samples_for_bad_check=min(200, ipe * micro * accum), checkpoint_dir=folder,
    )
    loss_log = None
    if cfg.train.loss_log and info.is_main:
        loss_log = LossLog(out_dir / LossLog.FILE_NAME, log_every=cfg.train.log_every, start_step=trainer.step)
    checkpointer = Checkpointer(folder, cfg, info, before_save=(loss_log.flush,) if loss_log else ())
    callbacks = [progress, *([loss_log] if loss_log else []), *monitors(cfg, info, progress, parts, log), checkpointer]
    if eval_subsets is not None and is_sharded(parts.encoder):
        log("online evaluation is off under FSDP (sharded encoders); evaluate checkpoints with jepa eval")
    elif eval_subsets is not None:  # first: its last evaluation must precede the logger closing TensorBoard
        callbacks.insert(0, OnlineEvaluator(
            eval_subsets, cfg.eval, every=cfg.train.eval_every or 0, device=device, log=log,
            writer=progress.writer, out_dir=out_dir, progress=progress,
        ))
    with PreemptionHandler(trainer) as preemption:
        trainer.fit(loader, epochs=cfg.train.epochs, max_steps=cfg.train.max_steps, callbacks=callbacks)
    preempted = preemption.received is not None or trainer.stop_requested  # the latter: another rank's signal
    if preempted:
        cause = f"signal {preemption.received}" if preemption.received is not None else "another rank's signal"
        log(f"stopped by {cause} at step {trainer.step}; checkpoint written, re-run to resume")
    if info.is_main and not preempted:
        measured = {"target": eval_encoder(trainer), "context": trainer.encoder}
        if measured["target"] is trainer.encoder:  # no target encoder (e.g. lejepa): the encoder is evaluated
            measured = {"encoder": trainer.encoder}
        report = representation_report(
            {**measured, "random_init": build_encoder(cfg, registry).to(device)},
            build_dataset(cfg, registry, "train_eval"), device=device, seed=cfg.train.seed,
        ) if not is_sharded(trainer.encoder) else None
        if report is not None:
            report["step"] = trainer.step
            write_report(report, out_dir)
            log(describe(report))
    probe = None
    probe_encoder = eval_encoder(trainer)
    if cfg.probe.enabled and not preempted and is_sharded(probe_encoder):  # FSDP: gather a full copy (all ranks)
        probe_encoder = unsharded_copy(probe_encoder, build_encoder(cfg, registry).to(device))
    if cfg.probe.enabled and not preempted and info.is_main:
        probe = run_probe(cfg, registry, probe_encoder, device, log)
        write_text(out_dir / "probe.json", json.dumps({k: attrs.asdict(v) for k, v in probe.items()}, indent=2),
                   what="the probe results", flag="--out")
    barrier()  # all ranks leave together (the others wait for rank 0's probe)
    return RunResult(out_dir, trainer.step, tuple(progress.history), preempted, probe)


def online_eval_subsets(cfg: RunConfig, registry: Any, log: Any) -> EvalSubsets | None:
    """The online evaluation's fixed subsets, or None when it is off (``train.eval_every``).

    Checked before any model is built: ``eval_every > 0`` on a dataset without labels, or a
    subset size larger than the data when the user asked for it (an explicit ``eval_every`` or
    sizes other than the preset's), is a :class:`ConfigError`; a preset's sizes are capped.
    """
    every = cfg.train.eval_every
    if every == 0:
        return None
    train_eval = build_dataset(cfg, registry, "train_eval")
    if not has_labels(train_eval):
        if every is not None:
            raise ConfigError(
                f"train.eval_every={every} needs class labels, but dataset '{cfg.data.name}' gives none; "
                "use labelled data or set train.eval_every=0."
            )
        log(f"online evaluation is off: dataset '{cfg.data.name}' has no labels")
        return None
    try:
        val = build_dataset(cfg, registry, "val")
    except DataError:
        val = None
    strict = every is not None or eval_sizes_chosen(cfg, registry)
    return choose_subsets(train_eval, val, cfg.eval, seed=cfg.train.seed, strict=strict)


def eval_sizes_chosen(cfg: RunConfig, registry: Any) -> bool:
    """Whether the online-evaluation subset sizes were chosen for this run (they differ from the
    preset's, or the preset is unknown): such sizes must fit the data, a preset's are capped to it."""
    try:
        preset = registry.preset(cfg.plugin, cfg.preset).build().eval
    except RegistryError:
        return True
    return (cfg.eval.train_samples, cfg.eval.val_samples) != (preset.train_samples, preset.val_samples)


def run_probe(cfg: RunConfig, registry: Any, encoder: torch.nn.Module, device: torch.device, log: Any) -> dict[str, ProbeResult]:
    """``probe.kind`` probe (linear or attentive) of the trained target encoder, and of the same
    architecture at random init."""
    train_set = build_dataset(cfg, registry, "train_eval")
    val_set = build_dataset(cfg, registry, "val")
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
                tx, ty, vx, vy, epochs=p.epochs, lr=p.lr, weight_decay=p.weight_decay, batch_size=p.batch_size,
                num_blocks=p.attentive_blocks, seed=cfg.train.seed, device=device,
            )
        else:
            results[name] = linear_probe(
                tx, ty, vx, vy, epochs=p.epochs, lr=p.lr, weight_decay=p.weight_decay, seed=cfg.train.seed,
            )
        top5 = f", top-5 {results[name].top5:.1f}%" if results[name].top5 is not None else ""
        log(f"{p.kind} probe ({name} target encoder): top-1 {results[name].top1:.1f}%{top5} "
            f"on {results[name].num_val} held-out samples")
    return results
