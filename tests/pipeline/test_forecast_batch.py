"""``forecast_batch`` / ``forecast_batch_quantiles`` / ``forecast_intervals`` (stgraph/pipeline/forecast.py):
several series in one model call give each series' own forecast, as one call per series would."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph.data.series import SensorSeries
from stgraph.errors import RunError, SensorDataError
from stgraph.graph import from_matrix
from stgraph.pipeline.calibration import Calibration
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig
from stgraph.pipeline.data import prepare_series
from stgraph.pipeline.forecast import (
    forecast_batch,
    forecast_batch_quantiles,
    forecast_intervals,
    forecast_next,
    forecast_next_quantiles,
)
from stgraph.pipeline.model_file import load_model_file, save_model_file
from stgraph.pipeline.run_dir import build_model, run_metadata

LEVELS = [0.1, 0.5, 0.9]


@pytest.fixture(scope="module")
def series() -> SensorSeries:
    rng = np.random.default_rng(5)
    index = pd.date_range("2024-05-06 07:00", periods=30, freq="5min")
    return SensorSeries(rng.normal(60, 8, size=(30, 3, 1)), None, index, ["a", "b", "c"], ["speed"])


def _run(series, tmp_path_factory, options):
    graph = from_matrix(np.array([[1.0, 0.4, 0.0], [0.4, 1.0, 0.7], [0.0, 0.7, 1.0]]), series.sensor_ids)
    data = prepare_series(series, graph, lookback=4, horizon=2, fractions=(0.6, 0.2, 0.2), covariates=["time_of_day"])
    config = ExperimentConfig(
        data=DataConfig(readings="toy.csv", adjacency="toy.npz", lookback=4, horizon=2),
        model=ModelConfig(name="tgcn", options=options),
    )
    torch.manual_seed(0)
    model, kwargs = build_model(config, data)
    path = tmp_path_factory.mktemp("run") / "model.pt"
    save_model_file(path, {**run_metadata(config, data, kwargs), "state_dict": model.state_dict()})
    return load_model_file(path)


@pytest.fixture(scope="module")
def point_run(series, tmp_path_factory):
    return _run(series, tmp_path_factory, {"hidden": 4})


@pytest.fixture(scope="module")
def quantile_run(series, tmp_path_factory):
    return _run(series, tmp_path_factory, {"hidden": 4, "quantiles": LEVELS})


def test_a_batch_is_each_series_forecast_alone(point_run, series):
    windows = [series.slice_time(0, 10), series.slice_time(5, 20), series]
    batched = forecast_batch(point_run, windows)
    assert batched.shape == (3, 2, 3, 1)
    for forecast, window in zip(batched, windows, strict=True):
        np.testing.assert_allclose(forecast, forecast_next(point_run, window), rtol=1e-5, atol=1e-5)
    with pytest.raises(SensorDataError, match="no series to forecast"):
        forecast_batch(point_run, [])


def test_quantile_batches_and_the_cqr_interval(quantile_run, series):
    windows = [series.slice_time(0, 10), series]
    levels = forecast_batch_quantiles(quantile_run, windows)
    assert levels.shape == (2, 2, 3, 1, 3)
    np.testing.assert_allclose(levels[1], forecast_next_quantiles(quantile_run, series), rtol=1e-5, atol=1e-5)
    margin = np.full((2, 1, 1), 0.5)
    calibration = Calibration(coverage=0.8, margin=margin, bounds=(0, 2), windows=4, per_sensor=False)
    lower, upper, quantiles = forecast_intervals(quantile_run, calibration, windows, forecast_batch(quantile_run, windows))
    np.testing.assert_allclose(quantiles, levels, rtol=1e-6)
    np.testing.assert_allclose(lower, levels[..., 0] - 0.5, rtol=1e-6)  # CQR widens the 0.1 and 0.9 levels
    np.testing.assert_allclose(upper, levels[..., 2] + 0.5, rtol=1e-6)


def test_a_point_run_forecasts_no_quantiles_and_its_interval_is_split_conformal(point_run, series):
    with pytest.raises(RunError, match=r"the run's model \(tgcn\) forecasts no quantiles"):
        forecast_batch_quantiles(point_run, [series])
    forecast = forecast_batch(point_run, [series])
    calibration = Calibration(coverage=0.9, margin=np.full((2, 1, 1), 1.5), bounds=None, windows=4, per_sensor=False)
    lower, upper, quantiles = forecast_intervals(point_run, calibration, [series], forecast)
    assert quantiles is None
    np.testing.assert_allclose(upper - lower, 3.0, rtol=1e-6)
