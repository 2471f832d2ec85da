"""Training, evaluation and forecasting with Lightning (the only package that imports it).

>>> from stgraph.train import resolve_config, train  # doctest: +SKIP
>>> config = resolve_config(model="stgcn", dataset="sample", overrides=["training.epochs=5"])  # doctest: +SKIP
>>> result = train(config, "runs/my-first-run")  # doctest: +SKIP
>>> result.test.average()  # doctest: +SKIP
"""

from stgraph.train.checkpoint import RunModel, load_model_file
from stgraph.train.config import ConfigError, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig, resolve_config
from stgraph.train.data import PreparedData, prepare_data
from stgraph.train.forecast import forecast_next, predict_file
from stgraph.train.module import ForecastModule
from stgraph.train.run import RunError, RunResult, train

__all__ = [
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "ForecastModule",
    "ModelConfig",
    "PreparedData",
    "RunError",
    "RunModel",
    "RunResult",
    "TrainingConfig",
    "forecast_next",
    "load_model_file",
    "predict_file",
    "prepare_data",
    "resolve_config",
    "train",
]
