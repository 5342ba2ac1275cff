"""The ``frozen`` target provider: a teacher that no step moves (the encoder's initial weights, or
a checkpoint's encoder); probes, the online evaluation, the collapse report and ``jepa eval``
read the student (the context encoder), as for a run without a teacher."""

from __future__ import annotations

import io
import json

import pytest
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.build import build_encoder
from jepa_core.cli.app import main
from jepa_core.errors import CheckpointError
from jepa_core.extract import encoder_label, load_encoder, probes_read_target, resolve_which
from jepa_core.frozen_target import FrozenConfig, build_frozen
from tests import toy_seq_plugin
from tests.jepa_core.test_objectives import LEJEPA


def _run(registry, out, steps, *extra, stream=None):
    return toy_seq_plugin.train_toy(registry, out, steps, *extra, stream=stream)


def _latest(run_dir):
    return ckpt.load_checkpoint(ckpt.latest_checkpoint(run_dir / "checkpoints"))


def test_frozen_teacher_keeps_the_initial_weights_while_the_student_trains(toy_registry, tmp_path):
    console = io.StringIO()
    cfg, _ = _run(toy_registry, tmp_path / "frozen", 4, "target.name=frozen", "probe.enabled=true", stream=console)
    init, end = build_encoder(cfg, toy_registry).state_dict(), _latest(tmp_path / "frozen")
    for k, v in init.items():
        assert torch.equal(end["target_encoder"][k], v), k  # the teacher: the initial weights, four steps later
    assert any(not torch.equal(end["encoder"][k], v) for k, v in init.items())  # the student moved
    out = console.getvalue()
    assert "linear probe (trained encoder): top-1" in out and "| ema " not in out
    report = json.loads((tmp_path / "frozen" / "representation.json").read_text())
    assert {"encoder", "random_init"} <= set(report) and "target" not in report
    assert not probes_read_target(cfg, toy_registry)
    assert resolve_which(cfg, toy_registry, "target") == "context" and encoder_label(cfg, toy_registry) == "encoder"
    loaded = load_encoder(tmp_path / "frozen", registry=toy_registry)  # "target" reads the student
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, end["encoder"][k]), k


def test_ema_teacher_is_still_what_probes_read(toy_registry):
    cfg = toy_seq_plugin.toy_config()
    assert cfg.target.name == "ema" and probes_read_target(cfg, toy_registry)
    assert (
        resolve_which(cfg, toy_registry, "target") == "target" and encoder_label(cfg, toy_registry) == "target encoder"
    )


@pytest.mark.parametrize(
    "network, state", [("auto", "target_encoder"), ("target", "target_encoder"), ("context", "encoder")]
)
def test_frozen_teacher_loads_a_checkpoints_encoder(toy_registry, tmp_path, network, state):
    _run(toy_registry, tmp_path / "teacher", 2)  # an EMA run: its target and context encoders differ
    teacher = _latest(tmp_path / "teacher")
    cfg, _ = _run(
        toy_registry,
        tmp_path / "student",
        2,
        "target.name=frozen",
        f"target.checkpoint={tmp_path / 'teacher'}",
        f"target.network={network}",
    )
    student = _latest(tmp_path / "student")
    for k, v in teacher[state].items():
        assert torch.equal(student["target_encoder"][k], v), k


@pytest.mark.parametrize("teacher_run", [["target.name=frozen"], LEJEPA], ids=["frozen-teacher run", "lejepa run"])
def test_auto_takes_the_encoder_of_a_run_whose_probes_read_it(toy_registry, tmp_path, teacher_run):
    """A run with a frozen teacher, or none: ``auto`` takes its trained (context) encoder."""
    _run(toy_registry, tmp_path / "first", 2, *teacher_run)
    first = _latest(tmp_path / "first")
    provider = build_frozen(FrozenConfig(checkpoint=str(tmp_path / "first")), _toy_encoder(toy_registry))
    for k, v in provider.encoder.state_dict().items():
        assert torch.equal(v, first["encoder"][k]), k


def test_the_target_network_of_a_run_without_a_teacher_is_refused(toy_registry, tmp_path):
    _run(toy_registry, tmp_path / "first", 2, *LEJEPA)
    with pytest.raises(CheckpointError, match="has no target encoder .* set target.network=context or auto"):
        build_frozen(FrozenConfig(checkpoint=str(tmp_path / "first"), network="target"), _toy_encoder(toy_registry))


def _toy_encoder(registry):
    cfg = toy_seq_plugin.toy_config()
    return registry.get("encoder", cfg.encoder.name).build(cfg.encoder.options)


def test_a_teacher_of_another_architecture_or_a_missing_one_exits_2_before_any_work(tmp_path, capsys):
    argv = ["train", "--plugin", "image", "--preset", "demo", "--set", "train.max_steps=1"]
    teacher = tmp_path / "teacher"
    assert main([*argv, "--out", str(teacher), "--set", "encoder.depth=2", "--set", "train.eval_every=0"]) == 0
    capsys.readouterr()
    for checkpoint, message in (
        (teacher, "the frozen teacher (target.checkpoint): the target_encoder in the checkpoint does not match"),
        (tmp_path / "nowhere.pt", "nowhere.pt"),
    ):
        out = tmp_path / "student"
        rc = main([*argv, "--out", str(out), "--set", "target.name=frozen", "--set", f"target.checkpoint={checkpoint}"])
        err = capsys.readouterr().err
        assert rc == 2 and message in err, err
        assert len(err.strip().splitlines()) == 1
        assert not out.exists()


def test_a_run_with_a_frozen_teacher_resumes_exactly(toy_registry, tmp_path):
    frozen = ("target.name=frozen",)
    _run(toy_registry, tmp_path / "straight", 4, *frozen)
    _run(toy_registry, tmp_path / "resumed", 2, *frozen)
    _run(toy_registry, tmp_path / "resumed", 4, *frozen)  # continues from step 2
    a, b = _latest(tmp_path / "straight"), _latest(tmp_path / "resumed")
    assert a["step"] == b["step"] == 4
    for what in ("encoder", "target_encoder"):
        for k in a[what]:
            assert torch.equal(a[what][k], b[what][k]), (what, k)


def test_init_from_keeps_a_named_teacher_and_copies_the_loaded_encoder_into_an_unnamed_one(toy_registry, tmp_path):
    _run(toy_registry, tmp_path / "a", 2)  # the teacher named by target.checkpoint
    _run(toy_registry, tmp_path / "b", 2, "train.seed=7")  # the weights train.init_from starts from
    a, b = _latest(tmp_path / "a"), _latest(tmp_path / "b")
    init = f"train.init_from={tmp_path / 'b'}"
    named = ("target.name=frozen", f"target.checkpoint={tmp_path / 'a'}", init)
    _run(toy_registry, tmp_path / "named", 1, *named)
    _run(toy_registry, tmp_path / "unnamed", 1, "target.name=frozen", init)
    for run, want in (("named", a["target_encoder"]), ("unnamed", b["encoder"])):
        teacher = _latest(tmp_path / run)["target_encoder"]
        assert all(torch.equal(teacher[k], v) for k, v in want.items()), run
