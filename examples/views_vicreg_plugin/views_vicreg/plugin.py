"""``views_vicreg``: VICReg (Bardes et al. 2022) as a jepaforge objective, written against the
public core API only.

Each sample comes as several views (token views from the ``token_views`` masker, or crops from a
multi-crop data transform); the core's :class:`~jepa_core.objectives.ViewPath` encodes and
mean-pools them and a small projector maps them to ``proj_dim``. The loss is
``invariance_weight * invariance + vicreg(projections)``: the configured ``loss`` between each
view's projection and the mean projection of the global views, plus the core VICReg regulariser's
variance and covariance terms on each view::

    jepa -p views_vicreg.plugin train --plugin image --preset demo --set objective.name=views_vicreg \\
        --set target.name=none --set predictor.name=none --set masker.name=token_views --set loss.name=l2 \\
        --set regularizer.name=none
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from jepa_core import hookimpl
from jepa_core.interfaces import TokenViews
from jepa_core.objectives import ViewPath, global_view_count
from jepa_core.regularizers import VICReg, VICRegConfig
from jepa_core.specs import ObjectiveSpec

JEPA_PLUGIN_NAME = "views_vicreg"


@attrs.frozen(kw_only=True)
class ViewsVICRegConfig:
    """Projector width and the weights of the three VICReg terms."""

    proj_dim: int = 64
    invariance_weight: float = 25.0
    variance_weight: float = 25.0
    covariance_weight: float = 1.0


class ViewsVICReg:
    """The objective: ``head`` (the projector) is trained and checkpointed by the core."""

    def __init__(self, cfg: ViewsVICRegConfig, encoder: nn.Module) -> None:
        self.cfg = cfg
        dim = int(encoder.embed_dim)
        self.head = nn.Sequential(
            nn.Linear(dim, cfg.proj_dim), nn.LayerNorm(cfg.proj_dim), nn.GELU(), nn.Linear(cfg.proj_dim, cfg.proj_dim)
        )
        self.vicreg = VICReg(VICRegConfig(variance_weight=cfg.variance_weight, covariance_weight=cfg.covariance_weight))

    def trainable_path(self, encoder: nn.Module, predictor: nn.Module, nets) -> nn.Module:
        return ViewPath(encoder, self.head)

    def loss_parts(self, path, batch, nets, *, step: int) -> dict[str, torch.Tensor]:
        if isinstance(batch.masks, TokenViews):
            _, proj = path(batch.inputs, batch.masks.keep)  # [V, B, P]
            num_global = batch.masks.num_global
        else:
            _, proj = path(batch.inputs)
            num_global = global_view_count(batch.inputs)
        centre = proj[:num_global].mean(0, keepdim=True)
        invariance = nets.loss(proj, centre.expand_as(proj))
        spread = torch.stack([self.vicreg(p, step=step) for p in proj]).mean()
        loss = self.cfg.invariance_weight * invariance + spread
        return {"loss": loss, "loss_inv": invariance, "loss_vicreg": spread}


@hookimpl
def jepa_objectives():
    yield ObjectiveSpec(
        name="views_vicreg",
        config_type=ViewsVICRegConfig,
        build=ViewsVICReg,
        description="VICReg over views: invariance + variance + covariance on a projector (example plugin)",
        excludes=("target", "predictor", "regularizer"),
        example=lambda: ViewsVICRegConfig(proj_dim=16),
    )
