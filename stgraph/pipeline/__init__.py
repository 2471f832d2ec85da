"""The pipeline below the trainer, without Lightning: configuration, data, run directory, forecasts.

- :mod:`~stgraph.pipeline.config`: the experiment schema (data / model / training sections),
  YAML layers, ``--set`` overrides and the resolved ``config.yaml``;
- :mod:`~stgraph.pipeline.data`: a catalog name or the user's files -> readings and graph,
  validated, split chronologically, scaled, windowed (:class:`PreparedData`);
- :mod:`~stgraph.pipeline.run_dir`: the run directory's layout and ``.partial`` lifecycle;
- :mod:`~stgraph.pipeline.model_file`: what ``model.pt`` holds, and loading it back;
- :mod:`~stgraph.pipeline.evaluate`: forecasting windows or a split with a model, and its report;
- :mod:`~stgraph.pipeline.compare`: the historical average and last value on the model's
  windows, and the lead times where the model does not beat them;
- :mod:`~stgraph.pipeline.run_report`: the run directory's ``report.md``;
- :mod:`~stgraph.pipeline.forecast`: forecasting the steps after the latest readings;
- :mod:`~stgraph.pipeline.ranking`: the ranking table of a ``--model auto`` run.

:mod:`stgraph.train` trains on top of it; the CLI, the benchmarks and the service use it directly.
"""

from stgraph.errors import ConfigError, RunError
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig, TrainingConfig, resolve_config
from stgraph.pipeline.data import PreparedData, prepare_data, prepare_series
from stgraph.pipeline.evaluate import evaluate_run, forecast_windows, predict_split
from stgraph.pipeline.forecast import forecast_next, predict_file
from stgraph.pipeline.model_file import RunModel, load_model_file

__all__ = [
    "ConfigError",
    "DataConfig",
    "ExperimentConfig",
    "ModelConfig",
    "PreparedData",
    "RunError",
    "RunModel",
    "TrainingConfig",
    "evaluate_run",
    "forecast_next",
    "forecast_windows",
    "load_model_file",
    "predict_file",
    "predict_split",
    "prepare_data",
    "prepare_series",
    "resolve_config",
]
