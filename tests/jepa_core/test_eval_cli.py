"""`jepa eval linear-probe | knn` and `jepa export timm` end to end on a tiny trained checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from jepa_core.cli import main
from jepa_core.config import apply_overrides
from jepa_core.eval.probe import L2_GRID
from jepa_core.registry import build_registry

TINY = [
    "encoder.img_size=32",
    "encoder.patch_size=8",
    "encoder.depth=2",
    "encoder.embed_dim=32",
    "encoder.num_heads=2",
    "predictor.embed_dim=16",
    "predictor.depth=1",
    "data.resolution=32",
    "data.num_train=48",
    "data.num_val=24",
    "data.num_classes=6",
    "train.batch_size=8",
    "train.num_workers=0",
    "train.max_steps=2",
    "probe.enabled=false",
    "probe.epochs=5",
]


@pytest.fixture
def run_dir(tiny_image_run):
    return tiny_image_run


def test_linear_probe_on_the_checkpoints_own_dataset(run_dir, capsys, tmp_path):
    ckpt = run_dir / "checkpoints" / "step_00000002.pt"
    rc = main(["eval", "linear-probe", "--checkpoint", str(ckpt), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "jepaforge format" in out and "data 'synthetic_shapes'" in out
    assert "linear probe (target encoder): top-1 " in out and "top-5" in out and "on 24 val samples (48 train" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    result = saved["results"]["target encoder"]
    assert result["num_classes"] == 6 and 0.0 <= result["top1"] <= 100.0 and f"top-1 {result['top1']:.1f}%" in out


def test_lbfgs_linear_probe_chooses_its_penalty_by_cross_validation(run_dir, capsys, tmp_path):
    out_json = tmp_path / "r.json"
    argv = ["eval", "linear-probe", "--checkpoint", str(run_dir), "--solver", "lbfgs", "--json", str(out_json)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    saved = json.loads(out_json.read_text())
    result = saved["results"]["target encoder"]
    assert saved["solver"] == "lbfgs" and result["l2"] in L2_GRID
    assert f"L-BFGS linear probe (L2 {result['l2']:g}, 5-fold cross-validation on the train labels)" in out
    assert main([*argv[:-2], "--l2", "0.5"]) == 0
    assert "L-BFGS linear probe (L2 0.5, given) (target encoder): top-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--l2", "0.1"], "--l2 0.1 applies to --solver lbfgs only; add --solver lbfgs or drop --l2."),
        (["--solver", "lbfgs", "--epochs", "3"], "--epochs 3 applies to --solver adamw only"),
        (["--solver", "lbfgs", "--l2", "-1"], "--l2 must be a finite number >= 0, got -1.0."),
        (["--solver", "lbfgs", "--l2", "nan"], "--l2 must be a finite number >= 0, got nan."),
        (["--solver", "lbfgs", "--l2", "inf"], "--l2 must be a finite number >= 0, got inf."),
        (
            ["--solver", "lbfgs", "--labels-per-class", "2"],
            "--labels-per-class 2 is too few for the 5-fold cross-validation",
        ),
        (["--device", "gpu"], "--device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'."),
    ],
)
def test_bad_linear_probe_options_exit_2_before_any_work(run_dir, capsys, extra, message):
    assert main(["eval", "linear-probe", "--checkpoint", str(run_dir), *extra]) == 2
    out, err = capsys.readouterr()
    assert message in err and "evaluating" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["linear-probe", "--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
        (["linear-probe", "--lr", "-1"], "argument --lr: must be a finite number > 0, got '-1'"),
        (["linear-probe", "--lr", "nan"], "argument --lr: must be a finite number > 0, got 'nan'"),
        (["knn", "--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got '0'"),
        (["linear-probe", "--batch-size", "two"], "argument --batch-size: must be an integer >= 1, got 'two'"),
        (["knn", "--temperature", "0"], "argument --temperature: must be a finite number > 0, got '0'"),
        (["knn", "--temperature", "nan"], "argument --temperature: must be a finite number > 0, got 'nan'"),
    ],
)
def test_counts_and_rates_out_of_range_are_usage_errors(tmp_path, capsys, argv, message):
    """Before, --epochs 0 and --batch-size 0 fell back to the config's values without a word, and
    --lr -1 failed in the optimiser after the features were extracted."""
    with pytest.raises(SystemExit) as info:
        main(["eval", *argv, "--checkpoint", str(tmp_path / "never_read")])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_knn_low_shot_last4_context_with_baseline(run_dir, capsys):
    rc = main(
        [
            "eval",
            "knn",
            "--checkpoint",
            str(run_dir),
            "--k",
            "3",
            "--labels-per-class",
            "2",
            "--encoder",
            "context",
            "--compare-random-init",
            "--set",
            "encoder.depth=2",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "k-NN (k=3, T=0.07) (context encoder): top-1" in out and "(12 train samples, 6 classes)" in out
    assert "k-NN (k=3, T=0.07) (random init): top-1" in out
    rc = main(["eval", "knn", "--checkpoint", str(run_dir), "--pool", "last4"])
    assert rc == 2
    assert "at least 4 blocks, but VisionTransformer has 2" in capsys.readouterr().err


def test_probe_on_image_folders_with_label_fraction(run_dir, tmp_path, capsys):
    from jepa_image.synthetic import SyntheticShapesDataset

    for split, n in (("train", 12), ("val", 6)):
        ds = SyntheticShapesDataset(n, resolution=40, num_classes=3, split="train" if split == "train" else "val")
        for i in range(n):
            folder = tmp_path / split / ds.classes[ds.label(i)]
            folder.mkdir(parents=True, exist_ok=True)
            ds.image(i).save(folder / f"{i}.png")
    rc = main(
        [
            "eval",
            "linear-probe",
            "--checkpoint",
            str(run_dir),
            "--train",
            str(tmp_path / "train"),
            "--val",
            str(tmp_path / "val"),
            "--label-fraction",
            "0.5",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0, capsys.readouterr().err
    assert "data 'image_folder'" in out and "label fraction 0.5" in out
    assert "on 6 val samples (6 train samples, 3 classes)" in out and "top-5" not in out


def test_a_low_shot_subset_of_a_folder_is_chosen_before_encoding(run_dir, tmp_path, monkeypatch):
    """Only the chosen samples are encoded (1% of Fashion-MNIST: 600 train images, not 60,000),
    and the features and labels are those of choosing after encoding all of them."""
    from jepa_core.build import build_dataset
    from jepa_core.eval import setup as eval_setup
    from jepa_core.registry import build_registry
    from jepa_image.synthetic import SyntheticShapesDataset

    ds = SyntheticShapesDataset(30, resolution=32, num_classes=3, split="train")
    for split in ("train", "val"):
        for i in range(30):
            folder = tmp_path / split / ds.classes[ds.label(i)]
            folder.mkdir(parents=True, exist_ok=True)
            ds.image(i).save(folder / f"{i}.png")
    registry = build_registry()
    setup = eval_setup.load_setup(
        registry, str(run_dir), data=True, train=str(tmp_path / "train"), val=str(tmp_path / "val")
    )
    encoder = eval_setup.encoders_to_evaluate(setup, "target", compare_random_init=False)["target encoder"]
    encoded: list[int] = []
    extract = eval_setup.extract_features

    def counting(encoder, dataset, **kwargs):
        encoded.append(len(dataset))
        return extract(encoder, dataset, **kwargs)

    monkeypatch.setattr(eval_setup, "extract_features", counting)
    for option in ({"labels_per_class": 2}, {"label_fraction": 0.3}):
        first = eval_setup.frozen_features(setup, encoder, pool="mean", seed=3, **option)
        assert encoded == [6 if "labels_per_class" in option else 9, 30]
        encoded.clear()
        with monkeypatch.context() as m:  # a dataset without `samples`: chosen after encoding all
            m.setattr(eval_setup, "labels_before_reading", lambda dataset: None)
            second = eval_setup.frozen_features(setup, encoder, pool="mean", seed=3, **option)
        assert encoded == [30, 30]
        encoded.clear()
        for a, b in zip(first, second, strict=True):
            assert torch.equal(a, b)
    assert len(build_dataset(setup.cfg, registry, "train_eval")) == 30


def test_representation_report_of_a_checkpoint_matches_the_runs_own(run_dir, tmp_path, capsys):
    from jepa_core.eval.setup import encoders_to_evaluate, load_setup
    from jepa_core.representation import representation_report
    from jepa_core.run import build_dataset

    out_json = tmp_path / "rep.json"
    argv = ["eval", "representation", "--checkpoint", str(run_dir), "--samples", "40", "--compare-random-init"]
    assert main([*argv, "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    saved = json.loads(out_json.read_text())
    assert saved["num_samples"] == 40 and saved["lidar_views"] == [40, 8, 0.5]
    assert set(saved) >= {"target encoder", "random init"}
    reg = build_registry()
    setup = load_setup(reg, str(run_dir))
    want = representation_report(
        encoders_to_evaluate(setup, "target", compare_random_init=True),
        build_dataset(setup.cfg, reg, "train_eval"),
        num_samples=40,
    )
    for name in ("target encoder", "random init"):
        assert saved[name] == want[name]
        assert saved[name]["lidar"] > 0 and saved[name]["effective_rank"] > 0
    assert "data 'synthetic_shapes'" in out
    assert "representation (40 samples, 32 dims, mean-pooled): target encoder effective rank" in out
    assert main([*argv, "--seed", "1", "--encoder", "context"]) == 0
    assert "context encoder effective rank" in capsys.readouterr().out
    size = len(build_dataset(setup.cfg, reg, "train_eval"))
    assert main([*argv[:4], "--samples", str(10 * size), "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["num_samples"] == size  # smaller data: every sample
    assert main(["eval", "representation", "--checkpoint", str(run_dir), "--samples", "1"]) == 2
    assert "--samples must be >= 2 (a spread needs two samples), got 1." in capsys.readouterr().err
    assert main(["eval", "representation", "--checkpoint", str(run_dir), "--data", str(tmp_path / "none")]) == 2
    assert f"--data path '{tmp_path / 'none'}' is not a directory." in capsys.readouterr().err


def test_latent_picture_of_a_checkpoint_beside_its_random_init(run_dir, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from jepa_core.eval.features import extract_features
    from jepa_core.eval.setup import encoders_to_evaluate, load_setup
    from jepa_core.latents import latent_picture
    from jepa_core.run import build_dataset

    out = tmp_path / "lat.png"
    argv = ["eval", "latents", "--checkpoint", str(run_dir), "--out", str(out), "--samples", "20"]
    assert main([*argv, "--compare-random-init"]) == 0
    printed = capsys.readouterr().out
    assert "latent picture of 20 samples (target encoder: the two axes hold " in printed
    assert "random init: the two axes hold " in printed and f"variance, left to right) -> {out}" in printed
    picture = torch.from_numpy(np.array(Image.open(out))).permute(2, 0, 1)
    assert picture.shape == (3, 256, 2 * 256 + 8)  # trained | gap | random init
    reg = build_registry()
    setup = load_setup(reg, str(run_dir))
    dataset = build_dataset(setup.cfg, reg, "train_eval")
    idx = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:20].tolist()
    encoders = list(encoders_to_evaluate(setup, "target", compare_random_init=True).values())
    for i, encoder in enumerate(encoders):  # each half is the picture of those samples' features
        x, y = extract_features(encoder, torch.utils.data.Subset(dataset, idx))
        assert torch.equal(picture[:, :, i * 264 : i * 264 + 256], latent_picture(x, y))
    assert main([*argv, "--encoder", "context"]) == 0
    printed = capsys.readouterr().out
    assert Image.open(out).size == (256, 256) and "context encoder: the two axes" in printed
    assert "left to right" not in printed
    assert main([*argv[:-2], "--samples", "1"]) == 2
    assert "--samples must be >= 2 (principal axes need two samples), got 1." in capsys.readouterr().err
    assert main([*argv[:4], "--out", str(tmp_path / "lat.jpg")]) == 2
    assert f"--out '{tmp_path / 'lat.jpg'}' must name a .png file." in capsys.readouterr().err
    assert main([*argv, "--data", str(tmp_path / "none")]) == 2
    assert f"--data path '{tmp_path / 'none'}' is not a directory." in capsys.readouterr().err


def test_user_errors_exit_2_with_one_sentence(run_dir, tmp_path, capsys):
    missing = tmp_path / "missing.pth.tar"
    assert main(["eval", "linear-probe", "--checkpoint", str(missing)]) == 2
    assert f"error: checkpoint '{missing}' does not exist." in capsys.readouterr().err
    bad = tmp_path / "garbage.pt"
    torch.save({"weights": torch.zeros(1)}, bad)
    assert main(["eval", "knn", "--checkpoint", str(bad)]) == 2
    assert "is neither a jepaforge checkpoint" in capsys.readouterr().err
    assert main(["eval", "knn", "--checkpoint", str(run_dir), "--train", str(tmp_path)]) == 2
    assert "give both --train and --val" in capsys.readouterr().err
    assert main(["eval", "knn", "--checkpoint", str(run_dir), "--labels-per-class", "100"]) == 2
    assert (
        "--labels-per-class 100 is more than class 'circle' has (8 training samples); at most 8 fit every class."
        in (capsys.readouterr().err)
    )
    assert main(["eval", "knn", "--checkpoint", str(run_dir), "--set", "encoder.depth=1"]) == 2
    assert "unexpected keys blocks.1." in capsys.readouterr().err


def test_export_timm_from_the_cli(run_dir, tmp_path, capsys):
    timm = pytest.importorskip("timm")
    out = tmp_path / "export" / "model.pth"
    assert main(["export", "timm", "--checkpoint", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    info = json.loads(out.with_suffix(".json").read_text())
    assert f"timm model: {info['timm_model']}" in printed
    assert info["kwargs"]["depth"] == 2 and info["encoder"] == "target"
    model = timm.create_model(info["timm_model"], **info["kwargs"])
    model.load_state_dict(torch.load(out, weights_only=True))
    from jepa_core.extract import extract, load_encoder

    enc = load_encoder(run_dir)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), extract(enc, x), atol=1e-5)


def test_export_of_a_lejepa_run_names_the_encoder_it_wrote(tmp_path, capsys):
    """A run without a target encoder exports its one encoder, and the JSON says so ("context",
    as `--encoder context` names it), not the "target" that was asked for by default."""
    from jepa_core.config import apply_overrides
    from jepa_core.interop import read_checkpoint
    from jepa_core.registry import build_registry
    from jepa_core.run import train_run

    reg = build_registry()
    run = tmp_path / "lejepa"
    sets = [s for s in TINY if not s.startswith("predictor.")] + ["train.max_steps=1", f"train.out_dir={run}"]
    train_run(apply_overrides(reg.preset("image", "lejepa_demo").build(), sets, reg), reg, stream=None)
    out = tmp_path / "model.pth"
    assert main(["export", "timm", "--checkpoint", str(run), "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["encoder"] == "context"
    written, trained = torch.load(out, weights_only=True), read_checkpoint(run).network("encoder")
    assert written.keys() == trained.keys() and all(torch.equal(written[k], trained[k]) for k in written)


def test_eval_and_export_a_released_ijepa_file(tmp_path, capsys):
    from jepa_core.run import build_parts
    from tests.jepa_core.test_interop import released_state

    reg = build_registry()
    cfg = apply_overrides(reg.preset("image", "demo").build(), TINY, reg)
    path = tmp_path / "IN1K-tiny.pth.tar"
    torch.save(released_state(build_parts(cfg, reg, seed=3)), path)
    arch = [
        "--set",
        "encoder.img_size=32",
        "--set",
        "encoder.patch_size=8",
        "--set",
        "encoder.depth=2",
        "--set",
        "encoder.embed_dim=32",
        "--set",
        "encoder.num_heads=2",
        "--set",
        "data.resolution=32",
        "--set",
        "data.num_train=24",
        "--set",
        "data.num_val=12",
    ]
    assert main(["eval", "knn", "--checkpoint", str(path), *arch]) == 2
    assert "released I-JEPA format and holds no config; pass --plugin and --preset" in capsys.readouterr().err
    assert main(["eval", "knn", "--checkpoint", str(path), "--plugin", "image", "--preset", "demo", *arch]) == 0
    out = capsys.readouterr().out
    assert "(ijepa format)" in out and "k-NN (k=20, T=0.07) (target encoder): top-1" in out
    assert (
        main(
            [
                "export",
                "timm",
                "--checkpoint",
                str(path),
                "--out",
                str(tmp_path / "m.pth"),
                "--plugin",
                "image",
                "--preset",
                "demo",
                "--encoder",
                "context",
                *arch[:10],
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "m.json").read_text())["encoder"] == "context"


def test_unwritable_json_or_export_path_exits_2_before_any_work(run_dir, tmp_path, capsys):
    from tests.jepa_core.mounts import tmpfs

    def refused(argv: list[str]) -> str:
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1  # nothing evaluated or printed
        return err

    folder = tmp_path / "results"
    folder.mkdir()
    assert f"--json '{folder}' is a directory; give a file name for --json." in refused(
        ["eval", "knn", "--checkpoint", str(run_dir), "--json", str(folder)]
    )
    assert f"--out '{folder}' is a directory; give a file name for --out." in refused(
        ["export", "timm", "--checkpoint", str(run_dir), "--out", str(folder)]
    )
    with tmpfs(tmp_path / "ro", size="64k", readonly=True) as ro:
        assert "(the file system is read-only at " in refused(
            ["eval", "knn", "--checkpoint", str(run_dir), "--json", str(ro / "r.json")]
        )
        assert "(the file system is read-only at " in refused(
            ["export", "timm", "--checkpoint", str(run_dir), "--out", str(ro / "model.pth")]
        )


def test_export_onto_a_full_disk_is_one_sentence_and_leaves_no_partial_file(run_dir, tmp_path, capsys):
    from tests.jepa_core.mounts import tmpfs

    with tmpfs(tmp_path / "disk", size="16k") as disk:
        assert main(["export", "timm", "--checkpoint", str(run_dir), "--out", str(disk / "model.pth")]) == 2
        err = capsys.readouterr().err
        assert (
            err.startswith(
                f"error: could not write the timm export '{disk / 'model.pth'}' (the disk is full); "
                "free some space or choose another --out."
            )
            and err.count("\n") == 1
        )
        assert not (disk / "model.pth").exists()
