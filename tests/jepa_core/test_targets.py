"""The EMA target provider: the update rule and the layer-normed, gathered targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jepa_core.targets import EMAConfig, EMATargetProvider, build_ema
from tests.toy_seq_plugin import SeqEncoder, SeqEncoderConfig


def _encoder(seed: int = 0) -> SeqEncoder:
    torch.manual_seed(seed)
    return SeqEncoder(SeqEncoderConfig(length=16, patch=2, width=8, depth=1))


def test_target_is_a_frozen_independent_copy():
    enc = _encoder()
    provider = EMATargetProvider(enc)
    target_params = list(provider.encoder.parameters())
    assert all(not p.requires_grad for p in target_params)
    assert all(p.requires_grad for p in enc.parameters())
    for t, c in zip(target_params, enc.parameters(), strict=True):
        assert torch.equal(t, c) and t.data_ptr() != c.data_ptr()


def test_update_is_m_t_plus_one_minus_m_c():
    enc = _encoder()
    provider = EMATargetProvider(enc)
    with torch.no_grad():  # make target and context differ everywhere
        for p in enc.parameters():
            p.add_(torch.randn_like(p))
    before_t = [p.clone() for p in provider.encoder.parameters()]
    before_c = [p.clone() for p in enc.parameters()]
    m = 0.9
    provider.update(enc, momentum=m)
    names = [n for n, _ in provider.encoder.named_parameters()]
    for name, t0, c, t1 in zip(names, before_t, before_c, provider.encoder.parameters(), strict=True):
        expected = m * t0 + (1 - m) * c
        assert torch.allclose(t1, expected, atol=1e-6, rtol=0), name
        assert not torch.allclose(t1, t0), name  # it did move
    for c0, c1 in zip(before_c, enc.parameters(), strict=True):
        assert torch.equal(c0, c1)  # the context encoder is not touched


def test_momentum_one_freezes_and_zero_copies():
    enc = _encoder()
    provider = EMATargetProvider(enc)
    original = [p.clone() for p in provider.encoder.parameters()]
    with torch.no_grad():
        for p in enc.parameters():
            p.mul_(-2.0).add_(0.5)
    provider.update(enc, momentum=1.0)
    assert all(torch.equal(a, b) for a, b in zip(original, provider.encoder.parameters(), strict=True))
    provider.update(enc, momentum=0.0)
    assert all(torch.allclose(a, b) for a, b in zip(enc.parameters(), provider.encoder.parameters(), strict=True))


def test_targets_are_layer_normed_gathered_without_grad():
    enc = _encoder()
    provider = build_ema(EMAConfig(), enc)
    b, m, nt = 3, 2, 4
    x = torch.randn(b, 16, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    target_idx = torch.stack([torch.randperm(8, generator=gen)[: m * nt].view(m, nt) for _ in range(b)])
    out = provider.targets(x, target_idx)
    assert out.shape == (b * m, nt, 8)
    assert not out.requires_grad and out.grad_fn is None

    with torch.no_grad():
        h = F.layer_norm(provider.encoder(x), (8,))
    for i in range(b):
        for j in range(m):
            for k in range(nt):
                assert torch.allclose(out[i * m + j, k], h[i, target_idx[i, j, k]], atol=1e-6)
    assert torch.allclose(out.mean(-1), torch.zeros(b * m, nt), atol=1e-5)  # normalised per token


def test_targets_without_layer_norm():
    enc = _encoder()
    provider = build_ema(EMAConfig(layer_norm_targets=False), enc)
    x = torch.randn(2, 16)
    idx = torch.tensor([[[0, 1]], [[5, 7]]])
    with torch.no_grad():
        h = provider.encoder(x)
    out = provider.targets(x, idx)
    assert torch.allclose(out, torch.stack([h[0, [0, 1]], h[1, [5, 7]]]), atol=1e-6)


def test_registered_as_core_builtin(toy_registry):
    spec = toy_registry.get("target", "ema")
    assert spec.config_type is EMAConfig
    assert toy_registry.provider_of("target", "ema").name == "core"
    assert isinstance(spec.build(EMAConfig(), _encoder()), EMATargetProvider)
