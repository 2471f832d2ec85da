"""Plots are written as PNG files; the per-sensor error behind the map is the masked MAE."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stgraph.metrics.masked import horizon_metrics
from stgraph.report.export import Predictions
from stgraph.report.plots import pick_sensors, plot_error_by_horizon, plot_forecasts, plot_sensor_map, sensor_mae

PNG = b"\x89PNG\r\n\x1a\n"


def _predictions():
    target = np.array([[[[10.0], [20.0], [30.0]]], [[[12.0], [0.0], [33.0]]]], dtype=np.float32)  # [2, 1, 3, 1]
    prediction = target + np.array([1.0, 2.0, -3.0], dtype=np.float32)[None, None, :, None]
    mask = np.ones_like(target, dtype=bool)
    mask[1, 0, 1, 0] = False  # sensor b missing once
    prediction[1, 0, 1, 0] = 1000.0  # ... and its forecast there must not count
    return Predictions(
        prediction,
        target,
        mask,
        pd.date_range("2024-01-01", periods=2, freq="5min"),
        pd.Timedelta("5min"),
        ["a", "b", "c"],
        ["speed"],
    )


def test_sensor_mae_is_masked():
    np.testing.assert_allclose(sensor_mae(_predictions()), [1.0, 2.0, 3.0])
    assert pick_sensors(_predictions(), count=2) == [0, 2]  # best and worst


def test_plots_are_png_files(tmp_path):
    predictions = _predictions()
    plot_forecasts(tmp_path / "f.png", predictions, steps=(1,))
    plot_error_by_horizon(
        tmp_path / "e.png",
        horizon_metrics(predictions.prediction, predictions.target, mask=predictions.mask),
        interval=predictions.interval,
    )
    plot_sensor_map(
        tmp_path / "m.png", np.array([[34.1, -118.2], [34.2, -118.3], [34.0, -118.1]]), sensor_mae(predictions), units="mph"
    )
    for name in ("f.png", "e.png", "m.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
