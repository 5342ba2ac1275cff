"""`jepa eval` on an audio checkpoint: labelled WAV folders become the plugin's `wav_folder`."""

from __future__ import annotations

import wave

import numpy as np

from jepa_core.cli import main
from jepa_core.config import apply_overrides
from jepa_core.registry import build_registry
from jepa_core.run import train_run


def _write_wav(path, samples: np.ndarray, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((samples * 20000).astype("<i2").tobytes())


def test_probe_an_audio_checkpoint_on_labelled_wav_folders(tmp_path, capsys):
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
    t = np.arange(16000) / 16000  # 1 s: shorter than the 256-frame window, padded
    for split, clips in (("train", 3), ("val", 2)):
        for cls, hz in (("low", 300.0), ("high", 3000.0)):
            (tmp_path / split / cls).mkdir(parents=True)
            for c in range(clips):
                _write_wav(tmp_path / split / cls / f"{c}.wav", np.sin(2 * np.pi * hz * (1 + 0.05 * c) * t))
    rc = main(
        [
            "eval",
            "knn",
            "--checkpoint",
            str(tmp_path / "run"),
            "--k",
            "3",
            "--train",
            str(tmp_path / "train"),
            "--val",
            str(tmp_path / "val"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "data 'wav_folder'" in out and "on 4 val samples (6 train samples, 2 classes)" in out


def test_a_plugin_without_a_folder_dataset_is_one_sentence(tmp_path, capsys, monkeypatch):
    import jepa_audio.plugin

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
    monkeypatch.delattr(jepa_audio.plugin, "jepa_folder_dataset")  # the CLI's registry then finds no hook
    (tmp_path / "a").mkdir()
    rc = main(
        [
            "eval",
            "knn",
            "--checkpoint",
            str(tmp_path / "run"),
            "--train",
            str(tmp_path / "a"),
            "--val",
            str(tmp_path / "a"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and (
        "'synthetic_sounds' has no root/val_root and plugin 'audio' names no folder dataset "
        "(it implements no jepa_folder_dataset hook)" in err
    )
