import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from stgraph.errors import ConfigError, SensorDataError
from stgraph.impute import historical_average, impute, linear_in_time, locf, neighbour_mean

NAN = np.nan
# two sensors over six steps; NaN marks the missing cells (their stored value is ignored)
VALUES = np.array(
    [
        [NAN, 10.0],
        [2.0, NAN],
        [NAN, NAN],
        [NAN, 40.0],
        [8.0, NAN],
        [NAN, 60.0],
    ]
)
MASK = ~np.isnan(VALUES)
STORED = np.where(MASK, VALUES, -999.0)  # whatever a missing cell holds must not leak in


def test_locf_carries_forward_and_backfills_before_the_first_reading():
    expected = np.array([[2, 10], [2, 10], [2, 10], [2, 40], [8, 40], [8, 60]], dtype=float)
    np.testing.assert_array_equal(locf(STORED, MASK), expected)


def test_linear_interpolates_between_readings_and_holds_the_edges():
    # sensor 0: step 0 holds 2 (before the first), steps 2, 3 on the line 2 -> 8 over steps 1..4,
    # step 5 holds 8 (after the last); sensor 1: 10 -> 40 over steps 0..3, 40 -> 60 over 3..5
    expected = np.array([[2, 10], [2, 20], [4, 30], [6, 40], [8, 50], [8, 60]], dtype=float)
    np.testing.assert_allclose(linear_in_time(STORED, MASK), expected)


def test_observed_cells_keep_their_values():
    for filled in (locf(STORED, MASK), linear_in_time(STORED, MASK)):
        np.testing.assert_array_equal(filled[MASK], VALUES[MASK])


def test_historical_average_uses_the_same_slot_then_the_sensor_mean():
    # daily readings: the slot is the day of week; 2024-01-01 is a Monday.
    # Sensor 0: Mondays (steps 0, 7, 14) read 1, 3, (missing) -> step 14 gets (1 + 3) / 2 = 2.
    # Sensor 0's Tuesday (steps 1, 8) is never observed -> its sensor mean.
    timestamps = pd.date_range("2024-01-01", periods=15, freq="1D")
    values = np.arange(15, dtype=float)[:, None].repeat(1, axis=1)
    values[[0, 7]] = [[1.0], [3.0]]
    mask = np.ones((15, 1), dtype=bool)
    mask[[1, 8, 14]] = False
    filled = historical_average(values, mask, timestamps)
    sensor_mean = values[mask[:, 0], 0].mean()
    assert filled[14, 0] == pytest.approx(2.0)
    assert filled[1, 0] == pytest.approx(sensor_mean)
    assert filled[8, 0] == pytest.approx(sensor_mean)
    np.testing.assert_array_equal(filled[mask], values[mask])


def test_neighbour_mean_weights_the_observed_neighbours():
    # three sensors in a line 0 - 1 - 2, weights a01 = a10 = 1, a12 = a21 = 3, a self-loop ignored
    adjacency = sp.csr_matrix(np.array([[5.0, 1.0, 0.0], [1.0, 5.0, 3.0], [0.0, 3.0, 5.0]]))
    values = np.array([[10.0, NAN, 30.0], [NAN, 20.0, NAN], [NAN, NAN, 50.0]])
    mask = ~np.isnan(values)
    filled = neighbour_mean(np.nan_to_num(values), mask, adjacency)
    # step 0, sensor 1: (1 * 10 + 3 * 30) / (1 + 3) = 25
    assert filled[0, 1] == pytest.approx(25.0)
    # step 1: sensors 0 and 2 each see only sensor 1 -> 20
    assert filled[1, 0] == pytest.approx(20.0)
    assert filled[1, 2] == pytest.approx(20.0)
    # step 2, sensor 1: only sensor 2 observed -> 50
    assert filled[2, 1] == pytest.approx(50.0)
    # step 2, sensor 0: its one neighbour (1) is missing -> linear in time: holds its last reading 10
    assert filled[2, 0] == pytest.approx(10.0)


def test_a_sensor_never_observed_is_named():
    mask = np.array([[True, False], [True, False]])
    with pytest.raises(SensorDataError, match="sensor b"):
        locf(np.zeros((2, 2)), mask, sensor_ids=["a", "b"])


def test_impute_by_name_fills_every_feature():
    values = np.stack([STORED, 2 * STORED], axis=-1)
    mask = np.stack([MASK, MASK], axis=-1)
    filled = impute("linear", values, mask)
    np.testing.assert_allclose(filled[..., 1], 2 * filled[..., 0])
    with pytest.raises(ConfigError, match="neighbour_mean needs a sensor graph"):
        impute("neighbour_mean", values, mask)
    with pytest.raises(ConfigError, match="unknown imputation method 'spline'"):
        impute("spline", values, mask)
