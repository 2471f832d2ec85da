"""``stgraph predict``'s input is built exactly like a training window (scaling, covariates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph.data.scaling import StandardScaler
from stgraph.data.series import SensorSeries
from stgraph.data.windows import WindowDataset
from stgraph.pipeline.forecast import forecast_inputs
from stgraph.pipeline.model_file import RunModel


def test_forecast_input_equals_the_window_dataset_input():
    rng = np.random.default_rng(1)
    steps, lookback = 40, 6
    values = rng.normal(50, 10, size=(steps + 1, 3, 2)).astype(np.float32)
    series = SensorSeries(
        values=values,
        mask=rng.random(values.shape) > 0.1,
        timestamps=pd.date_range("2024-03-01 23:30", periods=steps + 1, freq="5min"),  # crosses midnight
        sensor_ids=["a", "b", "c"],
        feature_names=["speed", "flow"],
    )
    scaler = StandardScaler().fit(series, steps=slice(0, 30))
    covariates = ["time_of_day", "day_of_week"]
    state = {
        "scaler": scaler.state_dict(),
        "data": {"lookback": lookback, "features": ["flow", "speed"], "targets": ["flow"], "covariates": covariates},
    }
    run = RunModel(model=torch.nn.Identity(), graph=None, state=state)

    # predict sees the readings up to step `steps - 1`; the training window with those inputs starts at steps - lookback
    x = forecast_inputs(run, series.slice_time(0, steps))
    window = WindowDataset(
        series,
        lookback=lookback,
        horizon=1,
        starts=[steps - lookback],
        input_features=["flow", "speed"],
        scaler=scaler,
        covariates=covariates,
    ).batch([0])[0]
    assert x.shape == (1, lookback, 3, 2 + 2)
    torch.testing.assert_close(x, window)
    # calendar columns by hand: the last input step is 23:30 + 39 x 5 min = 02:45 on Saturday (5)
    assert x[0, -1, 0, 2].item() == np.float32(2.75 / 24)
    assert x[0, -1, 1, 3].item() == 5.0


@pytest.mark.parametrize("setting", ["zero", "mask", None])
def test_forecast_input_follows_the_runs_missing_inputs(setting):
    """predict/serve/anomalies build the training window of the run's setting; a model.pt without
    the key (written before it existed) gets "zero", as it was trained."""
    rng = np.random.default_rng(2)
    steps, lookback = 30, 4
    values = rng.normal(50, 10, size=(steps, 3, 1)).astype(np.float32)
    mask = rng.random(values.shape) > 0.3
    values[~mask] = 0.0
    series = SensorSeries(values, mask, pd.date_range("2024-03-01", periods=steps, freq="5min"), ["a", "b", "c"], ["speed"])
    scaler = StandardScaler().fit(series, steps=slice(0, 20))
    data = {"lookback": lookback, "features": ["speed"], "targets": ["speed"], "covariates": ["time_of_day"]}
    if setting is not None:
        data["missing_inputs"] = setting
    run = RunModel(model=torch.nn.Identity(), graph=None, state={"scaler": scaler.state_dict(), "data": data})
    x = forecast_inputs(run, series)
    window = WindowDataset(
        series,
        lookback=lookback,
        horizon=1,
        starts=[steps - lookback - 1],
        scaler=scaler,
        covariates=["time_of_day"],
        missing_inputs=setting or "zero",
    ).batch([0])[0]
    # the window ending one step earlier leaves the last reading as its target: shift by one
    x_same = forecast_inputs(run, series.slice_time(0, steps - 1))
    torch.testing.assert_close(x_same, window)
    assert x.shape == (1, lookback, 3, 3 if setting == "mask" else 2)
    if setting == "mask":
        np.testing.assert_array_equal(x[0, :, :, 2].numpy(), mask[-lookback:, :, 0].astype(np.float32))
        assert (x[0, :, :, 0][~torch.from_numpy(mask[-lookback:, :, 0])] == 0).all()
