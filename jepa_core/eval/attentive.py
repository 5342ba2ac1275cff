"""Attentive probe on frozen token features (the V-JEPA evaluation protocol).

A linear probe sees one pooled vector per sample; an attentive probe keeps every output token
``[N, T, D]`` of the frozen encoder and learns *where to look*: ``num_queries`` learnable query
tokens cross-attend to the tokens (one transformer-style block: pre-norm cross-attention with a
residual, then a residual MLP), and a LayerNorm + Linear head classifies the attended queries.
``num_blocks > 1`` puts ``num_blocks - 1`` pre-norm self-attention blocks over the tokens before
that cross-attention block (V-JEPA 2 probes with 4 blocks; V-JEPA with 1).

Example::

    train_tokens, train_y = extract_features(encoder, train_set, pool="none")   # [N, T, D]
    val_tokens, val_y = extract_features(encoder, val_set, pool="none")
    result = attentive_probe(train_tokens, train_y, val_tokens, val_y, epochs=20)
    result.top1, result.top5                                                     # percent

Defaults: ``epochs=20``, ``lr=1e-3``, ``weight_decay=0.05`` (AdamW; biases and norm weights are
not decayed), ``batch_size=128``, a per-step cosine schedule, one query, and
:func:`default_num_heads` heads. Tokens are standardised per channel with the train set's
statistics (over all train samples and tokens). One seeded generator draws the initial weights
and the shuffling, so a run on the CPU is reproducible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jepa_core.errors import ConfigError
from jepa_core.eval.inputs import check_split, check_widths
from jepa_core.eval.probe import ProbeResult, top1_top5

HEAD_CHOICES: tuple[int, ...] = (8, 4, 2, 1)
INIT_STD = 0.02


def default_num_heads(dim: int) -> int:
    """The largest of 8, 4, 2, 1 that divides the token width ``dim``.

    >>> default_num_heads(768), default_num_heads(36), default_num_heads(30), default_num_heads(7)
    (8, 4, 2, 1)
    """
    return next(h for h in HEAD_CHOICES if dim % h == 0)


def check_num_heads(num_heads: int | None, dim: int) -> int:
    """``num_heads`` (or :func:`default_num_heads` when None) if it divides ``dim``, else ConfigError."""
    if num_heads is None:
        return default_num_heads(dim)
    if num_heads < 1 or dim % num_heads:
        valid = ", ".join(str(h) for h in range(1, min(dim, 16) + 1) if dim % h == 0)
        raise ConfigError(
            f"--heads {num_heads} does not divide the token width {dim}; valid head counts include {valid}."
        )
    return num_heads


def _trunc_normal(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    nn.init.trunc_normal_(weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD, generator=generator)


class AttentivePooler(nn.Module):
    """Learnable queries cross-attending to frozen tokens: ``[B, T, D]`` -> ``[B, num_queries * D]``.

    One pre-norm block: ``q = queries + Attn(q, LN(tokens))``, then ``q = q + MLP(LN(q))`` with a
    GELU MLP of hidden width ``mlp_ratio * D``. ``num_heads`` must divide ``D`` (default:
    :func:`default_num_heads`). Weights are drawn from ``generator`` (trunc normal, std 0.02).

    Example::

        pooler = AttentivePooler(64, num_heads=4, num_queries=2)
        pooler(torch.randn(8, 196, 64)).shape      # torch.Size([8, 128])
    """

    def __init__(
        self,
        embed_dim: int,
        *,
        num_heads: int | None = None,
        num_queries: int = 1,
        mlp_ratio: float = 4.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if embed_dim < 1:
            raise ConfigError(f"the token width must be >= 1, got {embed_dim}.")
        if num_queries < 1:
            raise ConfigError(f"the attentive pooler needs at least 1 query token, got num_queries={num_queries}.")
        self.embed_dim = embed_dim
        self.num_heads = check_num_heads(num_heads, embed_dim)
        self.num_queries = num_queries
        self.query_tokens = nn.Parameter(torch.empty(1, num_queries, embed_dim))  # [1, Q, D]
        self.norm_tokens = nn.LayerNorm(embed_dim)
        self.q = nn.Linear(embed_dim, embed_dim)
        self.k = nn.Linear(embed_dim, embed_dim)
        self.v = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.norm_mlp = nn.LayerNorm(embed_dim)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Query tokens and linear weights ~ trunc normal (std 0.02), biases 0, LayerNorms identity."""
        _trunc_normal(self.query_tokens, generator)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _trunc_normal(module.weight, generator)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.embed_dim // self.num_heads).transpose(1, 2)  # [B, H, n, D/H]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, num_queries * D]`` of ``tokens`` ``[B, T, D]``."""
        if tokens.ndim != 3 or tokens.shape[-1] != self.embed_dim:
            raise ConfigError(
                f"the attentive pooler needs tokens of shape [B, T, {self.embed_dim}], got {tuple(tokens.shape)}."
            )
        b = tokens.shape[0]
        x = self.norm_tokens(tokens)  # [B, T, D]
        query = self.query_tokens.expand(b, -1, -1)  # [B, Q, D]
        q, k, v = self._heads(self.q(query)), self._heads(self.k(x)), self._heads(self.v(x))  # [B, H, Q|T, D/H]
        attended = F.scaled_dot_product_attention(q, k, v)  # [B, H, Q, D/H]
        attended = attended.transpose(1, 2).reshape(b, self.num_queries, self.embed_dim)  # [B, Q, D]
        query = query + self.proj(attended)  # [B, Q, D]
        query = query + self.mlp(self.norm_mlp(query))  # [B, Q, D]
        return query.flatten(1)  # [B, Q * D]


class SelfAttentionBlock(nn.Module):
    """Pre-norm self-attention + MLP block over tokens ``[B, T, D]`` (the probe's extra blocks)."""

    def __init__(
        self, embed_dim: int, num_heads: int, mlp_ratio: float = 4.0, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.norm1 = nn.LayerNorm(embed_dim)
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, embed_dim))
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Linear):
                    _trunc_normal(module.weight, generator)
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])  # [B, H, T, D/H]
        x = x + self.proj(attended.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


class AttentiveClassifier(nn.Module):
    """:class:`AttentivePooler` + LayerNorm + Linear: tokens ``[B, T, D]`` -> logits ``[B, num_classes]``.

    Example::

        clf = AttentiveClassifier(64, 10, num_heads=4)
        clf(torch.randn(8, 196, 64)).shape         # torch.Size([8, 10])
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        *,
        num_heads: int | None = None,
        num_queries: int = 1,
        mlp_ratio: float = 4.0,
        num_blocks: int = 1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ConfigError(f"the attentive classifier needs at least 1 class, got num_classes={num_classes}.")
        if num_blocks < 1:
            raise ConfigError(
                f"the attentive probe needs at least 1 block (the cross-attention pooler), got {num_blocks}."
            )
        self.pooler = AttentivePooler(
            embed_dim, num_heads=num_heads, num_queries=num_queries, mlp_ratio=mlp_ratio, generator=generator
        )
        width = num_queries * embed_dim
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_classes)
        with torch.no_grad():
            _trunc_normal(self.head.weight, generator)
            nn.init.zeros_(self.head.bias)
        heads = self.pooler.num_heads  # drawn after the pooler and head: 1 block draws what it always did
        self.blocks = nn.ModuleList(
            SelfAttentionBlock(embed_dim, heads, mlp_ratio, generator) for _ in range(num_blocks - 1)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` of ``tokens`` ``[B, T, D]``."""
        for block in self.blocks:
            tokens = block(tokens)  # [B, T, D]
        return self.head(self.norm(self.pooler(tokens)))  # [B, C]


# --------------------------------------------------------------------------- probe
def _check_tokens(name: str, tokens: torch.Tensor) -> None:
    if tokens.ndim != 3:
        raise ConfigError(
            f"the attentive probe needs token features of shape [N, T, D] (extract them with pool='none'), "
            f"but {name} has shape {tuple(tokens.shape)}."
        )


def check_probe_options(*, epochs: int, lr: float, weight_decay: float, batch_size: int) -> None:
    """ConfigError unless ``epochs >= 1``, ``lr > 0``, ``weight_decay >= 0`` and ``batch_size >= 1``."""
    for flag, value, ok, want in (
        ("--epochs", epochs, epochs >= 1, ">= 1"),
        ("--lr", lr, lr > 0, "> 0"),
        ("weight_decay", weight_decay, weight_decay >= 0, ">= 0"),
        ("batch_size", batch_size, batch_size >= 1, ">= 1"),
    ):
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ConfigError(f"{flag} must be {want}, got {value}.")


def attentive_probe(
    train_tokens: torch.Tensor,
    train_y: torch.Tensor,
    val_tokens: torch.Tensor,
    val_y: torch.Tensor,
    *,
    epochs: int = 20,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    batch_size: int = 128,
    num_heads: int | None = None,
    num_queries: int = 1,
    num_blocks: int = 1,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> ProbeResult:
    """Train an :class:`AttentiveClassifier` on frozen tokens; report val top-1/top-5 (%).

    ``train_tokens`` ``[N, T, D]`` and ``val_tokens`` ``[M, T', D]`` (the token counts may differ,
    the widths must match) are standardised per channel with the train mean/std. The classifier
    trains with AdamW (weight decay on matrices and query tokens only) and a per-step cosine
    schedule on ``device``; the tokens stay where they are and move to ``device`` one batch at a
    time. ``num_heads=None`` picks the largest of 8, 4, 2, 1 dividing ``D``. Top-5 is reported
    only with more than 5 classes, as in :func:`~jepa_core.eval.probe.linear_probe`.

    >>> r = attentive_probe(torch.randn(8, 4, 16), torch.arange(8) % 2, torch.randn(4, 4, 16),
    ...                     torch.arange(4) % 2, epochs=1)
    >>> (r.num_train, r.num_val, r.num_classes, r.top5)
    (8, 4, 2, None)
    """
    _check_tokens("train_tokens", train_tokens)
    _check_tokens("val_tokens", val_tokens)
    train_y = check_split("the attentive probe", ("train_tokens", train_tokens), ("train_y", train_y), ndim=3)
    val_y = check_split("the attentive probe", ("val_tokens", val_tokens), ("val_y", val_y), ndim=3).cpu()
    check_widths(("train_tokens", train_tokens), ("val_tokens", val_tokens))
    dim = train_tokens.shape[-1]
    check_probe_options(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size)
    num_heads = check_num_heads(num_heads, dim)

    flat = train_tokens.reshape(-1, dim).float()  # [N * T, D]
    mean = flat.mean(0)  # [D]
    std = flat.std(0).clamp_min(1e-6) if len(flat) > 1 else torch.ones_like(mean)  # [D]
    mean, std = mean.to(device), std.to(device)

    def batch(tokens: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return (tokens[idx.to(tokens.device)].to(device).float() - mean) / std  # [b, T, D]

    num_classes = int(max(train_y.max(), val_y.max())) + 1
    g = torch.Generator().manual_seed(seed)
    model = AttentiveClassifier(
        dim, num_classes, num_heads=num_heads, num_queries=num_queries, num_blocks=num_blocks, generator=g
    )
    model = model.to(device)
    decay = [p for p in model.parameters() if p.ndim > 1]  # matrices and query tokens
    no_decay = [p for p in model.parameters() if p.ndim <= 1]  # biases and LayerNorm affines
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    steps_per_epoch = max(1, (len(train_tokens) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    train_y_dev = train_y.to(device)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(train_tokens), generator=g)
        for i in range(0, len(train_tokens), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(batch(train_tokens, idx)), train_y_dev[idx.to(device)])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    model.eval()
    logits = []
    with torch.no_grad():
        order = torch.arange(len(val_tokens))
        for i in range(0, len(val_tokens), batch_size):
            logits.append(model(batch(val_tokens, order[i : i + batch_size])).cpu())
    scores = torch.cat(logits)  # [M, C]
    top1, top5 = top1_top5(scores, val_y)
    return ProbeResult(top1, top5, len(train_tokens), len(val_tokens), num_classes)
