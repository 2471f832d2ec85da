"""``ForecastArtifact`` (stgraph/export/artifact.py) against the pipeline pieces it reimplements:
the calendar (``time_covariates``), missing readings and scaling (``forecast_inputs``) and the
intervals (``Calibration.interval``); and the runs it refuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph.data.covariates import time_covariates
from stgraph.data.series import SensorSeries
from stgraph.errors import RunError
from stgraph.export import ForecastArtifact, seconds_since_epoch
from stgraph.pipeline.calibration import Calibration, forecast_hours, load_calibration
from stgraph.pipeline.forecast import forecast_inputs, forecast_next
from stgraph.pipeline.model_file import load_model_file


@pytest.fixture(scope="module")
def onehot_run(make_run):
    return load_model_file(make_run("fc_lstm", covariates=("time_of_day", "day_of_week", "day_of_week_onehot")) / "model.pt")


def test_the_calendar_inside_equals_time_covariates(onehot_run):
    artifact = ForecastArtifact(onehot_run)
    # before and after 1970, a leap day, every weekday, odd seconds
    edges = pd.DatetimeIndex(["1969-12-31 23:59:59", "1970-01-01 00:00", "2012-02-29 13:37:11", "2024-03-03 23:55"])
    stamps = edges.append(pd.date_range("2012-03-01 22:00", periods=7, freq="17h"))
    expected = time_covariates(stamps, ["time_of_day", "day_of_week", "day_of_week_onehot"])
    actual = artifact.calendar(torch.from_numpy(seconds_since_epoch(stamps))[None])[0].numpy()
    np.testing.assert_array_equal(actual, expected)


def test_missing_readings_enter_as_the_pipeline_stores_them(onehot_run, sample):
    series, _ = sample
    artifact = ForecastArtifact(onehot_run)
    part = SensorSeries(
        series.values[100:112], series.mask[100:112], series.timestamps[100:112], series.sensor_ids, series.feature_names
    )
    assert not part.mask.all()
    readings = np.where(part.mask, part.values, np.nan).astype(np.float32)
    readings[0, 0, 0] = 0.0  # the run's null_value: missing too
    part.mask[0, 0, 0], part.values[0, 0, 0] = False, 0.0
    stamps = torch.from_numpy(seconds_since_epoch(part.timestamps))[None]
    actual = artifact.model_inputs(torch.from_numpy(readings)[None], stamps)
    torch.testing.assert_close(actual, forecast_inputs(onehot_run, part), rtol=0, atol=0)
    with torch.no_grad():
        forecast = artifact(torch.from_numpy(readings)[None], stamps)[0][0].numpy()
    np.testing.assert_allclose(forecast, forecast_next(onehot_run, part), rtol=1e-6)


@pytest.mark.parametrize(("per_sensor", "scaled"), [(False, False), (True, False), (False, True)])
def test_intervals_equal_calibration_interval(make_run, sample, per_sensor, scaled):
    run_dir = make_run("stgcn", coverage=0.8, per_sensor=per_sensor, scaled=scaled)
    run, calibration = load_model_file(run_dir / "model.pt"), load_calibration(run_dir / "calibration.npz")
    artifact = ForecastArtifact(run, calibration)
    series, _ = sample
    readings = torch.from_numpy(series.values[:24].reshape(2, 12, *series.values.shape[1:]))
    stamps = torch.from_numpy(seconds_since_epoch(series.timestamps[:24]).reshape(2, 12))
    with torch.no_grad():
        forecast, lower, upper = artifact(readings, stamps)
    # the forecast steps follow each window's last reading (23:55 and 00:55: the hours cross midnight)
    hours = forecast_hours(series.timestamps[[11, 23]] + series.interval, 12, series.interval)
    expected_lower, expected_upper = calibration.interval(forecast.numpy(), hours)
    np.testing.assert_allclose(lower.numpy(), expected_lower, rtol=1e-6)
    np.testing.assert_allclose(upper.numpy(), expected_upper, rtol=1e-6)
    assert np.isinf(lower.numpy()[:, 3, 0]).all()  # a step calibrated to an unbounded margin stays so


def test_cqr_margins_need_a_quantile_model(make_run):
    run = load_model_file(make_run("stid") / "model.pt")
    cqr = Calibration(coverage=0.9, margin=np.ones((12, 1, 1)), bounds=(0, 2), windows=5, per_sensor=False)
    with pytest.raises(RunError, match="CQR margins"):
        ForecastArtifact(run, cqr)


def test_a_covariate_stgraph_does_not_compute_is_refused(make_run):
    run = load_model_file(make_run("stid") / "model.pt")
    run.state["data"]["covariates"] = ["holiday"]
    with pytest.raises(RunError, match="holiday"):
        ForecastArtifact(run)


def test_a_feature_without_scaler_statistics_is_refused(make_run):
    run = load_model_file(make_run("stid") / "model.pt")
    run.state["data"]["features"] = ["flow"]
    with pytest.raises(RunError, match="flow"):
        ForecastArtifact(run)


def test_an_unnamed_scaler_is_read_in_feature_order(make_run):
    run = load_model_file(make_run("stid") / "model.pt")
    named = ForecastArtifact(run)
    run.state["scaler"]["names"] = []
    unnamed = ForecastArtifact(run)
    torch.testing.assert_close(unnamed.input_mean, named.input_mean)


@pytest.mark.parametrize("null_value", [None, 50.0])
def test_the_null_value_is_missing_and_without_one_every_number_is_a_reading(make_run, null_value):
    run = load_model_file(make_run("stid", covariates=()) / "model.pt")
    run.state["data"]["null_value"] = null_value
    artifact = ForecastArtifact(run)
    readings, stamps = artifact.example_inputs(1)  # every reading 50
    inputs = artifact.model_inputs(readings, stamps)
    assert inputs.shape[-1] == 1  # no calendar
    expected = ((0.0 if null_value == 50.0 else 50.0) - artifact.input_mean) / artifact.input_std
    torch.testing.assert_close(inputs, expected.expand_as(inputs))
