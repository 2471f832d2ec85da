"""score_split: a split scored a block of windows at a time equals the whole-array path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError
from stgraph.graph import from_matrix
from stgraph.metrics.masked import horizon_metrics
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.data import prepare_series
from stgraph.pipeline.evaluate import calibrate_run, interval_scores, predict_split, with_intervals
from stgraph.pipeline.scoring import read_sensor_table, score_split
from stgraph.report.export import load_predictions

HORIZON = 3


class _Persistence(nn.Module):
    """The last (scaled) input step times a per-level factor, over the horizon: ``levels`` outputs."""

    def __init__(self, levels: tuple[float, ...] = (1.0,)) -> None:
        super().__init__()
        self.factors = nn.Parameter(torch.tensor(levels))

    def forward(self, x, graph, *, target=None, teacher_forcing=0.0):
        return (x[:, -1:, :, :1] * self.factors).expand(-1, HORIZON, -1, -1)


def _data(steps: int = 90):
    rng = np.random.default_rng(7)
    values = (50.0 + 10.0 * np.sin(np.arange(steps) / 6.0)[:, None] + rng.normal(0, 3, (steps, 4))).astype(np.float32)
    mask = rng.random((steps, 4)) > 0.1
    series = SensorSeries(
        values=values[:, :, None],
        mask=mask[:, :, None],
        timestamps=pd.date_range("2024-01-01 22:00", periods=steps, freq="5min"),
        sensor_ids=["s1", "s2", "s3", "s4"],
        feature_names=["speed"],
    )
    graph = from_matrix(np.eye(4), series.sensor_ids)
    return prepare_series(series, graph, lookback=2, horizon=HORIZON, fractions=(0.5, 0.25, 0.25), name="toy")


def test_point_forecasts_scored_in_blocks_equal_the_whole_split(tmp_path):
    data, model = _data(), _Persistence()
    calibration = calibrate_run(model, data, 0.8, batch_size=4)
    # 3 steps x 4 sensors = 12 entries per window: blocks of 4 windows, the last one shorter
    scores = score_split(model, data, "test", tmp_path, calibration=calibration, batch_size=4, block_entries=50)
    whole = with_intervals(predict_split(model, data, "test", batch_size=4), calibration)
    assert len(whole.target) % 4 and len(whole.target) > 8
    expected = horizon_metrics(whole.prediction, whole.target, mask=whole.mask)
    for name in ("mae", "rmse", "mape"):
        np.testing.assert_allclose(getattr(scores.metrics, name), getattr(expected, name), rtol=1e-10)
    np.testing.assert_array_equal(scores.metrics.observed, expected.observed)
    intervals = interval_scores(whole, 0.8)
    for name in ("coverage", "width", "winkler", "crps", "pinball"):
        np.testing.assert_allclose(getattr(scores.intervals, name), getattr(intervals, name), rtol=1e-10)

    written = load_predictions(tmp_path / "predictions_test.npz")
    for name in ("prediction", "target", "mask", "lower", "upper"):
        np.testing.assert_array_equal(getattr(written, name), getattr(whole, name))
    assert written.first_step.equals(whole.first_step) and written.interval == pd.Timedelta("5min")
    assert written.sensor_ids == data.graph.sensor_ids and written.channels == ["speed"]

    table = read_sensor_table(tmp_path / "sensors_test.csv")
    error, observed = np.abs(whole.prediction - whole.target)[..., 0], whole.mask[..., 0]
    counts = observed.sum(axis=(0, 1))
    assert table["sensor"].tolist() == ["s1", "s2", "s3", "s4"]
    np.testing.assert_array_equal(table["observed"], counts)
    np.testing.assert_allclose(table["mae"], (error * observed).sum(axis=(0, 1)) / counts, rtol=1e-5)
    np.testing.assert_allclose(table["rmse"], np.sqrt((error**2 * observed).sum(axis=(0, 1)) / counts), rtol=1e-5)
    mean_reading = (whole.target[..., 0] * observed).sum(axis=(0, 1)) / counts
    np.testing.assert_allclose(table["mean_reading"], mean_reading, rtol=1e-5)
    assert (tmp_path / "plots" / "forecasts_test.png").stat().st_size > 0
    assert (tmp_path / "plots" / "error_by_horizon_test.png").stat().st_size > 0


def test_a_quantile_model_is_scored_on_its_own_levels_with_its_cqr_interval(tmp_path):
    data = _data()
    model = QuantileHead(_Persistence((0.9, 1.0, 1.1)), channels=1, quantiles=[0.1, 0.5, 0.9])
    calibration = calibrate_run(model, data, 0.8, batch_size=4)
    assert calibration.bounds is not None  # CQR, on the model's levels
    scores = score_split(model, data, "test", tmp_path, calibration=calibration, batch_size=4, block_entries=50)
    whole = with_intervals(predict_split(model, data, "test", batch_size=4), calibration)
    intervals = interval_scores(whole, 0.8)
    for name in ("coverage", "width", "winkler", "crps", "pinball"):
        np.testing.assert_allclose(getattr(scores.intervals, name), getattr(intervals, name), rtol=1e-10)
    written = load_predictions(tmp_path / "predictions_test.npz")
    np.testing.assert_array_equal(written.quantiles, whole.quantiles)
    assert written.levels == (0.1, 0.5, 0.9)


def test_without_a_calibration_there_is_no_interval(tmp_path):
    scores = score_split(_Persistence(), _data(), "val", tmp_path, batch_size=4)
    assert scores.intervals is None
    assert load_predictions(tmp_path / "predictions_val.npz").lower is None
    assert (tmp_path / "sensors_val.csv").is_file()


def test_a_cqr_calibration_for_a_point_model_is_refused_and_leaves_no_file(tmp_path):
    data = _data()
    quantile_model = QuantileHead(_Persistence((0.9, 1.0, 1.1)), channels=1, quantiles=[0.1, 0.5, 0.9])
    calibration = calibrate_run(quantile_model, data, 0.8, batch_size=4)
    with pytest.raises(ValueError, match="quantile model"):
        score_split(_Persistence(), data, "test", tmp_path, calibration=calibration, batch_size=4)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_split_names_the_dataset_and_split(tmp_path):
    data = _data(steps=90)
    empty = prepare_series(data.series, data.graph, lookback=2, horizon=HORIZON, fractions=(0.9, 0.1, 0.0), name="toy")
    with pytest.raises(SensorDataError, match="toy: the test split has no windows"):
        score_split(_Persistence(), empty, "test", tmp_path)
