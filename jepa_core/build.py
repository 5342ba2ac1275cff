"""Building a run's parts from its config: the model-side components, the encoder alone, a dataset split.

>>> registry = build_registry()
>>> cfg = registry.preset("image", "demo").build()
>>> parts = build_parts(cfg, registry)                  # doctest: +SKIP
>>> train_set = build_dataset(cfg, registry, "train")   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

from jepa_core.config import RunConfig
from jepa_core.data import KeyedDataset
from jepa_core.errors import ConfigError
from jepa_core.interfaces import Loss, Masker
from jepa_core.objectives import Objective
from jepa_core.registry import Registry
from jepa_core.regularizers import Regularizer


@attrs.frozen
class Parts:
    """The model-side components of a run, built by :func:`build_parts`."""

    encoder: torch.nn.Module
    predictor: torch.nn.Module
    target: torch.nn.Module
    loss: Loss
    masker: Masker
    regularizer: Regularizer | None = None
    objective: Objective | None = None


def build_parts(cfg: RunConfig, registry: Registry, *, seed: int | None = None) -> Parts:
    """Build every model-side component named in ``cfg`` (seeded, so init is reproducible).

    A component that rejects its options with ``ValueError`` (e.g. a width that does not split
    into the heads) becomes a :class:`ConfigError` naming the config section.

    >>> parts = build_parts(cfg, build_registry())          # doctest: +SKIP
    >>> parts.encoder.token_grid                            # doctest: +SKIP
    (8, 8)
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


def build_encoder(cfg: RunConfig, registry: Registry, *, seed: int | None = None) -> torch.nn.Module:
    """The encoder alone, initialised exactly as :func:`build_parts` initialises it (the same seed,
    built first): the network at its random init, for baselines.

    >>> encoder = build_encoder(cfg, registry)  # doctest: +SKIP
    >>> encoder.state_dict().keys() == build_parts(cfg, registry).encoder.state_dict().keys()  # doctest: +SKIP
    True
    """
    torch.manual_seed(cfg.train.seed if seed is None else seed)
    return _build(cfg, registry, "encoder")


def _build(cfg: RunConfig, registry: Registry, section: str, *args: Any) -> Any:
    component = getattr(cfg, section)
    try:
        return registry.get(section, component.name).build(component.options, *args)
    except ValueError as err:
        raise ConfigError(
            f"the {section} '{component.name}' rejects its options ({err}); fix the {section}.* values."
        ) from err


def build_dataset(cfg: RunConfig, registry: Registry, split: str) -> Any:
    """``split`` (``train``, ``train_eval`` or ``val``) of the dataset ``cfg.data`` names.

    >>> len(build_dataset(cfg, registry, "val"))           # doctest: +SKIP
    1024
    """
    return registry.get("dataset", cfg.data.name).build(cfg.data.options, split)


class SplitCache:
    """Each split of ``cfg.data`` built at most once, so the readers of one run (the online
    evaluation, the collapse report, the end-of-run probe) share the dataset objects: a
    synthetic dataset draws its images once, a cached folder decodes them once. Errors are not
    kept: asking again builds again.

    >>> splits = SplitCache(cfg, registry)          # doctest: +SKIP
    >>> splits("val") is splits("val")              # doctest: +SKIP
    True
    """

    def __init__(self, cfg: RunConfig, registry: Registry) -> None:
        self._cfg = cfg
        self._registry = registry
        self._built: dict[str, Any] = {}

    def __call__(self, split: str) -> Any:
        if split not in self._built:
            self._built[split] = build_dataset(self._cfg, self._registry, split)
        return self._built[split]


def first_readable_sample(dataset: Any, seed: int) -> torch.Tensor:
    """The input of sample 0, or of the next readable one if it is unreadable (as in training).

    Seeded like training reads (:class:`~jepa_core.data.KeyedDataset`), so it draws nothing
    from the global RNG.

    >>> first_readable_sample(dataset, seed=0).shape        # doctest: +SKIP
    torch.Size([3, 224, 224])
    """
    return KeyedDataset(dataset, seed)[(0, 0, 0, 0)][0]
