"""The synthetic network: shape, determinism, a connected graph of bounded degree, periodicity."""

import numpy as np
import pandas as pd
import pytest
from scipy.sparse.csgraph import connected_components

from stgraph.data.synthetic import CALIFORNIA, synthetic_network
from stgraph.errors import SensorDataError


@pytest.fixture(scope="module")
def network():
    return synthetic_network(300, 4 * 96 * 7, interval="15min", seed=3)  # four weeks


def test_shape_ids_calendar_and_missing_share(network):
    series, graph = network
    assert series.values.shape == (2688, 300, 1) and series.feature_names == ["speed"]
    assert series.interval == pd.Timedelta("15min") and series.timestamps[0] == pd.Timestamp("2019-01-01")
    assert graph.sensor_ids == series.sensor_ids == [f"s{i}" for i in range(300)]
    assert 0.01 < series.missing_share() < 0.03
    assert np.all(series.values[~series.mask] == 0) and series.values[series.mask].min() >= 3.0
    south, north, west, east = CALIFORNIA
    lat, lon = graph.coordinates[:, 0], graph.coordinates[:, 1]
    assert lat.min() >= south and lat.max() <= north and lon.min() >= west and lon.max() <= east


def test_same_seed_same_network_other_seed_another():
    first, graph = synthetic_network(40, 200, seed=7)
    again, graph_again = synthetic_network(40, 200, seed=7)
    other, _ = synthetic_network(40, 200, seed=8)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.mask, again.mask)
    assert (graph.adjacency != graph_again.adjacency).nnz == 0
    assert not np.array_equal(first.values, other.values)


def test_graph_is_connected_symmetric_with_at_least_k_neighbours(network):
    _, graph = network
    adjacency = graph.adjacency
    assert connected_components(adjacency, directed=False)[0] == 1
    assert (adjacency != adjacency.T).nnz == 0 and adjacency.diagonal().sum() == 0
    degree = np.diff(adjacency.indptr)
    assert degree.min() >= 8 and degree.mean() < 16


def test_daily_periodicity_and_weekday_rush_hours(network):
    series, _ = network
    speed = np.where(series.mask[:, :, 0], series.values[:, :, 0], np.nan)
    network_mean = np.nanmean(speed, axis=1)
    day = 96
    same_time_yesterday = np.corrcoef(network_mean[day:], network_mean[:-day])[0, 1]
    half_a_day_apart = np.corrcoef(network_mean[day // 2 :], network_mean[: -day // 2])[0, 1]
    assert same_time_yesterday > 0.6 and same_time_yesterday > half_a_day_apart + 0.3
    hours = series.timestamps.hour
    weekday = series.timestamps.day_of_week < 5
    rush, night = network_mean[weekday & (hours == 8)].mean(), network_mean[weekday & (hours == 3)].mean()
    weekend_rush = network_mean[~weekday & (hours == 8)].mean()
    assert night - rush > 10 and weekend_rush > rush + 5


def test_too_small_or_a_bad_share_is_an_error():
    with pytest.raises(SensorDataError, match="at least 2 sensors"):
        synthetic_network(1, 10)
    with pytest.raises(SensorDataError, match="missing must be a share"):
        synthetic_network(10, 10, missing=1.5)
