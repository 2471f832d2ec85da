"""Calendar covariates: time of day as a fraction, day of week Monday = 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.data import add_time_covariates, day_of_week, time_covariates, time_of_day
from stgraph.errors import SensorDataError


def test_time_of_day_and_day_of_week_by_hand():
    timestamps = pd.DatetimeIndex(["2012-03-01 00:00", "2012-03-01 12:00", "2012-03-04 23:55", "2012-03-05 06:00"])
    np.testing.assert_allclose(time_of_day(timestamps), [0.0, 0.5, 287 / 288, 0.25])
    # 2012-03-01 was a Thursday, 2012-03-04 a Sunday, 2012-03-05 a Monday
    assert day_of_week(timestamps).tolist() == [3, 3, 6, 0]


def test_time_of_day_matches_stgraph_sample_convention():
    timestamps = pd.date_range("2012-03-01", periods=300, freq="5min")
    expected = (np.arange(300) % 288) / 288  # STGraph's METRLA.json stores step / 288
    np.testing.assert_allclose(time_of_day(timestamps), expected, atol=1e-7)
    assert (time_of_day(timestamps) < 1).all()


def test_onehot_and_append_like_dcrnn():
    timestamps = pd.date_range("2012-03-03 23:55", periods=2, freq="5min")  # Saturday -> Sunday
    onehot = time_covariates(timestamps, ["day_of_week_onehot"])
    np.testing.assert_array_equal(onehot, np.eye(7)[[5, 6]])
    values = np.ones((2, 3, 1), dtype=np.float32)
    stacked = add_time_covariates(values, timestamps, ["time_of_day", "day_of_week"])
    assert stacked.shape == (2, 3, 3) and stacked.dtype == np.float32
    np.testing.assert_allclose(stacked[:, 2, 1], [287 / 288, 0.0])
    np.testing.assert_array_equal(stacked[:, 0, 2], [5, 6])
    with pytest.raises(SensorDataError, match=r"unknown covariate 'holiday'"):
        time_covariates(timestamps, ["holiday"])
    with pytest.raises(SensorDataError, match=r"time == 2 timestamps"):
        add_time_covariates(np.ones((3, 1, 1)), timestamps)
