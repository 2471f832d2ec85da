"""forecast_windows / predict_split: every window once, in order, back in original units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from stgraph.data.scaling import StandardScaler
from stgraph.data.series import SensorSeries
from stgraph.data.windows import WindowDataset
from stgraph.graph import from_matrix
from stgraph.pipeline.data import prepare_series
from stgraph.pipeline.evaluate import forecast_windows, predict_split


class _LastInput(nn.Module):
    """Repeats the last (scaled) input step over the horizon: a persistence forecast."""

    def __init__(self, horizon: int) -> None:
        super().__init__()
        self.horizon = horizon
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x, graph, *, target=None, teacher_forcing=0.0):
        return self.weight * x[:, -1:, :, :1].expand(-1, self.horizon, -1, -1)


def _series(steps: int = 20) -> SensorSeries:
    values = (np.arange(steps)[:, None] * 10.0 + np.arange(3)).astype(np.float32)[:, :, None]  # step t, sensor n: 10 t + n
    mask = np.ones(values.shape, dtype=bool)
    mask[12, 1] = False  # a target of the window at 9 only, no window's input
    return SensorSeries(
        values=values,
        mask=mask,
        timestamps=pd.date_range("2024-01-01", periods=steps, freq="5min"),
        sensor_ids=["a", "b", "c"],
        feature_names=["speed"],
    )


def test_forecasts_are_unscaled_and_in_window_order_across_batches():
    series = _series()
    windows = WindowDataset(series, lookback=2, horizon=2, starts=[0, 4, 9, 3, 7], scaler=StandardScaler().fit(series))
    forecast, target, mask = forecast_windows(_LastInput(2), None, windows, batch_size=2)  # batches of 2, 2 and 1
    starts = np.array([0, 4, 9, 3, 7])
    last_input = 10.0 * (starts + 1)[:, None] + np.arange(3)  # step s + 1
    assert forecast.shape == target.shape == mask.shape == (5, 2, 3, 1) and forecast.dtype == np.float32
    np.testing.assert_allclose(forecast[..., 0], np.repeat(last_input[:, None], 2, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(target[:, 0, :, 0], 10.0 * (starts + 2)[:, None] + np.arange(3))
    assert not mask[2, 1, 1, 0] and mask.sum() == mask.size - 1  # window at 9: targets at steps 11, 12


def test_no_window_gives_empty_arrays_of_the_forecast_shape():
    series = _series()
    windows = WindowDataset(series, lookback=2, horizon=4, starts=[], scaler=StandardScaler().fit(series))
    forecast, target, mask = forecast_windows(_LastInput(4), None, windows)
    assert forecast.shape == target.shape == mask.shape == (0, 4, 3, 1) and mask.dtype == bool


def test_predict_split_labels_each_window_with_its_first_forecast_step():
    series = _series(40)
    data = prepare_series(series, from_matrix(np.eye(3), series.sensor_ids), lookback=2, horizon=3, fractions=(0.5, 0.25, 0.25))
    split = data.split
    predictions = predict_split(_LastInput(3), data, "test", batch_size=4)
    assert split.test.tolist() == [30, 31, 32, 33, 34, 35]
    assert predictions.first_step.equals(series.timestamps[[32, 33, 34, 35, 36, 37]])
    np.testing.assert_allclose(predictions.prediction[:, 2, 0, 0], 10.0 * (split.test + 1), rtol=1e-5)
    assert predictions.sensor_ids == ["a", "b", "c"] and predictions.channels == ["speed"]
