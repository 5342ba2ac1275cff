"""Drive the jepaforge trainer from your own loop (no CLI, no run directory).

    python examples/embed_trainer.py

Builds the image plugin's demo components through the registry, then calls
``trainer.train_step(batch)`` itself, syncing with the host only when it prints.
"""

from __future__ import annotations

import attrs

from jepa_core import Trainer, build_registry
from jepa_core.data import build_loader
from jepa_core.run import build_dataset, build_parts
from jepa_core.schedules import Schedules


def main(steps: int = 20, batch_size: int = 32) -> list[float]:
    registry = build_registry()
    cfg = registry.preset("image", "demo").build()
    cfg = attrs.evolve(cfg, encoder=attrs.evolve(cfg.encoder, options=attrs.evolve(cfg.encoder.options, depth=2)))
    parts = build_parts(cfg, registry)
    loader = build_loader(
        build_dataset(cfg, registry, "train"),
        parts.masker,
        grid=parts.encoder.token_grid,
        micro_batch=batch_size,
        seed=0,
    )
    schedules = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=steps)
    trainer = Trainer.from_parts(parts, cfg, schedules=schedules)  # the preset's objective and regulariser too
    losses = []
    for i, batch in enumerate(loader):
        if i == steps:
            break
        out = trainer.train_step(batch)  # out.loss is a device tensor: no sync here
        losses.append(out.loss)
        if (i + 1) % 5 == 0:
            print(f"step {i + 1}: loss {out.loss.item():.4f}")  # sync only when printing
    return [float(loss) for loss in losses]


if __name__ == "__main__":
    main()
