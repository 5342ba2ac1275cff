"""Linear probe on frozen features.

Example::

    result = linear_probe(train_x, train_y, val_x, val_y, epochs=100)
    result.top1, result.top5                                          # percent
    idx = per_class_subset(train_y, 10, seed=0)                        # low-shot (lowshot.py)
    linear_probe(train_x[idx], train_y[idx], val_x, val_y)
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F


@attrs.frozen
class ProbeResult:
    top1: float
    top5: float | None
    num_train: int
    num_val: int
    num_classes: int


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> ProbeResult:
    """Train a linear classifier on standardised features with AdamW; report val top-1/top-5 (%).

    Features are standardised with the train mean/std; the head trains on ``device``.
    """
    train_x, train_y = train_x.float().to(device), train_y.to(device)
    val_x, val_y = val_x.float().to(device), val_y.to(device)
    mean = train_x.mean(0, keepdim=True)
    std = train_x.std(0, keepdim=True).clamp_min(1e-6) if len(train_x) > 1 else torch.ones_like(mean)
    tx, vx = (train_x - mean) / std, (val_x - mean) / std
    num_classes = int(max(train_y.max(), val_y.max())) + 1
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(tx.shape[1], num_classes)
    with torch.no_grad():
        head.weight.normal_(0.0, 0.01, generator=g)
        head.bias.zero_()
    head = head.to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, (len(tx) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    for _ in range(epochs):
        perm = torch.randperm(len(tx), generator=g).to(device)
        for i in range(0, len(tx), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(head(tx[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        logits = head(vx)
    top1 = (logits.argmax(1) == val_y).float().mean().item() * 100
    top5 = None
    if num_classes > 5:
        top5 = (logits.topk(5, dim=1).indices == val_y[:, None]).any(1).float().mean().item() * 100
    return ProbeResult(top1, top5, len(tx), len(vx), num_classes)
