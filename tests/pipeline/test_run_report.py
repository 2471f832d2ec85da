"""``report.md`` is rendered from the run directory: data, the table beside the baselines, the
verdict, the sensors ranked by test MAE, the plots that exist."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from stgraph.data.series import SensorSeries
from stgraph.graph import from_matrix
from stgraph.metrics.masked import HorizonMetrics, horizon_metrics, sensor_metrics
from stgraph.metrics.report import metrics_summary
from stgraph.pipeline.compare import IMPROVE_HINT, compare_split
from stgraph.pipeline.data import PreparedData, prepare_series
from stgraph.pipeline.run_report import render_run_report, write_run_report
from stgraph.pipeline.scoring import read_sensor_table, sensor_table_path, write_sensor_table
from stgraph.report.export import Predictions

SENSORS, STEPS, HORIZON = 25, 60, 3


def ring_data(coordinates: bool) -> PreparedData:
    """25 sensors on a ring, 60 five-minute steps; sensor ``n`` reads ``50 + n`` plus a daily-looking wave."""
    t = np.arange(STEPS)[:, None]
    values = (50 + np.arange(SENSORS) + 5 * np.sin(t / 4)).astype(np.float32)[:, :, None]
    series = SensorSeries(
        values=values,
        mask=np.ones(values.shape, dtype=bool),
        timestamps=pd.date_range("2024-03-04", periods=STEPS, freq="5min"),
        sensor_ids=[f"s{n:02d}" for n in range(SENSORS)],
        feature_names=["speed"],
    )
    adjacency = np.eye(SENSORS) + np.roll(np.eye(SENSORS), 1, axis=1)
    graph = from_matrix(adjacency, series.sensor_ids)
    if coordinates:
        graph = graph.with_coordinates(np.column_stack([34 + np.arange(SENSORS) / 100, np.full(SENSORS, -118.0)]))
    return prepare_series(series, graph, lookback=4, horizon=HORIZON, fractions=(0.6, 0.2, 0.2), name="ring", units="mph")


def predictions(data: PreparedData) -> Predictions:
    """Test forecasts off by ``n + 1`` mph at sensor ``n``; one entry of sensor 0 masked (and wildly off)."""
    starts = data.split.starts("test")
    steps = starts[:, None] + 4 + np.arange(HORIZON)
    target = data.series.values[steps]
    mask = np.ones(target.shape, dtype=bool)
    prediction = target + (np.arange(SENSORS, dtype=np.float32) + 1)[None, None, :, None]
    mask[0, 0, 0, 0] = False
    prediction[0, 0, 0, 0] = 1e4
    first = data.series.timestamps[starts + 4]
    return Predictions(prediction, target, mask, pd.DatetimeIndex(first), data.series.interval, data.graph.sensor_ids, ["speed"])


def write_run(run_dir, data: PreparedData, *, plots: tuple[str, ...]) -> HorizonMetrics:
    """A run directory as ``stgraph train`` leaves it, without training: metrics.json, sensor table, plots."""
    run_dir.mkdir()
    forecast = predictions(data)
    model = horizon_metrics(forecast.prediction, forecast.target, mask=forecast.mask)
    comparison = compare_split(data, "test", model)
    summary = {"model": "tgcn", "best_epoch": 3, "best_val_mae": 1.5, "global_step": 30, "history": [{}] * 4}
    summary |= {"windows": data.split.sizes(), "test": metrics_summary(model, data.series.interval)}
    (run_dir / "metrics.json").write_text(json.dumps({**summary, **comparison.metrics_entries(), "interval": "5min"}))
    sensors = sensor_metrics(forecast.prediction[..., 0], forecast.target[..., 0], forecast.mask[..., 0])
    observed = forecast.mask[..., 0].sum(axis=(0, 1))
    write_sensor_table(sensor_table_path(run_dir, "test"), data.graph.sensor_ids, {**sensors, "observed": observed})
    (run_dir / "plots").mkdir()
    for name in plots:
        (run_dir / "plots" / name).write_bytes(b"")
    return model


def test_sensor_table_is_masked_per_sensor(tmp_path):
    data = ring_data(coordinates=False)
    forecast = predictions(data)
    run_dir = tmp_path / "run"
    write_run(run_dir, data, plots=())
    table = read_sensor_table(sensor_table_path(run_dir, "test"))
    assert list(table.columns) == ["sensor", "mae", "rmse", "mean_reading", "observed"]
    assert table["sensor"].tolist() == data.graph.sensor_ids
    np.testing.assert_allclose(table["mae"], np.arange(SENSORS) + 1, rtol=1e-5)  # the masked 1e4 does not count
    np.testing.assert_allclose(table["rmse"], np.arange(SENSORS) + 1, rtol=1e-5)
    assert table["mean_reading"][1] == pytest.approx(forecast.target[:, :, 1, 0].mean(), rel=1e-5)
    assert table["mean_reading"][0] == pytest.approx(forecast.target[:, :, 0, 0].ravel()[1:].mean(), rel=1e-5)
    assert table["observed"][0] == table["observed"][1] - 1


def test_report_holds_data_table_verdict_sensors_and_plots(tmp_path):
    data = ring_data(coordinates=True)
    run_dir = tmp_path / "run"
    model = write_run(run_dir, data, plots=("error_by_horizon_test.png", "sensor_map_test.png"))
    path = write_run_report(run_dir, data)
    text = path.read_text()
    assert path.name == "report.md" and text == render_run_report(run_dir, data)

    assert text.startswith("# tgcn on ring: run report\n")
    for line in ("- sensors: 25", "- interval: 5min", "- period: 2024-03-04 00:00:00 .. 2024-03-04 04:55:00 (60 steps)"):
        assert line in text
    assert "- missing: 0.0% of the readings" in text and "- units: mph" in text
    assert all(line in text for line in data.describe())  # readings, graph and windows lines
    assert "Best epoch 3 of 4 validated (validation MAE 1.500 mph), 30 optimiser steps" in text

    comparison = compare_split(data, "test", model)
    assert comparison.table("tgcn", markdown=True) in text
    # a forecast off by 13 mph on average loses to both baselines on this smooth series
    assert "**Verdict: the model does not beat the baselines.**" in text
    for shortfall in comparison.shortfalls:
        assert f"- {shortfall.line().removeprefix('warning: ')}" in text
    assert IMPROVE_HINT[1:] in text
    assert "![test error by lead time](plots/error_by_horizon_test.png)" in text
    assert "![test MAE by sensor](plots/sensor_map_test.png)" in text

    largest = text.split("### The 10 with the largest MAE")[1].split("###")[0]
    rows = [line for line in largest.splitlines() if line.startswith("| s") and not line.startswith("| sensor")]
    assert [row.split(" | ")[0] for row in rows] == [f"| s{n:02d}" for n in range(24, 14, -1)]
    mean_24 = predictions(data).target[:, :, 24, 0].mean()
    assert rows[0] == f"| s24 | 25.00 | 25.00 | {mean_24:.2f} |"
    smallest = text.split("### The 10 with the smallest MAE")[1]
    assert [
        line.split(" | ")[0] for line in smallest.splitlines() if line.startswith("| s") and not line.startswith("| sensor")
    ] == [f"| s{n:02d}" for n in range(10)]


def test_a_run_that_beats_the_baselines_says_so_and_no_map_without_coordinates(tmp_path):
    data = ring_data(coordinates=False)
    run_dir = tmp_path / "run"
    write_run(run_dir, data, plots=())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    perfect = HorizonMetrics(mae=np.full(3, 0.1), rmse=np.full(3, 0.1), mape=np.zeros(3), observed=np.full(3, 9))
    metrics |= {"test": metrics_summary(perfect, data.series.interval), **compare_split(data, "test", perfect).metrics_entries()}
    metrics |= {"val": metrics["test"], "baselines_val": metrics["baselines"], "beats_baselines_val": True}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    text = render_run_report(run_dir, data)
    assert text.count("**Verdict: the model beats both baselines** in MAE and RMSE") == 2  # test, then val
    assert text.index("## Test split") < text.index("## Val split")
    assert "Sensor map" not in text and "error_by_horizon" not in text  # no plot files
