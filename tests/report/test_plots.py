"""Plots are written as PNG files; the per-sensor error behind the map is the masked MAE."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from stgraph.metrics.masked import HorizonMetrics, horizon_metrics
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
    assert pick_sensors(sensor_mae(_predictions()), count=2) == [0, 2]  # best and worst


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


def test_error_plot_reads_lead_times_and_units(tmp_path):
    steps = np.arange(1, 13, dtype=float)
    metrics = HorizonMetrics(mae=steps, rmse=steps + 1, mape=steps / 100, observed=np.full(12, 5))
    figure = plot_error_by_horizon(tmp_path / "e.png", metrics, interval=pd.Timedelta("5min"), units="mph", split="val")
    ax = figure.axes[0]
    assert ax.get_xlabel() == "lead time" and ax.get_ylabel() == "error (mph)"
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels[:3] == ["5 min", "10 min", "15 min"] and labels[-1] == "1 h" and len(labels) == 12
    assert ax.get_title() == "val error by lead time" and figure.axes[1].get_ylabel() == "MAPE (%)"
    hourly = plot_error_by_horizon(tmp_path / "h.png", metrics, interval=pd.Timedelta("2h"))
    assert [t.get_text() for t in hourly.axes[0].get_xticklabels()][-1] == "1 d"
    assert hourly.axes[0].get_ylabel() == "error"


def test_forecast_plot_names_the_feature_and_its_units(tmp_path):
    figure = plot_forecasts(tmp_path / "f.png", _predictions(), sensors=[0, 2], steps=(1,), units="km/h")
    assert [ax.get_ylabel() for ax in figure.axes] == ["speed (km/h)", "speed (km/h)"]
    assert [ax.get_title() for ax in figure.axes] == ["sensor a", "sensor c"]
    assert figure.axes[0].get_legend_handles_labels()[1] == ["observed", "forecast 5 min ahead"]


def test_forecast_plot_draws_the_interval_as_a_band(tmp_path):
    plain = _predictions()
    assert all(not ax.collections for ax in plot_forecasts(tmp_path / "p.png", plain, steps=(1,)).axes)
    banded = dataclasses.replace(plain, lower=plain.prediction - 2, upper=plain.prediction + 3)
    figure = plot_forecasts(tmp_path / "b.png", banded, sensors=[0], steps=(1,))
    (band,) = figure.axes[0].collections
    # the band's outline runs along lower, then back along upper: sensor a's forecasts 11 and 13
    heights = band.get_paths()[0].vertices[:, 1]
    assert {9.0, 11.0, 14.0, 16.0} <= set(np.round(heights, 6))
    assert band.get_label() == "interval 5 min ahead"
