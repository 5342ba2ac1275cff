"""Logger plugins: the fan-out, the tensorboard and csv loggers, the wandb and mlflow adapters
(against fake modules: CI installs neither), and the pre-flight check of train.loggers."""

from __future__ import annotations

import os
import sys
import types

import pytest
import torch

from jepa_core.errors import ConfigError
from jepa_core.loggers import LoggerContext, LoggerFanOut, check_loggers, open_loggers
from jepa_core.loggers.csv_logger import CsvLogger, read_metrics
from jepa_core.registry import build_registry

CONFIG = {"plugin": "toy", "preset": "demo", "optim": {"lr": 0.001, "betas": [0.9, 0.999]}}
PICTURE = torch.arange(3 * 4 * 6, dtype=torch.uint8).reshape(3, 4, 6)


@pytest.fixture(scope="module")
def reg():
    return build_registry(autoload=False)


class Recorder:
    def __init__(self, ctx=None):
        self.calls = []

    def log_scalar(self, tag, value, step):
        self.calls.append(("scalar", tag, value, step))

    def log_image(self, tag, image, step):
        self.calls.append(("image", tag, tuple(image.shape), step))

    def log_config(self, config):
        self.calls.append(("config", config))

    def flush(self):
        self.calls.append(("flush",))

    def close(self):
        self.calls.append(("close",))


def _feed(writer):
    writer.add_scalar("train/loss", torch.tensor(0.5), 20)
    writer.add_image("masks", PICTURE, 20)
    writer.flush()
    writer.close()


def test_the_fan_out_gives_every_logger_the_same_calls():
    a, b = Recorder(), Recorder()
    _feed(LoggerFanOut([a, b]))
    assert (
        a.calls
        == b.calls
        == [("scalar", "train/loss", 0.5, 20), ("image", "masks", (3, 4, 6), 20), ("flush",), ("close",)]
    )


def test_the_fan_out_closes_every_logger_before_raising():
    class Broken(Recorder):
        def close(self):
            raise OSError("disk full")

    after = Recorder()
    with pytest.raises(OSError, match="disk full"):
        LoggerFanOut([Broken(), after]).close()
    assert after.calls == [("close",)]


def test_builtin_loggers_are_registered(reg):
    assert set(reg.loggers()) == {"tensorboard", "csv", "wandb", "mlflow"}
    assert reg.logger("wandb").extra == "wandb" and reg.logger("mlflow").requires == ("mlflow",)


def test_tensorboard_logger_writes_scalars_images_and_the_config(reg, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = open_loggers(("tensorboard",), reg, LoggerContext(out_dir=tmp_path, config=CONFIG))
    _feed(writer)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert acc.Tags()["scalars"] == ["train/loss"] and acc.Tags()["images"] == ["masks"]
    assert [e.value for e in acc.Scalars("train/loss")] == [0.5]
    assert "config" in "".join(acc.Tags()["tensors"])


def test_csv_writes_one_row_per_step_and_widens_for_new_tags(tmp_path):
    log = CsvLogger(LoggerContext(out_dir=tmp_path))
    path = tmp_path / "metrics.csv"
    assert path.read_text() == "step\n"
    log.log_scalar("train/loss", 0.5, 20)
    log.log_scalar("train/lr", 1e-3, 20)
    log.log_scalar("train/loss", 0.25, 40)  # completes step 20: appended
    assert path.read_text().splitlines() == ["step,train/loss,train/lr", "20,0.5,0.001"]
    log.log_scalar("eval/knn_top1", 31.5, 40)  # a new tag: the table is rewritten wider
    log.log_image("masks", PICTURE, 40)
    log.flush()
    assert path.read_text().splitlines() == ["step,train/loss,train/lr,eval/knn_top1", "20,0.5,0.001,", "40,0.25,,31.5"]
    log.log_scalar("eval/knn_top1", 33.0, 40)  # a late value for a written row
    log.close()
    assert read_metrics(path) == {
        20: {"train/loss": 0.5, "train/lr": 0.001},
        40: {"train/loss": 0.25, "eval/knn_top1": 33.0},
    }


def test_csv_of_a_resumed_run_drops_rows_after_the_resume_step(tmp_path):
    first = CsvLogger(LoggerContext(out_dir=tmp_path))
    for step in (20, 40, 60):
        first.log_scalar("train/loss", step / 100, step)
    first.close()
    with open(tmp_path / "metrics.csv", "a") as f:
        f.write("80,0.")  # a torn last line of a killed run
    second = CsvLogger(LoggerContext(out_dir=tmp_path, start_step=40))
    second.log_scalar("train/loss", 0.5, 60)
    second.close()
    assert read_metrics(tmp_path / "metrics.csv") == {
        20: {"train/loss": 0.2},
        40: {"train/loss": 0.4},
        60: {"train/loss": 0.5},
    }


def _fake_wandb(monkeypatch):
    runs = []

    class Run:
        def __init__(self, **kwargs):
            self.kwargs, self.logged, self.finished = kwargs, [], False
            self.config = types.SimpleNamespace(
                values={}, update=lambda d, allow_val_change=False: self.config.values.update(d)
            )

        def log(self, data, step=None):
            self.logged.append((step, dict(data)))

        def finish(self):
            self.finished = True

    def init(**kwargs):
        runs.append(Run(**kwargs))
        return runs[-1]

    class Image:
        def __init__(self, array):
            self.shape = array.shape

    module = types.ModuleType("wandb")
    module.init, module.Image = init, Image
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def test_wandb_adapter_logs_offline_in_the_run_directory(reg, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    runs = _fake_wandb(monkeypatch)
    writer = open_loggers(("wandb",), reg, LoggerContext(out_dir=tmp_path, config=CONFIG, run_name="r1"))
    writer.add_scalar("train/loss", 0.5, 20)
    writer.add_scalar("train/lr", 0.001, 20)
    writer.add_image("masks", PICTURE, 20)
    writer.add_scalar("train/loss", 0.25, 40)
    writer.close()
    (run,) = runs
    assert run.kwargs["mode"] == "offline" and run.kwargs["dir"] == str(tmp_path) and run.kwargs["name"] == "r1"
    assert run.config.values == CONFIG
    assert [(step, sorted(data)) for step, data in run.logged] == [
        (20, ["masks", "train/loss", "train/lr"]),
        (40, ["train/loss"]),
    ]
    assert run.logged[0][1]["masks"].shape == (4, 6, 3) and run.finished


def _fake_mlflow(monkeypatch):
    clients = []

    class Client:
        def __init__(self, tracking_uri):
            self.uri, self.calls, self.experiments = tracking_uri, [], {}
            clients.append(self)

        def get_experiment_by_name(self, name):
            return None

        def create_experiment(self, name):
            self.calls.append(("create_experiment", name))
            return "1"

        def create_run(self, experiment_id, run_name=None):
            self.calls.append(("create_run", experiment_id, run_name))
            return types.SimpleNamespace(info=types.SimpleNamespace(run_id="abc"))

        def __getattr__(self, name):  # log_metric, log_image, log_text, log_batch, set_terminated
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    mlflow = types.ModuleType("mlflow")
    tracking = types.ModuleType("mlflow.tracking")
    tracking.MlflowClient = Client
    entities = types.ModuleType("mlflow.entities")
    entities.Param = lambda key, value: (key, value)
    for name, module in (("mlflow", mlflow), ("mlflow.tracking", tracking), ("mlflow.entities", entities)):
        monkeypatch.setitem(sys.modules, name, module)
    return clients


def test_mlflow_adapter_logs_to_a_file_store_in_the_run_directory(reg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    clients = _fake_mlflow(monkeypatch)
    _feed(open_loggers(("mlflow",), reg, LoggerContext(out_dir=tmp_path, config=CONFIG, run_name="r1")))
    (client,) = clients
    assert client.uri == (tmp_path / "mlruns").resolve().as_uri()
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"  # MLflow 3 refuses file stores without it
    names = [c[0] for c in client.calls]
    assert names == [
        "create_experiment",
        "create_run",
        "log_text",
        "log_batch",
        "log_metric",
        "log_image",
        "set_terminated",
    ]
    text, batch, metric, image = (client.calls[i] for i in (2, 3, 4, 5))
    assert text[1][2] == "config.yaml" and "lr: 0.001" in text[1][1]
    assert ("optim.lr", "0.001") in batch[2]["params"]
    assert metric[1] == ("abc", "train/loss", 0.5) and metric[2]["step"] == 20
    assert image[1][1].shape == (4, 6, 3) and image[2]["artifact_file"] == "images/masks/step_00000020.png"


@pytest.mark.parametrize(
    "names, words",
    [
        (
            ("tensorboard", "neptune"),
            "train.loggers names an unknown logger 'neptune'; valid loggers: csv, mlflow, tensorboard, wandb.",
        ),
        (("csv", "CSV"), "train.loggers names 'csv' twice"),
        (
            ("wandb",),
            "train.loggers names 'wandb', which needs the optional package wandb; "
            "install it with pip install 'jepaforge[wandb]'",
        ),
        (("mlflow",), "which needs the optional package mlflow; install it with pip install 'jepaforge[mlflow]'"),
    ],
)
def test_check_loggers_is_one_sentence(reg, monkeypatch, names, words):
    monkeypatch.setitem(sys.modules, "wandb", None)  # not importable
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ConfigError) as err:
        check_loggers(names, reg)
    assert words in str(err.value)


def test_a_logger_failing_to_start_closes_the_ones_already_open(tmp_path, monkeypatch):
    from jepa_core.specs import LoggerSpec

    opened = Recorder()

    def broken(ctx):
        raise RuntimeError("no server")

    registry = types.SimpleNamespace(
        loggers=lambda: {"ok": None, "broken": None},
        logger=lambda name: LoggerSpec(name=name, build=(lambda ctx: opened) if name == "ok" else broken),
    )
    with pytest.raises(RuntimeError, match="no server"):
        open_loggers(("ok", "broken"), registry, LoggerContext(out_dir=tmp_path))
    assert opened.calls == [("close",)]
