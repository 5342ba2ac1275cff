"""`jepa eval` on a video checkpoint: labelled clip folders become the plugin's `video_frames`."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jepa_core.cli import main
from jepa_core.config import apply_overrides
from jepa_core.registry import build_registry
from jepa_core.run import train_run


def test_probe_a_video_checkpoint_on_labelled_clip_folders(tmp_path, capsys):
    registry = build_registry()
    cfg = apply_overrides(
        registry.preset("video", "demo").build(),
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
    rng = np.random.default_rng(0)
    for split, clips in (("train", 3), ("val", 2)):
        for cls in ("left", "right"):
            for c in range(clips):
                folder = tmp_path / split / cls / f"clip{c}"
                folder.mkdir(parents=True)
                for f in range(5):  # shorter than the 8-frame window: the last frame repeats
                    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"{f}.jpg")
    rc = main(
        [
            "eval",
            "linear-probe",
            "--checkpoint",
            str(tmp_path / "run"),
            "--train",
            str(tmp_path / "train"),
            "--val",
            str(tmp_path / "val"),
            "--compare-random-init",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "data 'video_frames'" in out and "on 4 val samples (6 train samples, 2 classes)" in out
    assert "(random init): top-1" in out


def test_the_end_of_run_probe_can_be_attentive(tmp_path, monkeypatch):
    import io

    registry = build_registry()
    cfg = apply_overrides(
        registry.preset("video", "demo").build(),
        [
            "data.num_train=16",
            "data.num_val=8",
            "train.batch_size=8",
            "train.max_steps=1",
            "train.num_workers=0",
            "probe.kind=attentive",
            "probe.attentive_blocks=2",
            "probe.epochs=2",
            "probe.batch_size=8",
            f"train.out_dir={tmp_path}",
        ],
        registry,
    )
    from jepa_core.eval import attentive

    depths = []
    original = attentive.AttentiveClassifier.__init__

    def recording(self, *args, num_blocks=1, **kwargs):
        depths.append(num_blocks)
        original(self, *args, num_blocks=num_blocks, **kwargs)

    monkeypatch.setattr(attentive.AttentiveClassifier, "__init__", recording)
    log = io.StringIO()
    result = train_run(cfg, registry, stream=log)
    assert depths == [2, 2]  # trained and random-init probes, each with probe.attentive_blocks
    text = log.getvalue()
    assert "attentive probe (trained target encoder): top-1" in text
    assert "attentive probe (random_init target encoder): top-1" in text
    assert result.probe["trained"].num_val == 8 and result.probe["trained"].num_train == 16
