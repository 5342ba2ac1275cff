"""The spectrogram ViT exports to timm (rectangular input, one channel) with the same pooled features."""

from __future__ import annotations

import pytest
import torch

from jepa_audio.spectrogram_vit import SpectrogramViTConfig, build_spectrogram_vit
from jepa_core.cli import main
from jepa_vit.timm_export import export_timm, load_timm

timm = pytest.importorskip("timm")


def test_spectrogram_vit_exports_to_timm(tmp_path):
    torch.manual_seed(0)
    enc = build_spectrogram_vit(SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=2)).eval()
    with torch.no_grad():
        enc.norm.bias.normal_()
    info = export_timm(enc, tmp_path / "model.pth")
    assert (info.kwargs["img_size"], info.kwargs["in_chans"]) == ([64, 32], 1)
    x = torch.randn(2, 1, 64, 32)
    with torch.no_grad():
        assert torch.allclose(load_timm(info.config)(x), enc(x).mean(1), atol=1e-5)


def test_jepa_export_timm_from_an_audio_run(tmp_path, capsys):
    from jepa_core.config import apply_overrides
    from jepa_core.registry import build_registry
    from jepa_core.run import train_run

    registry = build_registry()
    cfg = apply_overrides(
        registry.preset("audio", "demo").build(),
        [
            "data.num_train=8",
            "train.batch_size=4",
            "train.max_steps=1",
            "train.num_workers=0",
            "probe.enabled=false",
            f"train.out_dir={tmp_path / 'run'}",
        ],
        registry,
    )
    train_run(cfg, registry, stream=None)
    assert main(["export", "timm", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "m.pth")]) == 0
    assert "timm.create_model" in capsys.readouterr().out
    model = load_timm(tmp_path / "m.json")
    assert model(torch.randn(1, 1, 256, 64)).shape == (1, 128)
