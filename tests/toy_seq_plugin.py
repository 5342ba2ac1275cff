"""A test-only plugin of a NON-image modality: 1-D sequences with a 1-D block masker.

It proves the core is modality-agnostic: nothing here knows about images, and the core
knows nothing about sequences.
"""

from __future__ import annotations

import math

import attrs
import torch
from torch import nn

from jepa_core import hookimpl
from jepa_core.config import ComponentConfig, OptimConfig, RunConfig, TrainConfig
from jepa_core.interfaces import MaskSet, gather_tokens
from jepa_core.losses import SmoothL1Config
from jepa_core.specs import DatasetSpec, EncoderSpec, Example, MaskerSpec, PredictorSpec, PresetSpec
from jepa_core.targets import EMAConfig

JEPA_PLUGIN_NAME = "toyseq"


@attrs.frozen
class SeqEncoderConfig:
    length: int = 64
    patch: int = 4
    width: int = 32
    depth: int = 2


class SeqEncoder(nn.Module):
    def __init__(self, cfg: SeqEncoderConfig) -> None:
        super().__init__()
        self.token_grid = (cfg.length // cfg.patch,)
        self.embed_dim, self.num_heads, self.patch = cfg.width, 4, cfg.patch
        self.expected_input_shape = (cfg.length,)
        self.embed = nn.Linear(cfg.patch, cfg.width)
        self.pos = nn.Parameter(torch.randn(1, self.token_grid[0], cfg.width) * 0.02)
        layer = nn.TransformerEncoderLayer(cfg.width, 4, cfg.width * 2, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, cfg.depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.width)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.embed(x.view(x.shape[0], -1, self.patch)) + self.pos  # [B, N, D]
        if keep is not None:
            tokens = gather_tokens(tokens, keep)
        return self.norm(self.blocks(tokens))


@attrs.frozen
class SeqPredictorConfig:
    width: int = 16


class SeqPredictor(nn.Module):
    def __init__(self, cfg: SeqPredictorConfig, encoder: SeqEncoder) -> None:
        super().__init__()
        n, d = encoder.token_grid[0], encoder.embed_dim
        self.inp = nn.Linear(d, cfg.width)
        self.pos = nn.Parameter(torch.randn(1, n, cfg.width) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        layer = nn.TransformerEncoderLayer(cfg.width, 2, cfg.width * 2, dropout=0.0, batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(cfg.width, d)

    def forward(self, ctx: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor) -> torch.Tensor:
        b, m, nt = tgt_idx.shape
        pos = self.pos.expand(b, -1, -1)
        z = self.inp(ctx) + gather_tokens(pos, ctx_idx)  # [B, Nc, W]
        z = z.repeat_interleave(m, dim=0)  # [B*M, Nc, W]
        tgt = tgt_idx.reshape(b * m, nt)
        q = self.mask_token + gather_tokens(pos.repeat_interleave(m, dim=0), tgt)  # [B*M, Nt, W]
        h = self.blocks(torch.cat([z, q], dim=1))
        return self.out(h[:, -nt:])


@attrs.frozen
class SeqBlockConfig:
    num_targets: int = 2
    block: int = 3


class SeqBlockMasker:
    """M contiguous target runs per sequence; context = everything else (cut to a common length)."""

    def __init__(self, cfg: SeqBlockConfig) -> None:
        self.cfg = cfg

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> MaskSet:
        (n,) = grid
        starts = torch.randint(0, n - self.cfg.block + 1, (batch_size, self.cfg.num_targets), generator=generator)
        targets = starts[..., None] + torch.arange(self.cfg.block)  # [B, M, block]
        covered = torch.zeros(batch_size, n, dtype=torch.bool)
        covered.scatter_(1, targets.view(batch_size, -1), True)
        keep = int((~covered).sum(1).min())
        context = torch.stack([torch.nonzero(~c).squeeze(1)[:keep] for c in covered])
        return MaskSet(context=context, targets=targets)


def _in_range(low: int, high: int):
    """attrs validator: ``low <= value <= high`` (a plugin checks its options; the core reports them)."""

    def check(_inst, attr: attrs.Attribute, value: int) -> None:
        if not low <= value <= high:
            raise ValueError(f"{attr.name} must be in [{low}, {high}], got {value!r}")

    return check


@attrs.frozen
class SineConfig:
    length: int = attrs.field(default=64, validator=_in_range(1, 4096))
    num_samples: int = attrs.field(default=256, validator=_in_range(1, 1_000_000))
    seed: int = attrs.field(default=0, validator=_in_range(0, 2**40))


class SineDataset(torch.utils.data.Dataset):
    """Noisy sums of sines; the label is which of 4 frequency bands dominates."""

    def __init__(self, cfg: SineConfig, split: str) -> None:
        self.cfg, self.offset = cfg, {"train": 0, "train_eval": 0, "val": 10_000}[split]

    def __len__(self) -> int:
        return self.cfg.num_samples

    def __getitem__(self, i: int):
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.offset + i)
        label = i % 4
        freq = (label + 1) * 2 + torch.rand((), generator=g).item()
        t = torch.arange(self.cfg.length) / self.cfg.length
        phase = torch.rand((), generator=g).item() * 2 * math.pi
        x = torch.sin(2 * math.pi * freq * t + phase) + 0.1 * torch.randn(self.cfg.length, generator=g)
        return x, label


@hookimpl
def jepa_encoders():
    yield EncoderSpec(
        name="seq_transformer",
        config_type=SeqEncoderConfig,
        build=SeqEncoder,
        example=lambda: SeqEncoderConfig(length=32, width=16, depth=1),  # input shape: expected_input_shape
    )


@hookimpl
def jepa_predictors():
    yield PredictorSpec(
        name="seq_predictor",
        config_type=SeqPredictorConfig,
        build=SeqPredictor,
        example=lambda: Example(options=SeqPredictorConfig(width=8), encoder="seq_transformer"),
    )


@hookimpl
def jepa_maskers():
    yield MaskerSpec(
        name="seq_block",
        config_type=SeqBlockConfig,
        build=SeqBlockMasker,
        example=lambda: Example(options=SeqBlockConfig(), grid=(16,)),
    )


@hookimpl
def jepa_datasets():
    yield DatasetSpec(
        name="sine_waves",
        config_type=SineConfig,
        build=SineDataset,
        example=lambda: SineConfig(num_samples=8),
    )


def toy_config() -> RunConfig:
    return RunConfig(
        plugin="toyseq",
        preset="tiny",
        encoder=ComponentConfig("seq_transformer", SeqEncoderConfig()),
        predictor=ComponentConfig("seq_predictor", SeqPredictorConfig()),
        masker=ComponentConfig("seq_block", SeqBlockConfig()),
        target=ComponentConfig("ema", EMAConfig()),
        loss=ComponentConfig("smooth_l1", SmoothL1Config()),
        data=ComponentConfig("sine_waves", SineConfig()),
        optim=OptimConfig(lr=1e-3, start_lr=1e-4, warmup_epochs=1, ema_start=0.99),
        train=TrainConfig(epochs=4, batch_size=32, num_workers=0, log_every=4, out_dir="runs/toy"),
    )


def train_toy(registry, out, steps: int, *overrides: str, stream=None):
    """A short run of :func:`toy_config` (64 samples, batches of 16, a checkpoint every 2 steps)
    into ``out`` for ``steps`` steps, with ``overrides``; returns ``(config, RunResult)``."""
    from jepa_core.config import apply_overrides
    from jepa_core.run import train_run

    cfg = apply_overrides(
        toy_config(),
        [
            *overrides,
            "data.num_samples=64",
            "train.batch_size=16",
            f"train.max_steps={steps}",
            "train.log_every=1",
            "train.checkpoint_every=2",
            f"train.out_dir={out}",
        ],
        registry,
    )
    return cfg, train_run(cfg, registry, stream=stream)


@hookimpl
def jepa_presets():
    yield PresetSpec(name="tiny", build=toy_config, description="toy 1-D run for tests")
