"""MaxScaler: T-GCN's division by the largest observed reading, on 3 steps x 2 sensors by hand."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph.data.scaling import MaxScaler
from stgraph.data.series import SensorSeries
from stgraph.data.windows import WindowDataset
from stgraph.errors import SensorDataError


def _series() -> SensorSeries:
    speed = [[60.0, 50.0], [70.0, 40.0], [65.0, 90.0]]
    flow = [[10.0, 20.0], [30.0, 5.0], [15.0, 25.0]]
    mask = np.ones((3, 2, 2), dtype=bool)
    mask[2, 1, 0] = False  # the 90 is not an observed reading
    return SensorSeries(
        values=np.stack([speed, flow], axis=-1).astype(np.float32),
        mask=mask,
        timestamps=pd.date_range("2012-03-01", periods=3, freq="5min"),
        sensor_ids=["a", "b"],
        feature_names=["speed", "flow"],
    )


def test_maxima_of_observed_readings_pooled_per_sensor_and_over_steps():
    series = _series()
    assert MaxScaler().fit(series).max_.tolist() == [70.0, 30.0]  # the masked 90 does not count
    assert MaxScaler(per_sensor=True).fit(series).max_.tolist() == [[70.0, 30.0], [50.0, 25.0]]
    assert MaxScaler().fit(series, steps=slice(0, 1)).max_.tolist() == [60.0, 20.0]


def test_transform_divides_and_inverse_multiplies():
    scaler = MaxScaler().fit(_series())
    x = np.array([[35.0, 15.0], [70.0, 3.0]])
    np.testing.assert_allclose(scaler.transform(x), [[0.5, 0.5], [1.0, 0.1]])
    z = torch.tensor([[0.5, 0.5]], dtype=torch.float32)
    torch.testing.assert_close(scaler.inverse_transform(z), torch.tensor([[35.0, 15.0]]))
    flow = scaler.subset(["flow"])
    assert isinstance(flow, MaxScaler) and flow.max_.tolist() == [30.0]
    np.testing.assert_allclose(flow.inverse_transform(flow.transform(np.array([[7.5]]))), [[7.5]])


def test_state_dict_round_trips_through_torch_load_weights_only():
    scaler = MaxScaler(per_sensor=True).fit(_series())
    buffer = io.BytesIO()
    torch.save(scaler.state_dict(), buffer)
    buffer.seek(0)
    again = MaxScaler.from_state_dict(torch.load(buffer, weights_only=True))
    assert isinstance(again, MaxScaler) and again.feature_names_ == ["speed", "flow"]
    np.testing.assert_array_equal(again.max_, scaler.max_)


def test_window_inputs_are_divided_and_targets_stay_in_original_units():
    series = _series()
    windows = WindowDataset(series, lookback=2, horizon=1, scaler=MaxScaler().fit(series))
    x, y, _ = windows[0]
    np.testing.assert_allclose(x.numpy(), series.values[:2] / np.array([70.0, 30.0]), rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), series.values[2:3, :, :1])
    assert windows.target_scaler.max_.tolist() == [70.0]


def test_a_maximum_that_cannot_scale_is_an_error():
    series = _series()
    values = series.values.copy()
    values[..., 1] = 0.0
    with pytest.raises(SensorDataError, match=r"MaxScaler: 1 statistic\(s\) without a positive maximum \(first: feature '1', maximum 0\.0\)"):
        MaxScaler().fit(values, series.mask)  # an array: features by position
    mask = series.mask.copy()
    mask[:, 1, 1] = False  # sensor b has no observed flow
    with pytest.raises(SensorDataError, match=r"first: feature 'flow', sensor position 1, maximum -inf"):
        MaxScaler(per_sensor=True).fit(series, mask)
