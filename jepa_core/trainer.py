"""The embeddable trainer: one JEPA optimisation step at a time, or a whole ``fit``.

Drive it from your own loop (Lightning-Fabric style)::

    trainer = Trainer.from_parts(parts, cfg, schedules=sched)  # the recipe jepa train runs
    for batch in loader:                 # jepa_core.data.Batch
        out = trainer.train_step(batch)  # no host sync: out.loss is a device tensor

or call ``trainer.fit(loader, epochs=...)`` with callbacks for logging and checkpoints.
One step: the objective's loss (:mod:`jepa_core.objectives`; the default ``predictive``: target
provider (no grad) -> context encoder -> predictor -> loss) -> AdamW -> EMA update of the target.
"""

from __future__ import annotations

import contextlib
import numbers
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from jepa_core import parallel
from jepa_core.callback_base import Callback
from jepa_core.checkpoint import strip_prefix
from jepa_core.config import OptimConfig
from jepa_core.data import Batch
from jepa_core.dist import detect, select_device
from jepa_core.errors import CheckpointError
from jepa_core.hardware import resolve_precision
from jepa_core.interfaces import Loss, TargetProvider
from jepa_core.nonfinite import record_step
from jepa_core.objectives import ContextPath, Networks, Objective, PredictiveObjective
from jepa_core.optim import build_optimizer, set_hyperparameters
from jepa_core.regularizers import Regularizer, is_active
from jepa_core.schedules import Schedules

if TYPE_CHECKING:
    from jepa_core.build import Parts
    from jepa_core.config import RunConfig

__all__ = ["Callback", "ContextPath", "StepOutput", "Trainer"]

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@attrs.frozen
class StepOutput:
    """What one step produced. Tensors stay on the device (no host sync).

    ``parts`` holds the named parts of the loss when there are several (``loss_pred``,
    ``loss_reg`` with a regulariser), each averaged over the micro-batches like ``loss``.
    ``last_batch`` is the step's last micro-batch as the model saw it (already on the device; a
    reference, not a copy) so callbacks can look at inputs and masks (e.g.
    :mod:`jepa_core.monitors`). Drop the ``StepOutput`` before the next step if device memory
    is tight: it keeps that micro-batch alive (``fit`` does).
    """

    step: int
    loss: torch.Tensor
    grad_norm: torch.Tensor
    lr: float
    weight_decay: float
    momentum: float
    batch_size: int
    bad_samples: tuple[str, ...] = ()
    last_batch: Batch | None = attrs.field(default=None, repr=False, eq=False)
    parts: dict[str, torch.Tensor] = attrs.field(factory=dict, repr=False, eq=False)


class Trainer:
    """Owns the networks, optimizer, schedules and position; see the module docstring.

    The constructor takes each part on its own (a network or loss of your own); a recipe built
    from a config is best handed over whole with :meth:`from_parts`, which also passes its
    objective, regulariser and precision.

    >>> sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=len(loader))   # doctest: +SKIP
    >>> trainer = Trainer.from_parts(parts, cfg, schedules=sched)                              # doctest: +SKIP
    >>> out = trainer.train_step(next(iter(loader)))      # out.loss stays on the device        # doctest: +SKIP
    >>> trainer.fit(loader, epochs=1, callbacks=[])                                             # doctest: +SKIP
    """

    def __init__(
        self,
        encoder: nn.Module,
        predictor: nn.Module,
        target: nn.Module,
        loss: Loss,
        *,
        optim: OptimConfig,
        schedules: Schedules,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        wrap: Any = None,
        stop_check_every: int = 1,
        regularizer: Regularizer | None = None,
        objective: Objective | None = None,
    ) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} is not available here (no CUDA device); use 'cpu'")
        precision = resolve_precision("auto", self.device) if precision == "auto" else precision
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of auto, {', '.join(PRECISIONS)}, got {precision!r}")
        self.encoder = encoder.to(self.device)
        self.predictor = predictor.to(self.device)
        self.target: Any = target.to(self.device)  # a TargetProvider module (or the core's NoTarget)
        self.regularizer = regularizer if is_active(regularizer) else None
        self.objective = objective if objective is not None else PredictiveObjective()
        self.head = self.objective.head.to(self.device) if self.objective.head is not None else None
        self.nets = Networks(cast(TargetProvider, self.target), loss, self.regularizer)
        self.optim_cfg, self.schedules, self.precision = optim, schedules, precision
        path = self.objective.trainable_path(self.encoder, self.predictor, self.nets)
        self.context_path = wrap(path) if wrap is not None else path
        trained = [("encoder", self.encoder), ("predictor", self.predictor)]
        if self.head is not None:
            trained.append(("objective", self.head))
        self.optimizer = build_optimizer(trained, optim)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")
        self.step = 0
        self.epoch = 0
        self.step_in_epoch = 0
        self.stop_requested = False
        # Seconds this process has spent in fit waiting for the loader's next batch (host clock).
        self.data_wait_seconds = 0.0
        if stop_check_every < 1:
            raise ValueError(f"stop_check_every must be >= 1, got {stop_check_every!r}")
        self.stop_check_every = stop_check_every  # steps between ranks agreeing on a stop (see _stop_agreed)
        # Device-side fault tracking: number (1-based, as in the console and checkpoint names)
        # of the first step whose loss or gradient was non-finite, -1 if none. Never synced here.
        self.first_nonfinite_step = torch.full((), -1, dtype=torch.long, device=self.device)

    @classmethod
    def from_parts(
        cls,
        parts: Parts,
        cfg: RunConfig,
        *,
        schedules: Schedules,
        device: torch.device | str | None = None,
        precision: str | None = None,
        wrap: Any = None,
        stop_check_every: int = 1,
    ) -> Trainer:
        """A trainer for the recipe ``cfg`` whose components are ``parts``
        (:func:`~jepa_core.build.build_parts`): its networks, loss, objective and regulariser,
        ``cfg.optim``, and, unless given, ``cfg.train.device`` and ``cfg.train.precision`` resolved
        as ``jepa train`` resolves them (``auto``: this process's GPU if there is one, and bf16
        where the device computes it natively).

        >>> parts = build_parts(cfg, registry)                                  # doctest: +SKIP
        >>> trainer = Trainer.from_parts(parts, cfg, schedules=sched)          # doctest: +SKIP
        >>> trainer.precision         # lejepa_demo's auto, on a CPU with bf16 units # doctest: +SKIP
        'bf16'
        """
        device = select_device(cfg.train.device, detect()) if device is None else torch.device(device)
        return cls(
            parts.encoder,
            parts.predictor,
            parts.target,
            parts.loss,
            optim=cfg.optim,
            schedules=schedules,
            device=device,
            precision=precision if precision is not None else cfg.train.precision,  # auto: resolved for device
            wrap=wrap,
            stop_check_every=stop_check_every,
            regularizer=parts.regularizer,
            objective=parts.objective,
        )

    @property
    def loss_fn(self) -> Loss:
        """The loss between predictions and targets the objective uses (settable)."""
        return self.nets.loss

    @loss_fn.setter
    def loss_fn(self, loss: Loss) -> None:
        self.nets = attrs.evolve(self.nets, loss=loss)

    # ------------------------------------------------------------------ one step
    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def compute_loss(self, batch: Batch) -> torch.Tensor:
        """Forward pass only: the JEPA loss of ``batch`` (already on the device).

        Multi-mask batches (a tuple of MaskSets): the mean of the per-set losses.
        """
        return self.compute_loss_parts(batch)["loss"]

    def compute_loss_parts(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Forward pass only: ``{"loss": total}`` plus the objective's named parts when it has
        several (e.g. ``loss_pred`` and ``loss_reg`` with a regulariser); see
        :mod:`jepa_core.objectives`."""
        with self._autocast():
            return self.objective.loss_parts(self.context_path, batch, self.nets, step=self.step)

    def train_step(self, batch: Batch | Sequence[Batch]) -> StepOutput:
        """One optimisation step: loss, AdamW with this step's lr/wd, then EMA.

        ``batch`` may be a list of micro-batches: their gradients are accumulated (each loss
        weighted ``1/k``), which equals one step on their concatenation.
        """
        kind = "a jepa_core.data.Batch or a sequence of them"
        if isinstance(batch, (Mapping, str, bytes)) or not isinstance(batch, (Batch, Iterable)):
            raise TypeError(f"train_step takes {kind}, got {type(batch).__name__}")
        micro = [batch] if isinstance(batch, Batch) else list(batch)
        if not micro:
            raise ValueError("train_step needs at least one micro-batch, got an empty sequence")
        for item in micro:
            if not isinstance(item, Batch):
                raise TypeError(f"train_step takes {kind}, got a sequence holding {type(item).__name__}")
        lr = self.schedules.learning_rate(self.step)
        wd = self.schedules.weight_decay_at(self.step)
        momentum = self.schedules.momentum(self.step)
        set_hyperparameters(self.optimizer, lr, wd)

        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=self.device)
        parts: dict[str, torch.Tensor] = {}
        mb: Batch | None = None
        for i, mb in enumerate(micro):
            mb = mb.to(self.device, non_blocking=True)
            last = i == len(micro) - 1
            with parallel.gradient_sync(self.context_path, enabled=last):
                micro_parts = self.compute_loss_parts(mb)
                micro_loss = micro_parts["loss"] / len(micro)
                self.scaler.scale(micro_loss).backward()
            loss = loss + micro_loss.detach()
            for name, value in micro_parts.items():
                if name != "loss":
                    parts[name] = parts.get(name, 0) + value.detach().float() / len(micro)
        self.scaler.unscale_(self.optimizer)
        grads = [p.grad for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None]
        grad_norm = parallel.total_norm(grads) if grads else torch.zeros((), device=self.device)
        if self.optim_cfg.clip_grad is not None and self._clipping(self.step):
            torch.nn.utils.clip_grads_with_norm_(
                [p for g in self.optimizer.param_groups for p in g["params"]], self.optim_cfg.clip_grad, grad_norm
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.target.update(self.encoder, momentum)

        if self.precision != "fp16":  # fp16 overflow is the scaler's job: it skips the step
            self.first_nonfinite_step = record_step(self.first_nonfinite_step, self.step + 1, loss, grad_norm)
        bad = tuple(msg for mb in micro for msg in mb.bad_samples)
        out = StepOutput(
            self.step,
            loss,
            grad_norm.detach(),
            lr,
            wd,
            momentum,
            sum(len(b) for b in micro),
            bad,
            last_batch=mb,
            parts=parts,
        )
        self.step += 1
        self.step_in_epoch += 1
        return out

    def networks(self) -> dict[str, nn.Module]:
        """The networks a checkpoint holds, by state key: ``encoder``, ``predictor``, and
        ``target_encoder`` and ``objective`` (the objective's head) when there are any."""
        out = {"encoder": self.encoder, "predictor": self.predictor}
        target_encoder = self._target_encoder()
        if target_encoder is not None:
            out["target_encoder"] = target_encoder
        if self.head is not None:
            out["objective"] = self.head
        return out

    def _target_encoder(self) -> nn.Module | None:
        encoder = getattr(self.target, "encoder", None)
        return encoder if isinstance(encoder, nn.Module) else None

    def _clipping(self, step: int) -> bool:
        """Whether ``clip_grad`` applies at ``step`` (always, or after warmup if so configured)."""
        return not self.optim_cfg.clip_grad_after_warmup or step >= self.schedules.warmup_steps

    # --------------------------------------------------------------------- fit
    def fit(
        self,
        loader: Iterable[Batch],
        *,
        epochs: int,
        max_steps: int | None = None,
        accum_steps: int | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        """Train from the current position to ``epochs`` (or ``max_steps``), resuming mid-epoch.

        The loader yields micro-batches; ``accum_steps`` of them (default: the sampler's
        ``accum_steps``, else 1) make one step.
        """
        for name, value in (("epochs", epochs), ("max_steps", max_steps), ("accum_steps", accum_steps)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
                raise ValueError(f"fit's {name} must be a whole number >= 1, got {value!r}")
        sampler = getattr(loader, "batch_sampler", None)
        accum = accum_steps or int(getattr(sampler, "accum_steps", 1))
        set_epoch = getattr(sampler, "set_epoch", None)
        for cb in callbacks:
            _call(cb, "on_fit_start", self)
        while self.epoch < epochs and not self._done(max_steps):
            if set_epoch is not None:
                set_epoch(self.epoch, start_step=self.step_in_epoch)
            for batch in self._timed(_group(loader, accum)):
                out = self.train_step(batch)
                for cb in callbacks:
                    _call(cb, "on_step_end", self, out)
                del out  # frees the last micro-batch on the device before the next step loads one
                if self._done(max_steps):
                    break
            else:
                self.epoch += 1
                self.step_in_epoch = 0
                for cb in callbacks:
                    _call(cb, "on_epoch_end", self, self.epoch)
        for cb in callbacks:
            _call(cb, "on_fit_end", self)

    def _timed(self, batches: Iterable[Batch | list[Batch]]) -> Iterator[Batch | list[Batch]]:
        """``batches``, adding the time each ``next`` takes (loading, collating, waiting for the
        data workers) to :attr:`data_wait_seconds`."""
        it = iter(batches)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            self.data_wait_seconds += time.perf_counter() - t0
            if batch is None:
                return
            yield batch

    def _done(self, max_steps: int | None) -> bool:
        return self._stop_agreed() or (max_steps is not None and self.step >= max_steps)

    def _stop_agreed(self) -> bool:
        """``stop_requested``, agreed by every rank when distributed: any rank's request stops all.

        Ranks may receive a signal a step apart; stopping apart would leave one rank saving a
        checkpoint while another waits in the next step's collective. So the flag is all-reduced
        (MAX), every ``stop_check_every`` steps only (the check is a host sync); all ranks hold the
        same step count, so they check at the same steps. One process: the local flag, no sync.
        """
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self.stop_requested
        if self.step % self.stop_check_every:
            return False
        flag = torch.tensor([1 if self.stop_requested else 0], dtype=torch.int32, device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        self.stop_requested = bool(flag.item())
        return self.stop_requested

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: networks, optimizer, scaler, position, RNGs."""
        return {
            # Full (unsharded) states in one format for every strategy; a collective under FSDP.
            "encoder": parallel.module_state_dict(self.encoder),
            "predictor": parallel.module_state_dict(self.predictor),
            "target_encoder": parallel.module_state_dict(self.target.encoder) if self._target_encoder() else {},
            **({"objective": parallel.module_state_dict(self.head)} if self.head is not None else {}),
            "opt": parallel.optimizer_state_dict(self.context_path, self.optimizer),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "rng": rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; a mismatch is a :class:`CheckpointError` naming it.

        >>> trainer.load_state_dict(load_checkpoint(latest_checkpoint(folder)))   # doctest: +SKIP
        """
        for what in ("encoder", "predictor", "target_encoder", "opt", "step", "epoch", "step_in_epoch"):
            if what not in state:
                raise CheckpointError(
                    f"the checkpoint has no '{what}' state; keys present: {', '.join(sorted(state))}."
                )
        has_predictor = bool(self.predictor.state_dict())
        if bool(state["predictor"]) != has_predictor:
            held = "holds a predictor" if state["predictor"] else "holds no predictor"
            trains = "trains one" if has_predictor else "has none (predictor 'none')"
            raise CheckpointError(
                f"the checkpoint {held} but this run's objective {trains}; it was trained with another objective."
            )
        modules = [("encoder", self.encoder), ("predictor", self.predictor)]
        target_encoder = self._target_encoder()
        if target_encoder is not None:
            modules.append(("target_encoder", target_encoder))
        elif state["target_encoder"]:
            raise CheckpointError(
                "the checkpoint holds a target encoder but this run's objective has none "
                "(target 'none'); it was trained with another objective."
            )
        if self.head is not None:
            if "objective" not in state:
                raise CheckpointError(
                    "the checkpoint has no 'objective' state (e.g. LeJEPA's projector); "
                    "it was trained with another objective."
                )
            modules.append(("objective", self.head))
        for what, module in modules:
            parallel.load_module_state(module, strip_prefix(state[what]), what=what)
        try:
            parallel.load_optimizer_state(self.context_path, self.optimizer, state["opt"])
        except (ValueError, KeyError) as err:
            raise CheckpointError(f"the optimizer state in the checkpoint does not match the model: {err}.") from err
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.step_in_epoch = int(state["step_in_epoch"])
        if "rng" in state:
            set_rng_state(state["rng"])


def _group(loader: Iterable[Batch], size: int):
    """Yield lists of ``size`` consecutive micro-batches (a single Batch when ``size`` is 1)."""
    if size == 1:
        yield from loader
        return
    group: list[Batch] = []
    for batch in loader:
        group.append(batch)
        if len(group) == size:
            yield group
            group = []


def _call(cb: Callback, name: str, *args: Any) -> None:
    fn = getattr(cb, name, None)
    if fn is not None:
        fn(*args)


def rng_state() -> dict[str, Any]:
    """Every RNG as plain tensors/ints (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state(legacy=True)  # the default; numpy's stubs type only legacy=False's dict
    assert isinstance(np_state, tuple)  # the global RandomState is always MT19937
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`get_rng_state`'s states; its tensors may sit on any device (a checkpoint
    loaded with ``map_location='cuda'``): the generators take CPU byte tensors."""
    torch.set_rng_state(state["torch"].cpu())
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
