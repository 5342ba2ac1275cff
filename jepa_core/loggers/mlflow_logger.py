"""The ``mlflow`` logger (optional extra ``jepaforge[mlflow]``): an MLflow run in a file store
in the run directory (``mlruns/``), no server needed.

``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri runs/x/mlruns`` shows it (MLflow 3
keeps file stores in maintenance mode behind that switch, which this logger sets for its own
process); ``MLFLOW_TRACKING_URI`` logs to
another store or a server instead and ``MLFLOW_EXPERIMENT_NAME`` names the experiment (default
``jepaforge``). Scalars are metrics (with their step), images are PNG artifacts under
``images/<tag>/``, and the resolved config is the artifact ``config.yaml`` plus flat parameters
(``optim.lr`` ...).

>>> logger = MlflowLogger(LoggerContext(out_dir="runs/x", run_name="x"))   # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch

from jepa_core.config_files import dump_text

from .base import LoggerContext, flat_params, hwc

DEFAULT_EXPERIMENT = "jepaforge"
PARAM_BATCH = 100  # parameters per request (MLflow's limit)
PARAM_LENGTH = 500  # longest parameter value every MLflow version accepts
FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


class MlflowLogger:
    """See the module docstring."""

    def __init__(self, context: LoggerContext) -> None:
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = (context.out_dir / "mlruns").resolve().as_uri()
            os.environ.setdefault(FILE_STORE_ENV, "true")  # MLflow 3 refuses file stores without it
        self.client = MlflowClient(tracking_uri=uri)
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME", DEFAULT_EXPERIMENT)
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment is not None else self.client.create_experiment(name)
        self.run_id = self.client.create_run(experiment_id, run_name=context.run_name).info.run_id

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        self.client.log_metric(self.run_id, tag, value, timestamp=int(time.time() * 1000), step=step)

    def log_image(self, tag: str, image: torch.Tensor, step: int) -> None:
        self.client.log_image(self.run_id, hwc(image), artifact_file=f"images/{tag}/step_{step:08d}.png")

    def log_config(self, config: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.client.log_text(self.run_id, dump_text(config, "yaml"), "config.yaml")
        params = [Param(k, v[:PARAM_LENGTH]) for k, v in flat_params(config).items()]
        for i in range(0, len(params), PARAM_BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + PARAM_BATCH])

    def flush(self) -> None:
        """Every call is written at once."""

    def close(self) -> None:
        self.client.set_terminated(self.run_id)
