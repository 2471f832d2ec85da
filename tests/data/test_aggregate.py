"""Aggregation to a coarser interval: the mean of the observed readings per bucket, pandas' bins."""

import numpy as np
import pandas as pd
import pytest

from stgraph.data import SensorSeries
from stgraph.data.aggregate import aggregate
from stgraph.errors import SensorDataError


def _series(values, start="2019-01-01 00:00", interval="5min"):
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1, 1)
    timestamps = pd.date_range(start, periods=len(values), freq=interval)
    return SensorSeries(values, ~np.isnan(values), timestamps, [f"s{i}" for i in range(values.shape[1])], ["flow"])


def test_means_of_observed_readings_by_hand():
    # bucket 00:00 = (3, 5, masked) -> 4; 00:15 all masked -> masked; 00:30 = (1, 2, 6) -> 3
    series = _series([3, 5, np.nan, np.nan, np.nan, np.nan, 1, 2, 6])
    out = aggregate(series, "15min")
    assert out.interval == pd.Timedelta("15min")
    assert list(out.timestamps) == list(pd.date_range("2019-01-01", periods=3, freq="15min"))
    np.testing.assert_array_equal(out.values[:, 0, 0], [4.0, 0.0, 3.0])
    np.testing.assert_array_equal(out.mask[:, 0, 0], [True, False, True])


def test_partial_buckets_at_both_ends_are_kept_as_pandas_resample_does():
    # starts at 00:05 (first bucket holds two steps), ends at 00:45 (last bucket holds one)
    raw = [3, 5, 7, 9, 11, 1, 2, 4, 8]
    series = _series(raw, start="2019-01-01 00:05")
    out = aggregate(series, "15min")
    expected = pd.Series(raw, index=series.timestamps).resample("15min").mean()
    assert list(out.timestamps) == list(expected.index)
    np.testing.assert_allclose(out.values[:, 0, 0], expected.to_numpy())
    np.testing.assert_allclose(out.values[:, 0, 0], [4.0, 9.0, 7 / 3, 8.0], rtol=1e-6)


def test_rounding_then_null_value_as_largest_does():
    # LargeST: resample("15T").mean().round(0), fillna(0), then every 0 masked by the metrics.
    # (0, 0, 1) -> 0.33 -> 0 -> masked; (1, 2, masked) -> 1.5 -> 2 (half to even, as pandas)
    series = _series([0, 0, 1, 1, 2, np.nan, 2, 3, 4])
    out = aggregate(series, "15min", decimals=0, null_value=0.0)
    np.testing.assert_array_equal(out.values[:, 0, 0], [0.0, 2.0, 3.0])
    np.testing.assert_array_equal(out.mask[:, 0, 0], [False, True, True])
    frame = pd.Series(series.values[:, 0, 0], index=series.timestamps).where(series.mask[:, 0, 0])
    assert frame.resample("15min").mean().round(0).fillna(0).tolist() == [0.0, 2.0, 3.0]


def test_several_sensors_and_chunks_agree_with_pandas(monkeypatch):
    monkeypatch.setattr("stgraph.data.aggregate._CHUNK_BUCKETS", 3)  # several passes
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 100, size=(50, 4))
    raw[rng.random(raw.shape) < 0.3] = np.nan
    series = _series(raw, start="2019-03-01 23:40")
    out = aggregate(series, "15min")
    expected = pd.DataFrame(raw, index=series.timestamps).resample("15min").mean()
    np.testing.assert_allclose(out.values[:, :, 0], expected.fillna(0).to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(out.mask[:, :, 0], expected.notna().to_numpy())
    assert out.sensor_ids == series.sensor_ids


def test_same_interval_is_unchanged_and_a_non_multiple_is_an_error():
    series = _series([1, 2, 3])
    assert aggregate(series, "5min") is series
    with pytest.raises(SensorDataError, match="whole multiple"):
        aggregate(series, "7min")
    with pytest.raises(SensorDataError, match="whole multiple"):
        aggregate(series, "1min")
