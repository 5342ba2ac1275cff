"""The third-party objective example installs with pip, is found through its entry point, passes
the conformance kit (two processes equal one) and trains with the image plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from jepa_core.registry import build_registry

PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "views_vicreg_plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    # pip builds in the folder it installs from, and the suite's two processes may both install
    # at once (each runs this module's tests): each installs its own copy
    source = tmp_path_factory.mktemp("source") / PACKAGE.name
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    sys.path.insert(0, str(target))
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m.startswith("views_vicreg")]:
        sys.modules.pop(name)


def test_entry_point_registers_the_objective(installed):
    reg = build_registry()  # entry points: found because the installed dist-info is on sys.path
    assert "views_vicreg" in reg.plugins and reg.plugins["views_vicreg"].distribution == "jepa-views-vicreg"
    spec = reg.get("objective", "views_vicreg")
    assert spec.excludes == ("target", "predictor", "regularizer")


def test_it_passes_the_conformance_kit_in_two_processes(installed):
    from jepa_core.testing import conformance_cases

    (case,) = [c for c in conformance_cases(build_registry(), plugins=["views_vicreg"])]
    assert case.kind == "objective" and case.skip_reason is None
    case.run()  # finite, every trained parameter gets a gradient, deterministic, 2 gloo processes == 1


def test_it_trains_the_image_demo_with_token_views(installed, tmp_path):
    from jepa_core.config import apply_overrides
    from jepa_core.run import train_run

    reg = build_registry()
    cfg = apply_overrides(
        reg.preset("image", "demo").build(),
        [
            "objective.name=views_vicreg",
            "target.name=none",
            "predictor.name=none",
            "masker.name=token_views",
            "loss.name=l2",
            "regularizer.name=none",
            "encoder.depth=1",
            "train.batch_size=8",
            "train.max_steps=2",
            "train.num_workers=0",
            "data.num_train=16",
            "data.num_val=8",
            "probe.enabled=false",
            f"train.out_dir={tmp_path}",
        ],
        reg,
    )
    result = train_run(cfg, reg, stream=None)
    assert result.steps == 2 and all(torch.isfinite(torch.tensor([v for _, v in result.loss_history])))
    state = torch.load(sorted((tmp_path / "checkpoints").glob("*.pt"))[-1], weights_only=True)
    assert set(state["objective"]) >= {"0.weight", "3.weight"}  # the plugin's projector is checkpointed
