"""Per-iteration schedules of the I-JEPA recipe, as pure functions of the step.

``step`` counts optimizer steps from 0; ``total`` is the schedule horizon
``ipe_scale * epochs * iterations_per_epoch``.

>>> s = Schedules(lr=1e-3, start_lr=2e-4, final_lr=1e-6, warmup_steps=10, total_steps=100,
...               weight_decay=0.04, final_weight_decay=0.4, ema_start=0.996, ema_end=1.0)
>>> s.learning_rate(0), s.learning_rate(10)
(0.0002, 0.001)
"""

from __future__ import annotations

import math
import numbers

import attrs


def warmup_cosine(step: int, *, start: float, peak: float, final: float, warmup: int, total: int) -> float:
    """Linear ``start -> peak`` over ``warmup`` steps, then cosine ``peak -> final`` until ``total``."""
    if step < warmup:
        return start + (peak - start) * step / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def cosine(step: int, *, start: float, final: float, total: int) -> float:
    """Cosine from ``start`` (step 0) to ``final`` (step ``total``); may increase."""
    progress = min(1.0, step / max(1, total))
    return final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


def linear(step: int, *, start: float, final: float, total: int) -> float:
    """Linear from ``start`` (step 0) to ``final`` (step ``total``), then held."""
    progress = min(1.0, step / max(1, total))
    return start + (final - start) * progress


def warmup_constant_cooldown(
    step: int, *, start: float, peak: float, final: float, warmup: int, cooldown: int, total: int
) -> float:
    """Linear ``start -> peak`` over ``warmup`` steps, ``peak`` until ``total - cooldown``, then
    linear ``peak -> final`` over the last ``cooldown`` steps (V-JEPA 2's schedule).

    >>> [warmup_constant_cooldown(s, start=0.0, peak=1.0, final=0.0, warmup=2, cooldown=2, total=10)
    ...  for s in (1, 5, 9, 10)]
    [0.5, 1.0, 0.5, 0.0]
    """
    if step < warmup:
        return start + (peak - start) * step / warmup
    begin = total - cooldown
    if step < begin or cooldown <= 0:
        return peak
    return peak + (final - peak) * min(1.0, (step - begin) / cooldown)


LR_SCHEDULES = ("warmup_cosine", "warmup_constant_cooldown")


@attrs.frozen(kw_only=True)
class Schedules:
    """Learning rate, weight decay and EMA momentum at any step.

    ``lr_schedule`` ``warmup_cosine`` (I-JEPA, V-JEPA) or ``warmup_constant_cooldown`` (V-JEPA 2:
    constant after warmup, linear to ``final_lr`` over the last ``cooldown_steps``).
    """

    lr: float
    start_lr: float
    final_lr: float
    warmup_steps: int
    total_steps: int
    weight_decay: float
    final_weight_decay: float
    ema_start: float
    ema_end: float
    lr_schedule: str = attrs.field(default="warmup_cosine", validator=attrs.validators.in_(LR_SCHEDULES))
    cooldown_steps: int = 0
    ema_schedule: str = attrs.field(default="linear", validator=attrs.validators.in_(("linear", "cosine")))

    def learning_rate(self, step: int) -> float:
        if self.lr_schedule == "warmup_constant_cooldown":
            return warmup_constant_cooldown(
                step,
                start=self.start_lr,
                peak=self.lr,
                final=self.final_lr,
                warmup=self.warmup_steps,
                cooldown=self.cooldown_steps,
                total=self.total_steps,
            )
        return warmup_cosine(
            step,
            start=self.start_lr,
            peak=self.lr,
            final=self.final_lr,
            warmup=self.warmup_steps,
            total=self.total_steps,
        )

    def weight_decay_at(self, step: int) -> float:
        return cosine(step, start=self.weight_decay, final=self.final_weight_decay, total=self.total_steps)

    def momentum(self, step: int) -> float:
        if self.ema_schedule == "cosine":  # Audio-JEPA
            return cosine(step, start=self.ema_start, final=self.ema_end, total=self.total_steps)
        return linear(step, start=self.ema_start, final=self.ema_end, total=self.total_steps)

    def misfits(self) -> list[str]:
        """What in the lr schedule does not fit the run's length: a warmup that covers the whole run
        (the lr never reaches its peak), or a warmup and cooldown that overlap. Empty when it fits.

        >>> Schedules(lr=1e-3, start_lr=0.0, final_lr=0.0, warmup_steps=20, total_steps=10, weight_decay=0.0,
        ...           final_weight_decay=0.0, ema_start=1.0, ema_end=1.0).misfits()
        ['the lr warmup (20 steps) is as long as the whole schedule (10 steps): the lr never reaches its peak 0.001']
        """
        if self.warmup_steps >= self.total_steps and self.lr != self.start_lr:
            return [
                f"the lr warmup ({self.warmup_steps} steps) is as long as the whole schedule "
                f"({self.total_steps} steps): the lr never reaches its peak {self.lr:g}"
            ]
        overlap = (
            self.lr_schedule == "warmup_constant_cooldown"
            and self.warmup_steps + self.cooldown_steps > self.total_steps
        )
        if overlap:
            return [
                f"the lr warmup ({self.warmup_steps} steps) and cooldown ({self.cooldown_steps} steps) are longer "
                f"than the whole schedule ({self.total_steps} steps): the cooldown starts before the warmup ends"
            ]
        return []

    @classmethod
    def from_config(cls, optim, *, epochs: int, iterations_per_epoch: int) -> Schedules:
        """Build from an :class:`~jepa_core.config.OptimConfig` and the run length (both at least 1)."""
        for name, value in (("epochs", epochs), ("iterations_per_epoch", iterations_per_epoch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        total = max(1, int(optim.ipe_scale * epochs * iterations_per_epoch))
        return cls(
            lr=optim.lr,
            start_lr=optim.start_lr,
            final_lr=optim.final_lr,
            warmup_steps=int(optim.warmup_epochs * iterations_per_epoch),
            total_steps=total,
            weight_decay=optim.weight_decay,
            final_weight_decay=optim.final_weight_decay,
            ema_start=optim.ema_start,
            ema_end=optim.ema_end,
            lr_schedule=optim.lr_schedule,
            cooldown_steps=int(optim.cooldown_epochs * iterations_per_epoch),
            ema_schedule=optim.ema_schedule,
        )
