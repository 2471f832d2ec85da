"""``stgraph predict``'s input is built exactly like a training window (scaling, covariates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
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
