"""Latent pictures: pooled features projected on their two principal axes, one dot per sample
coloured by its class.

The online evaluation (:mod:`jepa_core.online_eval`) draws one at each evaluation, from the same
val features its probes read, logs it as the image ``eval/latents`` and writes it to
``latents/step_XXXXXXXX.png`` in the run directory. Both axes share one scale, so the picture
shows collapse as well as separation: a representation whose variance lies along one direction
is a line, classes that the probes can tell apart are separate clouds.

>>> x = torch.randn(500, 32); y = torch.arange(500) % 10
>>> plane = principal_plane(x)
>>> plane.coords.shape, 0 < plane.variance_share <= 1
(torch.Size([500, 2]), True)
>>> latent_picture(x, y).shape
torch.Size([3, 256, 256])
"""

from __future__ import annotations

from pathlib import Path

import attrs
import torch
from PIL import Image

from jepa_core.monitors import CONTEXT_COLOUR, TARGET_COLOURS, UNUSED_COLOUR
from jepa_core.safe_write import writing

FOLDER = "latents"
CLASS_COLOURS: tuple[tuple[int, int, int], ...] = (CONTEXT_COLOUR, *TARGET_COLOURS, UNUSED_COLOUR)
"""Class ``c`` is drawn in ``CLASS_COLOURS[c % 10]``."""
BACKGROUND = 255
AXIS_COLOUR = 220  # the light-grey cross through the features' mean


@attrs.frozen
class Plane:
    """Samples' coordinates ``[N, 2]`` on the first two principal axes of their features, and the
    share of the features' variance those two axes hold."""

    coords: torch.Tensor
    variance_share: float


def principal_plane(features: torch.Tensor) -> Plane:
    """Project ``features [N, D]`` (centred) on their two principal axes; each axis's sign is the
    one that makes its largest loading positive, so the same features give the same picture.

    >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-2.0, 0.0]])
    >>> plane = principal_plane(x)
    >>> plane.coords[:, 0].abs().tolist(), plane.variance_share
    ([1.0, 1.0, 2.0, 2.0], 1.0)
    """
    x = features.double()
    x = x - x.mean(dim=0)
    n, d = x.shape
    if d <= n:  # eigenvectors of the smaller of the two Gram matrices (ascending eigenvalues)
        _, vectors = torch.linalg.eigh(x.T @ x)  # [D, D]
        axes = vectors[:, -2:].flip(1).T  # [min(2, D), D]
    else:
        _, vectors = torch.linalg.eigh(x @ x.T)  # [N, N]
        axes = torch.nn.functional.normalize((x.T @ vectors[:, -2:].flip(1)).T, dim=1)  # [min(2, N), D]
    if axes.shape[0] < 2:  # one sample or one feature: a second axis of zeros
        axes = torch.cat([axes, torch.zeros(2 - axes.shape[0], d, dtype=x.dtype)])
    signs = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))  # [2, 1]
    axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)
    coords = x @ axes.T  # [N, 2]
    total = float((x**2).sum())
    share = min(1.0, float((coords**2).sum()) / total) if total > 0 else 0.0
    return Plane(coords.float(), share)


def latent_picture(features: torch.Tensor, labels: torch.Tensor, *, size: int = 256, dot: int = 3) -> torch.Tensor:
    """:func:`plot_plane` of the :func:`principal_plane` of ``features [N, D]``.

    >>> x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]); y = torch.tensor([0, 1])
    >>> picture = latent_picture(x, y, size=32, dot=1)
    >>> picture[:, 16, 31].tolist(), picture[:, 16, 0].tolist()   # the first on the right, the second on the left
    ([31, 119, 180], [255, 127, 14])
    """
    if features.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(
            f"latent_picture takes features [N, D] and one label per row, got shapes {tuple(features.shape)} "
            f"and {tuple(labels.shape)}"
        )
    coords = principal_plane(features).coords if len(features) else torch.zeros(0, 2)
    return plot_plane(coords, labels, size=size, dot=dot)


def plot_plane(coords: torch.Tensor, labels: torch.Tensor, *, size: int = 256, dot: int = 3) -> torch.Tensor:
    """Points ``coords [N, 2]`` drawn as uint8 ``[3, size, size]`` (CHW, for ``add_image``): white, a
    grey cross through the origin, each point a ``dot x dot`` square in ``CLASS_COLOURS[label % 10]``
    (a negative label, unlabelled, in grey). Both axes share the scale that fits the farthest point.

    >>> plot_plane(torch.tensor([[0.0, 2.0]]), torch.tensor([2]), size=32, dot=1)[:, 0, 16].tolist()   # top centre
    [44, 160, 44]
    """
    if size < dot + 2:
        raise ValueError(f"size must be at least dot + 2 = {dot + 2}, got {size}")
    picture = torch.full((3, size, size), BACKGROUND, dtype=torch.uint8)
    span = (size - dot) / 2  # a dot's top-left pixel runs over [0, 2 * span]
    centre = round(span) + dot // 2
    picture[:, centre, :] = AXIS_COLOUR
    picture[:, :, centre] = AXIS_COLOUR
    if len(coords) == 0:
        return picture
    reach = float(coords.abs().max())
    unit = coords / reach if reach > 0 else torch.zeros_like(coords)  # in [-1, 1], one scale for both axes
    cols = (span * (1 + unit[:, 0])).round().long()
    rows = (span * (1 - unit[:, 1])).round().long()  # the second axis points up
    palette = torch.tensor(CLASS_COLOURS, dtype=torch.uint8)  # [10, 3]
    labels = labels.long()
    unlabelled = torch.tensor(UNUSED_COLOUR, dtype=torch.uint8)
    colours = torch.where((labels >= 0)[:, None], palette[labels.clamp(min=0) % len(palette)], unlabelled)  # [N, 3]
    for dr in range(dot):
        for dc in range(dot):
            picture[:, rows + dr, cols + dc] = colours.T  # on the CPU a later dot covers an earlier one
    return picture


def write_png(picture: torch.Tensor, path: str | Path) -> Path:
    """Write a uint8 ``[3, H, W]`` picture as a PNG file (a failed write is one sentence:
    :func:`jepa_core.safe_write.writing`); returns the path."""
    path = Path(path)
    with writing(path, what="the latent picture"):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture.permute(1, 2, 0).contiguous().numpy()).save(path, format="PNG")
    return path


def picture_path(out_dir: str | Path, step: int) -> Path:
    """Where the latent picture of ``step`` goes in a run directory.

    >>> picture_path("runs/demo", 320).as_posix()
    'runs/demo/latents/step_00000320.png'
    """
    return Path(out_dir) / FOLDER / f"step_{step:08d}.png"
