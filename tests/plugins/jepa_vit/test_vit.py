"""The shared transformer blocks: their layout, init and checkpointed runs (the encoder: test_image_vit.py)."""

from __future__ import annotations

import torch
from torch import nn

from jepa_vit.vit import init_weights, make_block, norm_layer, run_blocks


def test_block_layout_and_init() -> None:
    torch.manual_seed(0)
    block = make_block(48, 2, 4.0)
    block.apply(init_weights)
    names = {n for n, _ in block.named_parameters()}
    assert {
        "norm1.weight",
        "attn.qkv.weight",
        "attn.qkv.bias",
        "attn.proj.weight",
        "mlp.fc1.weight",
        "mlp.fc2.weight",
    } <= names
    assert block.mlp.fc1.out_features == 192 and block.norm1.eps == 1e-6 and norm_layer(8).eps == 1e-6
    assert torch.count_nonzero(block.attn.qkv.bias) == 0 and float(block.attn.qkv.weight.detach().std()) < 0.03


def test_checkpointed_run_gives_the_same_output_and_grads() -> None:
    torch.manual_seed(0)
    blocks = nn.ModuleList(make_block(32, 2, 4.0) for _ in range(2)).train()
    x = torch.randn(2, 5, 32, requires_grad=True)
    plain = run_blocks(blocks, x, use_checkpoint=False)
    (grad_plain,) = torch.autograd.grad(plain.sum(), x)
    ckpt = run_blocks(blocks, x, use_checkpoint=True)
    (grad_ckpt,) = torch.autograd.grad(ckpt.sum(), x)
    torch.testing.assert_close(ckpt, plain)
    torch.testing.assert_close(grad_ckpt, grad_plain)
