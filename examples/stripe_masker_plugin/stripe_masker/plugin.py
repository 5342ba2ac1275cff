"""A complete third-party masker plugin: targets are horizontal stripes of the token grid.

Install it (``pip install -e examples/stripe_masker_plugin``) and it is available everywhere:

    jepa plugins                                   # lists 'stripes' and its masker
    jepa train --plugin image --preset demo --set masker.name=stripes --set masker.rows=2

Without installing, load it explicitly: ``jepa -p stripe_masker.plugin ...`` with the folder on
PYTHONPATH.
"""

from __future__ import annotations

import attrs
import torch

from jepa_core import MaskSet, hookimpl
from jepa_core.errors import MaskingError
from jepa_core.specs import Example, MaskerSpec

JEPA_PLUGIN_NAME = "stripes"


@attrs.frozen
class StripeConfig:
    """``num_targets`` stripes of ``rows`` grid rows each; the context is every other row."""

    num_targets: int = 2
    rows: int = 1


class StripeMasker:
    """Picks ``num_targets`` distinct row-stripes per image as targets; context = the rest."""

    def __init__(self, cfg: StripeConfig) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        if len(grid) != 2:
            raise MaskingError(f"the stripes masker needs a 2-D token grid, got {grid}.")
        gh, gw = grid
        stripes = gh // self.cfg.rows
        if self.cfg.num_targets >= stripes:
            raise MaskingError(
                f"masker.num_targets={self.cfg.num_targets} leaves no context: the {gh}-row grid holds "
                f"{stripes} stripes of {self.cfg.rows} rows; use fewer targets or thinner stripes."
            )
        contexts, targets = [], []
        for _ in range(batch_size):
            chosen = torch.randperm(stripes, generator=generator)[: self.cfg.num_targets]
            blocks = [
                (torch.arange(s * self.cfg.rows, (s + 1) * self.cfg.rows)[:, None] * gw + torch.arange(gw)).flatten()
                for s in chosen.tolist()
            ]
            covered = torch.zeros(gh * gw, dtype=torch.bool)
            for b in blocks:
                covered[b] = True
            targets.append(torch.stack(blocks))  # [M, rows*gw]
            contexts.append(torch.nonzero(~covered).squeeze(1))
        return MaskSet(context=torch.stack(contexts), targets=torch.stack(targets))


@hookimpl
def jepa_maskers():
    yield MaskerSpec(
        name="stripes",
        config_type=StripeConfig,
        build=StripeMasker,
        description="example plugin: predict whole rows of the token grid",
        # small options for the conformance kit (jepa_core.testing): 2 one-row stripes of a 4x5 grid
        example=lambda: Example(options=StripeConfig(), grid=(4, 5)),
    )
