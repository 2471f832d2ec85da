"""``stgraph train --coverage`` on the committed sample: conformal intervals calibrated on the
validation split, scored on test (``metrics.json``, the printed table, ``report.md``), kept by
``stgraph evaluate``; and a bad coverage refused before training.

A tiny STGCN and two optimiser steps: the numbers are not the point, their agreement is.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from stgraph.cli.main import main
from stgraph.metrics.report import intervals_from_summary, intervals_table
from stgraph.pipeline.calibration import forecast_hours, load_calibration
from stgraph.report.export import load_predictions

TINY = [
    "--model", "stgcn",
    "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=16", "training.threads=1",
    "--accelerator", "cpu", "--no-progress", "--max-steps", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def sample_env(sample_dir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", str(sample_dir.parent))
        yield sample_dir


@pytest.fixture(scope="module")
def banded_run(sample_env, tmp_path_factory):
    """The run directory and what ``stgraph train`` printed."""
    out = tmp_path_factory.mktemp("runs") / "banded"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["train", "--dataset", "sample", *TINY, "--coverage", "0.8", "--out", str(out)]) == 0
    return out, printed.getvalue()


def test_train_scores_calibrated_intervals_on_test(banded_run):
    out, printed = banded_run
    metrics = json.loads((out / "metrics.json").read_text())
    block = metrics["intervals"]
    assert [block[f"step_{s}"]["lead_time"] for s in (3, 6, 12)] == ["15 min", "30 min", "60 min"]
    assert set(block["average"]) == {"coverage", "width", "winkler", "crps", "pinball"}
    assert metrics["calibration"] == {
        "coverage": 0.8, "method": "split", "per_sensor": False, "scale": "sensor_time_of_day", "windows": 179
    }  # fmt: skip

    # the reported coverage and width are those of the saved band, masked like the point metrics
    test = load_predictions(out / "predictions_test.npz")
    inside = (test.lower <= test.target) & (test.target <= test.upper)
    assert block["step_12"]["coverage"] == pytest.approx(inside[:, 11][test.mask[:, 11]].mean())
    # each half-width: the step's margin times the scale at the forecast step's hour of day and sensor
    calibration = load_calibration(out / "calibration.npz")
    hours = forecast_hours(test.first_step, 12, test.interval)
    half = calibration.margin[None] * calibration.scale[np.arange(12)[None, :], hours]
    np.testing.assert_allclose(test.upper - test.prediction, half, rtol=1e-4)
    width = [2 * half[:, step][test.mask[:, step]].mean() for step in range(12)]
    np.testing.assert_allclose(block["per_step"]["width"], width, rtol=1e-4)
    assert block["per_step"]["observed"] == metrics["test"]["per_step"]["observed"]

    table = intervals_table(intervals_from_summary(block), interval="5min")
    assert "test, 80% conformal intervals calibrated on validation, in original units:\n" + table in printed
    report = (out / "report.md").read_text()
    assert "### Calibrated intervals (mph)" in report and "Split conformal on 179 validation windows" in report
    assert intervals_table(intervals_from_summary(block), interval="5min", markdown=True) in report


def test_evaluate_keeps_the_intervals(banded_run):
    out, _ = banded_run
    before = json.loads((out / "metrics.json").read_text())["intervals"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["evaluate", str(out), "--threads", "1"]) == 0
    after = json.loads((out / "metrics.json").read_text())["intervals"]
    assert after["average"]["coverage"] == pytest.approx(before["average"]["coverage"])
    table = intervals_table(intervals_from_summary(after), interval="5min")
    assert "test, 80% conformal intervals calibrated on validation, in original units:\n" + table in printed.getvalue()
    assert load_predictions(out / "predictions_test.npz").lower is not None


def test_a_coverage_outside_the_unit_interval_stops_before_training(sample_env, tmp_path, capsys):
    assert main(["train", "--dataset", "sample", *TINY, "--coverage", "1.5", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == (
        "stgraph train: error: training.coverage must be a fraction in (0, 1), got 1.5; or null for no intervals"
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_predict_writes_the_interval_beside_each_forecast(banded_run, sample_dir, tmp_path):
    out, _ = banded_run
    test = load_predictions(out / "predictions_test.npz")
    frame = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp", parse_dates=True)
    window = 5
    first_target = test.first_step[window]
    frame.loc[first_target - pd.Timedelta("60min") : first_target - pd.Timedelta("5min")].to_csv(tmp_path / "recent.csv")
    argv = ["predict", str(out), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.csv")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--intervals"]) == 0
    table = pd.read_csv(tmp_path / "next.csv", parse_dates=["timestamp"])
    assert list(table.columns) == ["timestamp", "sensor", "speed", "speed_lower", "speed_upper"]
    assert len(table) == 12 * 207
    # the same window through the training-time path, and the same band as predictions_test.npz
    first_sensor = table[table["sensor"] == int(test.sensor_ids[0])]
    np.testing.assert_allclose(first_sensor["speed"], test.prediction[window, :, 0, 0], atol=1e-3)
    np.testing.assert_allclose(first_sensor["speed_lower"], test.lower[window, :, 0, 0], atol=1e-3)
    np.testing.assert_allclose(first_sensor["speed_upper"], test.upper[window, :, 0, 0], atol=1e-3)


def test_predict_intervals_needs_a_calibrated_run(banded_run, sample_dir, tmp_path, capsys):
    out, _ = banded_run
    uncalibrated = tmp_path / "uncalibrated"
    shutil.copytree(out, uncalibrated)
    (uncalibrated / "calibration.npz").unlink()
    frame = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp", parse_dates=True)
    frame.iloc[-12:].to_csv(tmp_path / "recent.csv")
    argv = ["predict", str(uncalibrated), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.csv")]
    assert main([*argv, "--intervals"]) == 1
    assert f"{uncalibrated}: no calibration.npz: the run was trained without intervals" in capsys.readouterr().err
    assert not (tmp_path / "next.csv").exists()


def test_a_quantile_run_exports_its_levels_beside_the_interval(sample_env, tmp_path, sample_dir):
    out = tmp_path / "quantiles"
    quantile_args = [*TINY, "--set", "model.quantiles=[0.1,0.5,0.9]", "--coverage", "0.8", "--out", str(out)]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--dataset", "sample", *quantile_args]) == 0
    calibration = load_calibration(out / "calibration.npz")
    assert json.loads((out / "metrics.json").read_text())["calibration"]["method"] == "cqr"
    frame = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp", parse_dates=True)
    frame.iloc[-12:].to_csv(tmp_path / "recent.csv")
    argv = ["predict", str(out), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.csv"), "--intervals"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    table = pd.read_csv(tmp_path / "next.csv", parse_dates=["timestamp"])
    assert list(table.columns) == [
        "timestamp", "sensor", "speed", "speed_lower", "speed_upper", "speed_q0.1", "speed_q0.5", "speed_q0.9"
    ]  # fmt: skip
    np.testing.assert_allclose(table["speed"], table["speed_q0.5"], atol=1e-3)  # the median is the forecast
    # CQR: the 10 % and 90 % levels moved out (or in) by the step's margin times the scale at the
    # step's hour of day and sensor; rows run step by step, 207 sensors each
    hours = forecast_hours(pd.DatetimeIndex([frame.index[-1] + pd.Timedelta("5min")]), 12, pd.Timedelta("5min"))[0]
    margin = (calibration.margin[:, 0, 0][:, None] * calibration.scale[np.arange(12), hours, :, 0]).ravel()
    np.testing.assert_allclose(table["speed_lower"], table["speed_q0.1"] - margin, atol=2e-3)
    np.testing.assert_allclose(table["speed_upper"], table["speed_q0.9"] + margin, atol=2e-3)
