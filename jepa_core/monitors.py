"""TensorBoard training monitors: representation-collapse scalars and pictures of the masks.

Two callbacks (:class:`~jepa_core.callback_base.Callback`) that look at the step's last
micro-batch (``StepOutput.last_batch``, already on the device). Both do nothing, and make no
host sync, on the steps where they do not fire::

    progress = ProgressLogger(total_steps=1000, log_every=20, tensorboard_dir="runs/x/tensorboard")
    callbacks = [progress, CollapseMonitor(progress, every=100), MaskPictures(progress, every=500)]
    trainer.fit(loader, epochs=1, callbacks=callbacks)                  # doctest: +SKIP

:class:`CollapseMonitor` (every ``every`` steps) runs each encoder once more on the full input,
under ``torch.no_grad()``, in eval mode and with the global RNG forked, so training, its random
stream and its results are unchanged. It mean-pools the output tokens to ``[B, D]`` and logs

* ``monitor/target_feature_std`` / ``monitor/context_feature_std``: :func:`feature_spread`,
  the mean per-channel std across the batch of L2-normalised features, times ``sqrt(D)``:
  about 1 for isotropic features, 0 under complete collapse;
* ``monitor/target_effective_rank`` / ``monitor/context_effective_rank``:
  :func:`effective_rank` (RankMe): ``exp`` of the entropy of the normalised singular values
  of the centred features, between 0 and ``min(B - 1, D)``; a fall signals dimensional collapse.

The target scalars need a target provider with an ``.encoder`` (the built-in EMA one has it);
an encoder sharded by FSDP is skipped (running it on one rank would start collectives the
other ranks never join). ``train/grad_norm`` is already logged by
:class:`~jepa_core.progress.ProgressLogger`. A prediction spread is not logged: it would cost
an extra context-encoder *and* predictor forward (or holding every step's predictions).

:class:`MaskPictures` (every ``every`` steps) logs the image ``masks``: for the first
``max_samples`` samples, each token of the grid as a ``scale x scale`` square (grey unused,
blue context, one colour per target block, a later block drawn over an earlier one), samples
side by side. 1-D grids are a strip, grids with more than two axes (video ``T, H, W``) are
their 2-D frames side by side. When the inputs are images ``[B, 1 or 3, H, W]`` whose size the
2-D grid divides, ``masks_on_input`` blends the same colours over the min/max-scaled image.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jepa_core import parallel
from jepa_core.callback_base import Callback
from jepa_core.data import first_view
from jepa_core.interfaces import MaskSet, TokenViews, mask_sets

UNUSED_COLOUR: tuple[int, int, int] = (128, 128, 128)
CONTEXT_COLOUR: tuple[int, int, int] = (31, 119, 180)
TARGET_COLOURS: tuple[tuple[int, int, int], ...] = (  # target block m gets TARGET_COLOURS[m % 8]
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
    (140, 86, 75),
)
GAP_COLOUR = 255  # white separators between frames and samples


# ----------------------------------------------------------------- collapse statistics


def _check_shape(what: str, features: torch.Tensor, shape: str) -> None:
    """``features`` has as many dimensions as ``shape`` names (``"[B, D]"``: 2), else one ValueError."""
    if features.ndim != shape.count(",") + 1:
        raise ValueError(f"{what} takes features {shape}, got shape {tuple(features.shape)}")


def feature_spread(features: torch.Tensor) -> torch.Tensor:
    """Mean over channels of the per-channel std across the batch of L2-normalised rows, x sqrt(D).

    ``features [B, D]`` -> 0-d float32 tensor. Rows on the unit sphere have per-channel std
    about ``1/sqrt(D)`` when spread isotropically, so the ``sqrt(D)`` factor puts that at about
    1 whatever ``D``; identical rows (complete collapse) give 0. No host sync.

    >>> float(feature_spread(torch.ones(8, 4)))
    0.0
    >>> bool(feature_spread(torch.randn(4096, 16)) > 0.95)
    True
    """
    _check_shape("feature_spread", features, "[B, D]")
    b, d = features.shape
    z = F.normalize(features.float(), dim=-1)  # [B, D], unit rows
    std = z.std(dim=0, correction=1 if b > 1 else 0)  # [D]
    return std.mean() * math.sqrt(d)


def effective_rank(features: torch.Tensor) -> torch.Tensor:
    """RankMe effective rank: ``exp`` of the entropy of the normalised singular values.

    ``features [B, D]`` -> 0-d float32 tensor in ``[0, min(B - 1, D)]``. The rows are centred
    first; singular values below float32 round-off of the features' size are treated as 0, so
    identical rows give 0 and rank-1 data gives 1. Non-finite features give NaN. No host sync.

    >>> round(float(effective_rank(torch.randn(4096, 8))))
    8
    >>> round(float(effective_rank(torch.randn(64, 1) * torch.randn(1, 8))))
    1
    """
    _check_shape("effective_rank", features, "[B, D]")
    f = features.float()
    finite = torch.isfinite(f).all()
    f = torch.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
    centred = f - f.mean(dim=0, keepdim=True)  # [B, D]
    s = torch.linalg.svdvals(centred)  # [min(B, D)]
    tol = 8 * torch.finfo(torch.float32).eps * torch.linalg.matrix_norm(f)  # round-off of centring and SVD
    s = torch.where(s > tol, s, torch.zeros_like(s))
    total = s.sum()
    p = s / total.clamp_min(torch.finfo(torch.float32).tiny)  # [min(B, D)], sums to 1 (or all 0)
    entropy = -(p * torch.log(p.clamp_min(torch.finfo(torch.float32).tiny))).sum()
    rank = torch.where(total > 0, torch.exp(entropy), torch.zeros_like(entropy))
    return torch.where(finite, rank, torch.full_like(rank, float("nan")))


def lidar(features: torch.Tensor, delta: float = 0.1) -> torch.Tensor:
    """LiDAR (Thilak et al., 2023): the effective rank of the linear-discriminant matrix of
    ``features [n, q, D]``, ``n`` surrogate classes (samples) of ``q`` views each.

    With ``m_i`` the mean of sample ``i``'s views, the between-sample scatter ``S_b`` is the
    covariance of the ``m_i`` and the within-sample scatter ``S_w`` the pooled covariance of the
    views around their ``m_i``, plus a ridge of ``delta`` times the features' mean variance. LiDAR is
    ``exp`` of the entropy of the normalised eigenvalues of ``S_w^-1/2 S_b S_w^-1/2``: the number of
    directions in which samples differ more than the views of one sample, between 0 and
    ``min(n - 1, D)``; identical features give 0. Non-finite features give NaN. Computed in
    float64; no host sync. The ridge, relative to the features' spread, keeps the value independent
    of their scale and stops directions of negligible variance from counting as fully as the rest
    (a negligible ridge counts them: ``docs/results.md``, "LiDAR and RankMe").

    >>> centres = torch.randn(512, 1, 8)
    >>> round(float(lidar(centres + 0.01 * torch.randn(512, 4, 8))))
    8
    >>> centres = torch.cat([torch.randn(512, 1, 2), torch.zeros(512, 1, 6)], dim=-1)  # 2 directions
    >>> round(float(lidar(centres + 0.01 * torch.randn(512, 4, 8))))
    2
    >>> float(lidar(torch.ones(64, 4, 8)))
    0.0
    """
    _check_shape("LiDAR", features, "[n, q, D]")
    n, q, d = features.shape
    if n < 2 or q < 2:
        raise ValueError(f"LiDAR needs at least 2 samples of 2 views each, got features of shape {(n, q, d)}")
    f = features.double()
    finite = torch.isfinite(f).all()
    f = torch.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
    means = f.mean(dim=1)  # [n, D]
    between = means - means.mean(dim=0)  # [n, D]
    within = (f - means[:, None]).reshape(n * q, d)  # [n q, D]
    s_b = between.T @ between / (n - 1)  # [D, D]
    s_w = within.T @ within / (n * (q - 1))  # [D, D]
    tiny = torch.finfo(torch.float64).tiny
    scale = (s_w.diagonal() + s_b.diagonal()).mean()
    s_w = s_w + (delta * scale).clamp_min(tiny) * torch.eye(d, dtype=f.dtype, device=f.device)
    evals, evecs = torch.linalg.eigh(s_w)
    whiten = evecs * evals.clamp_min(tiny).rsqrt() @ evecs.T  # S_w^-1/2
    lam = torch.linalg.eigvalsh(whiten @ s_b @ whiten).clamp_min(0)  # [D]
    total = lam.sum()
    p = lam / total.clamp_min(tiny)
    entropy = -(p * torch.log(p.clamp_min(tiny))).sum()
    rank = torch.where((total > 0) & (scale > 0), torch.exp(entropy), torch.zeros_like(entropy))
    return torch.where(finite, rank, torch.full_like(rank, float("nan"))).float()


def pooled_features(encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The encoder's output tokens on the full input, averaged: ``x`` -> ``[B, D]`` float32.

    >>> pooled_features(encoder, batch.inputs).shape                    # doctest: +SKIP
    torch.Size([64, 768])
    """
    tokens = encoder(x)  # [B, N, D]
    return tokens.float().mean(dim=1)  # [B, D]


@contextlib.contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; afterwards every submodule's own train/eval flag is restored.

    >>> net = nn.Sequential(nn.Dropout(), nn.Dropout().eval())
    >>> with evaluating(net):
    ...     net.training
    False
    >>> [m.training for m in net.modules()]
    [True, True, False]
    """
    saved = [(m, m.training) for module in modules for m in module.modules()]  # pre-order: parents first
    try:
        for module in modules:
            module.eval()
        yield
    finally:
        for m, flag in saved:  # a parent's train() recurses; its children are set again right after
            m.train(flag)


@contextlib.contextmanager
def untouched_rng(device: torch.device) -> Iterator[None]:
    """Restore the CPU RNG (and ``device``'s CUDA RNG) on exit: whatever ran inside drew nothing.

    >>> before = torch.get_rng_state()
    >>> with untouched_rng(torch.device("cpu")):
    ...     _ = torch.rand(3)
    >>> torch.equal(before, torch.get_rng_state())
    True
    """
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        yield


def _writer(writer_or_logger: Any) -> Any:
    """A SummaryWriter-like object (``add_scalar``), or the ``.writer`` of a logger (may be None)."""
    if writer_or_logger is None or hasattr(writer_or_logger, "add_scalar"):
        return writer_or_logger
    return getattr(writer_or_logger, "writer", None)


def _check_every(every: int) -> int:
    if every < 0:
        raise ValueError(f"every must be >= 0 (0 turns the monitor off), got {every!r}")
    return every


def _due(writer_or_logger: Any, every: int, trainer: Any, out: Any) -> tuple[Any, Any] | None:
    """``(writer, last micro-batch)`` when a monitor firing every ``every`` steps is due, else None."""
    if not every or trainer.step % every:
        return None
    writer, batch = _writer(writer_or_logger), getattr(out, "last_batch", None)
    if writer is None or batch is None:
        return None
    return writer, batch


class CollapseMonitor(Callback):
    """Logs ``monitor/{target,context}_{feature_std,effective_rank}`` every ``every`` steps.

    ``writer_or_logger``: a ``SummaryWriter`` (anything with ``add_scalar``) or an object with
    a ``.writer`` attribute such as :class:`~jepa_core.progress.ProgressLogger`, looked up each
    time the monitor fires (nothing is logged while it is None). ``every=0`` turns it off.
    Cost when it fires: one no-grad forward of each encoder on the last micro-batch and one
    host sync; nothing otherwise. The values of the last firing are kept in :attr:`last`.

    >>> monitor = CollapseMonitor(writer, every=100)                    # doctest: +SKIP
    >>> trainer.fit(loader, epochs=1, callbacks=[monitor])             # doctest: +SKIP
    >>> monitor.last                                                   # doctest: +SKIP
    {'monitor/target_feature_std': 0.61, 'monitor/target_effective_rank': 41.2, ...}
    """

    def __init__(self, writer_or_logger: Any, every: int = 100) -> None:
        self.writer_or_logger, self.every = writer_or_logger, _check_every(every)
        self.last: dict[str, float] = {}

    def encoders(self, trainer: Any) -> list[tuple[str, nn.Module]]:
        """``(name, encoder)`` pairs to measure: target (if the provider has one) and context, unsharded only."""
        found = [("target", getattr(trainer.target, "encoder", None)), ("context", trainer.encoder)]
        return [(name, enc) for name, enc in found if isinstance(enc, nn.Module) and not parallel.is_sharded(enc)]

    def measure(self, trainer: Any, x: torch.Tensor) -> dict[str, float]:
        """The scalars for inputs ``x`` (on the trainer's device); one host sync. Training is unaffected."""
        encoders = self.encoders(trainer)
        if not encoders:
            return {}
        autocast = getattr(trainer, "_autocast", contextlib.nullcontext)
        stats: dict[str, torch.Tensor] = {}
        device = torch.device(getattr(trainer, "device", x.device))
        with torch.no_grad(), untouched_rng(device), evaluating(*(enc for _, enc in encoders)):
            for name, encoder in encoders:
                with autocast():
                    feats = pooled_features(encoder, x)  # [B, D]
                stats[f"monitor/{name}_feature_std"] = feature_spread(feats)
                stats[f"monitor/{name}_effective_rank"] = effective_rank(feats)
        values = torch.stack(list(stats.values())).cpu().tolist()  # the one host sync
        return dict(zip(stats, values, strict=True))

    def on_step_end(self, trainer: Any, out: Any) -> None:
        due = _due(self.writer_or_logger, self.every, trainer, out)
        if due is None:
            return
        writer, batch = due
        self.last = self.measure(trainer, first_view(batch.inputs))
        for key, value in self.last.items():
            writer.add_scalar(key, value, trainer.step)


# ---------------------------------------------------------------------- mask pictures


def mask_labels(masks: MaskSet, grid: Sequence[int], sample: int) -> torch.Tensor:
    """Per token of ``sample``: 0 unused, 1 context, ``2 + m`` target block ``m`` -> long ``[prod(grid)]``.

    Targets are written after the context, in block order: a later block wins where they overlap.
    Indices outside the grid (e.g. padding) are ignored.

    >>> masks = MaskSet(context=torch.tensor([[0, 1]]), targets=torch.tensor([[[2], [3]]]))
    >>> mask_labels(masks, (5,), 0).tolist()
    [1, 1, 2, 3, 0]
    """
    n = math.prod(grid)
    labels = torch.zeros(n, dtype=torch.long)
    ctx = masks.context[sample].reshape(-1).long().cpu()  # [Nc]
    labels[ctx[(ctx >= 0) & (ctx < n)]] = 1
    for m, block in enumerate(masks.targets[sample].long().cpu()):  # block [Nt]
        labels[block[(block >= 0) & (block < n)]] = 2 + m
    return labels


def label_colours(labels: torch.Tensor) -> torch.Tensor:
    """RGB colours for :func:`mask_labels` output: ``[...]`` long -> ``[..., 3]`` uint8.

    >>> label_colours(torch.tensor([0, 1, 2])).tolist()
    [[128, 128, 128], [31, 119, 180], [255, 127, 14]]
    """
    palette = torch.tensor([UNUSED_COLOUR, CONTEXT_COLOUR, *TARGET_COLOURS], dtype=torch.uint8)  # [10, 3]
    k = len(TARGET_COLOURS)
    idx = torch.where(labels >= 2, 2 + (labels - 2) % k, labels)
    return palette[idx]


def _frames(grid: Sequence[int]) -> tuple[int, int, int]:
    """``(frames, rows, cols)`` a grid is drawn as: ``(n,)`` -> 1 x 1 x n, ``(..., h, w)`` -> prod(...) x h x w."""
    if len(grid) == 0:
        raise ValueError("a token grid needs at least one axis")
    if len(grid) == 1:
        return 1, 1, int(grid[0])
    return math.prod(grid[:-2]), int(grid[-2]), int(grid[-1])


def tile(pictures: Sequence[torch.Tensor], gap: int = 4) -> torch.Tensor:
    """Pictures ``[3, H_i, W_i]`` uint8 side by side, ``gap`` white columns apart -> ``[3, max H, sum W + gaps]``.

    >>> tile([torch.zeros(3, 2, 2, dtype=torch.uint8), torch.zeros(3, 1, 3, dtype=torch.uint8)], gap=1).shape
    torch.Size([3, 2, 6])
    """
    height = max(p.shape[1] for p in pictures)
    width = sum(p.shape[2] for p in pictures) + gap * (len(pictures) - 1)
    out = torch.full((3, height, width), GAP_COLOUR, dtype=torch.uint8)
    col = 0
    for p in pictures:
        out[:, : p.shape[1], col : col + p.shape[2]] = p
        col += p.shape[2] + gap
    return out


def mask_picture(masks: MaskSet, grid: Sequence[int], sample: int, *, scale: int = 8, gap: int = 2) -> torch.Tensor:
    """The masks of ``sample`` drawn on the token grid -> uint8 ``[3, H, W]`` (CHW, for ``add_image``).

    Each token is a ``scale x scale`` square: grey unused, blue context, target block ``m`` in
    ``TARGET_COLOURS[m]`` (a later block over an earlier one). A 1-D grid ``(n,)`` is a strip
    ``[3, scale, n * scale]``; a 2-D grid ``(h, w)`` is ``[3, h * scale, w * scale]``; a grid
    ``(t, h, w)`` (video) is its ``t`` frames side by side, ``gap`` white columns apart.

    >>> masks = MaskSet(context=torch.tensor([[0]]), targets=torch.tensor([[[3]]]))
    >>> mask_picture(masks, (2, 2), 0, scale=1)[:, 1, 1].tolist()      # token 3 = row 1, col 1
    [255, 127, 14]
    """
    frames, rows, cols = _frames(grid)
    colours = label_colours(mask_labels(masks, grid, sample))  # [N, 3]
    img = colours.view(frames, rows, cols, 3).permute(0, 3, 1, 2)  # [T, 3, rows, cols]
    img = img.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)  # [T, 3, rows*s, cols*s]
    return tile(list(img), gap=gap)


def can_overlay(inputs: torch.Tensor, grid: Sequence[int]) -> bool:
    """True when ``inputs`` are images ``[B, 1 or 3, H, W]`` and the 2-D ``grid`` divides ``H, W``.

    >>> can_overlay(torch.zeros(2, 3, 32, 32), (4, 4)), can_overlay(torch.zeros(2, 64), (16,))
    (True, False)
    """
    if inputs.ndim != 4 or inputs.shape[1] not in (1, 3) or len(grid) != 2:
        return False
    return inputs.shape[2] % grid[0] == 0 and inputs.shape[3] % grid[1] == 0


def overlay_picture(
    image: torch.Tensor, masks: MaskSet, grid: Sequence[int], sample: int, *, alpha: float = 0.5
) -> torch.Tensor:
    """The mask colours of ``sample`` blended over its ``image [1 or 3, H, W]`` -> uint8 ``[3, H, W]``.

    The image is scaled to [0, 1] by its own min and max (any normalisation works); each token's
    colour covers its ``H/gh x W/gw`` patch with opacity ``alpha``.

    >>> masks = MaskSet(context=torch.tensor([[0]]), targets=torch.tensor([[[3]]]))
    >>> overlay_picture(torch.rand(3, 8, 8), masks, (2, 2), 0).shape
    torch.Size([3, 8, 8])
    """
    if not can_overlay(image[None], grid):
        raise ValueError(f"cannot overlay a {tuple(grid)} token grid on an input of shape {tuple(image.shape)}")
    img = image.detach().float().cpu()  # [C, H, W]
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else torch.zeros_like(img)
    img = img.expand(3, -1, -1)  # greyscale -> RGB
    gh, gw = grid
    colours = label_colours(mask_labels(masks, grid, sample)).view(gh, gw, 3).permute(2, 0, 1).float() / 255
    colours = colours.repeat_interleave(img.shape[1] // gh, dim=1).repeat_interleave(img.shape[2] // gw, dim=2)
    blended = (1 - alpha) * img + alpha * colours  # [3, H, W] in [0, 1]
    return (blended * 255).round().clamp(0, 255).to(torch.uint8)


class MaskPictures(Callback):
    """Logs the image ``masks`` (and ``masks_on_input`` for image inputs) every ``every`` steps.

    Draws the first ``max_samples`` samples of the step's last micro-batch with
    :func:`mask_picture` (and :func:`overlay_picture`), side by side. ``grid`` defaults to
    ``trainer.encoder.token_grid``. ``writer_or_logger`` is as for :class:`CollapseMonitor`;
    ``every=0`` turns it off. Cost when it fires: copying the first samples' masks (and
    inputs) to the host; nothing otherwise.

    >>> pictures = MaskPictures(writer, every=500, max_samples=4)      # doctest: +SKIP
    """

    def __init__(
        self,
        writer_or_logger: Any,
        every: int = 500,
        max_samples: int = 4,
        *,
        grid: Sequence[int] | None = None,
        scale: int = 8,
        overlay: bool = True,
    ) -> None:
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {max_samples!r}")
        self.writer_or_logger, self.every = writer_or_logger, _check_every(every)
        self.max_samples, self.scale, self.overlay = max_samples, scale, overlay
        self.grid = tuple(grid) if grid is not None else None

    def pictures(self, batch: Any, grid: Sequence[int]) -> dict[str, torch.Tensor]:
        """``{tag: uint8 [3, H, W]}`` for ``batch`` (a :class:`~jepa_core.data.Batch`).

        Multi-mask batches: ``masks`` (and ``masks_on_input``) draw the first set, ``masks_set{j}``
        (``masks_on_input_set{j}``) set ``j >= 1`` (e.g. V-JEPA's long-range masks). Token views
        (:class:`~jepa_core.interfaces.TokenViews`): ``masks`` and ``masks_views{j}`` draw each
        view's kept tokens as context. Batches without masks draw nothing.
        """
        out: dict[str, torch.Tensor] = {}
        if batch.masks is None:
            return out  # no masks (views come from the data)
        if isinstance(batch.masks, TokenViews):  # each view's kept tokens drawn as context
            sets = [MaskSet(k, k.new_zeros(k.shape[0], 0, 0)) for k in batch.masks.keep]
            prefix = "views"
        else:
            sets, prefix = list(mask_sets(batch.masks)), "set"
        inputs = first_view(batch.inputs)
        for j, mask_set in enumerate(sets):
            suffix = f"_{prefix}{j}" if j else ""
            k = min(self.max_samples, int(mask_set.context.shape[0]))
            masks = MaskSet(mask_set.context[:k].cpu(), mask_set.targets[:k].cpu())  # host copies
            out[f"masks{suffix}"] = tile([mask_picture(masks, grid, i, scale=self.scale) for i in range(k)])
            if self.overlay and can_overlay(inputs, grid):
                images = inputs[:k].detach().cpu()  # [k, C, H, W]
                out[f"masks_on_input{suffix}"] = tile([overlay_picture(images[i], masks, grid, i) for i in range(k)])
        return out

    def on_step_end(self, trainer: Any, out: Any) -> None:
        due = _due(self.writer_or_logger, self.every, trainer, out)
        if due is None:
            return
        writer, batch = due
        grid = self.grid or tuple(trainer.encoder.token_grid)
        for tag, picture in self.pictures(batch, grid).items():
            writer.add_image(tag, picture, trainer.step)
