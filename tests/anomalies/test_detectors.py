"""The checks of stgraph/anomalies/detectors.py, each on a hand-made series with its flags and
scores worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.anomalies.detectors import departure, out_of_range, spike, stuck, time_of_day_slots, zero_share, zeros


def observed_like(values):
    return np.ones(np.shape(values), dtype=bool)


def test_stuck_flags_runs_of_at_least_min_steps_and_scores_their_length():
    # sensor 0: 5, 5, 5, 6, 6 -> a run of 3 (flagged at min_steps 3, score 1) and of 2 (not)
    # sensor 1: 1, 2, 2, 2, 2 -> a run of 4 from step 1, score 4 / 3
    values = np.array([[5, 1], [5, 2], [5, 2], [6, 2], [6, 2]], dtype=float)
    flags, score = stuck(values, observed_like(values), min_steps=3)
    assert flags.tolist() == [[True, False], [True, True], [True, True], [False, True], [False, True]]
    np.testing.assert_allclose(score[:, 0], [1, 1, 1, 0, 0])
    np.testing.assert_allclose(score[:, 1], [0, 4 / 3, 4 / 3, 4 / 3, 4 / 3])


def test_stuck_runs_end_at_a_missing_reading_and_never_span_two_sensors():
    # one column of 7s with a gap at step 2: two runs of 2, none of 3; the last reading of
    # sensor 0 equals the first of sensor 1, which must not join them
    values = np.array([[3, 7], [7, 7], [7, 7], [7, 7], [7, 9]], dtype=float)
    observed = observed_like(values)
    observed[2, 1] = False
    flags, _ = stuck(values, observed, min_steps=3)
    assert flags[:, 1].tolist() == [False] * 5
    assert flags[:, 0].tolist() == [False, True, True, True, True]
    with pytest.raises(ValueError, match="min_steps"):
        stuck(values, observed, min_steps=1)


def test_time_of_day_slots_count_intervals_since_local_midnight():
    stamps = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:10", "2024-01-02 23:55"])
    assert time_of_day_slots(stamps, pd.Timedelta("5min")).tolist() == [0, 2, 287]
    # 08:30 in Los Angeles is slot 102 there, whatever the UTC time
    local = pd.DatetimeIndex(["2024-01-01 08:30"]).tz_localize("America/Los_Angeles")
    assert time_of_day_slots(local, pd.Timedelta("5min")).tolist() == [102]


def test_zero_share_per_slot_counts_zeros_and_missing_readings():
    # two slots, three days; sensor 0 is zero once in slot 0 (share 1/3), sensor 1 missing once in slot 1
    values = np.array([[0, 4], [9, 4], [8, 4], [9, 4], [8, 4], [9, 4]], dtype=float)
    observed = observed_like(values)
    observed[3, 1] = False
    slots = np.array([0, 1, 0, 1, 0, 1])
    share = zero_share(values, observed, slots, num_slots=3)
    np.testing.assert_allclose(share, [[1 / 3, 0], [0, 1 / 3], [1, 1]])  # slot 2 has no history: 1


def test_zeros_flags_a_zero_only_where_the_sensor_is_never_zero_at_that_time():
    share = np.array([[0.0, 0.5], [0.001, 0.0]])  # [slots, sensors]
    values = np.array([[0, 0], [0, 3], [0, 0]], dtype=float)
    slots = np.array([0, 1, 1])
    flags, score = zeros(values, observed_like(values), slots, share, max_rate=0.01)
    # sensor 1 at slot 0 is zero half the time there: not a fault
    assert flags.tolist() == [[True, False], [True, False], [True, True]]
    # 1 + log10(0.01 / max(r, 1e-6)): r = 0 -> 5, r = 0.001 -> 2
    np.testing.assert_allclose(score, [[5, 0], [2, 0], [2, 5]])


def test_out_of_range_scores_the_distance_past_the_bound():
    values = np.array([[-2.0, 50.0], [0.5, 150.0], [10.0, 120.0]])
    flags, score = out_of_range(values, observed_like(values), minimum=0.0, maximum=120.0)
    assert flags.tolist() == [[True, False], [False, True], [False, False]]
    # below 0: 1 + 2 / max(|0|, 1) = 3; above 120: 1 + 30 / 120 = 1.25
    np.testing.assert_allclose(score, [[3, 0], [0, 1.25], [0, 0]])
    flags, _ = out_of_range(values, observed_like(values), minimum=None, maximum=None)
    assert not flags.any()


def test_departure_is_the_height_of_a_reading_that_leaves_forecast_and_next_reading_on_one_side():
    # one sensor: 60, 90 (spike), 61 (back), 40 (drop that stays), 41, 42
    values = np.array([[60.0], [90.0], [61.0], [40.0], [41.0], [42.0]])
    forecast = np.array([[np.nan], [60.0], [62.0], [60.0], [45.0], [41.0]])
    d = departure(values, observed_like(values), forecast)[:, 0]
    # step 1: min(|90 - 60|, |90 - 61|) = 29; step 2: 61 is below its forecast 62 but above the
    # next reading 40: two sides, 0; step 3: below 60 by 20 but below 41 by only 1: 1;
    # step 4: 41 below 45 by 4 and below 42 by 1 -> 1; step 0 (no forecast), step 5 (no next): NaN
    np.testing.assert_allclose(d, [np.nan, 29, 0, 1, 1, np.nan])


def test_departure_is_undefined_where_the_next_reading_is_missing():
    values = np.array([[60.0], [90.0], [0.0]])
    observed = np.array([[True], [True], [False]])
    d = departure(values, observed, np.array([[60.0], [60.0], [60.0]]))
    assert np.isnan(d[1, 0]) and np.isnan(d[2, 0])


def test_spike_flags_departures_above_each_sensors_threshold():
    values = np.array([[60.0, 30.0], [90.0, 50.0], [61.0, 31.0], [60.0, 30.0]])
    forecast = np.array([[np.nan, np.nan], [60.0, 30.0], [60.0, 32.0], [61.0, 31.0]])
    flags, score = spike(values, observed_like(values), forecast, np.array([10.0, 25.0]))
    # departures at step 1: 29 and 19; thresholds 10 and 25 -> 2.9 flagged, 0.76 not
    assert flags.tolist() == [[False, False], [True, False], [False, False], [False, False]]
    np.testing.assert_allclose(score[1], [2.9, 0])


def test_detectors_name_the_expected_shapes():
    with pytest.raises(ValueError, match=r"\[time, sensors\].*\[4\] and \[4\]"):
        stuck(np.zeros(4), np.ones(4, dtype=bool), min_steps=2)
