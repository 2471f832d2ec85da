"""Chronological splits: DCRNN's rounding on steps, and no window crossing a boundary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.data import Split, split_by_dates, split_by_fraction
from stgraph.errors import SensorDataError


def test_fraction_split_by_hand():
    split = split_by_fraction(100, lookback=3, horizon=2)
    assert split.boundaries == (70, 80)
    # part of P steps -> P - lookback - horizon + 1 windows
    assert split.sizes() == {"train": 66, "val": 6, "test": 16}
    assert split.train[[0, -1]].tolist() == [0, 65]
    assert split.val[[0, -1]].tolist() == [70, 75]
    assert split.test[[0, -1]].tolist() == [80, 95]
    assert split.train_steps == slice(0, 70) and split.steps("test") == slice(80, 100)


def test_dcrnn_rounding_on_metr_la_length():
    split = split_by_fraction(34272)
    # round(0.7 * 34272) = 23990 train steps, round(0.2 * 34272) = 6854 test, 3428 validation
    assert split.boundaries == (23990, 34272 - 6854)
    assert split.sizes() == {"train": 23990 - 23, "val": 3428 - 23, "test": 6854 - 23}


@pytest.mark.parametrize(
    "num_steps,lookback,horizon,stride", [(400, 12, 12, 1), (1000, 12, 3, 1), (517, 6, 6, 5), (288, 12, 12, 3)]
)
def test_no_window_crosses_a_boundary(num_steps, lookback, horizon, stride):
    split = split_by_fraction(num_steps, lookback=lookback, horizon=horizon, stride=stride)
    owner = np.repeat([0, 1, 2], np.diff([0, *split.boundaries, num_steps]))
    for part_index, part in enumerate(("train", "val", "test")):
        for start in split.starts(part):
            steps = np.arange(start, start + lookback + horizon)
            assert (owner[steps] == part_index).all()
        starts = split.starts(part)
        assert (np.diff(starts) == stride).all()
        part_steps = split.steps(part)
        # the last window that fits is there (up to the stride)
        assert part_steps.stop - (starts[-1] + lookback + horizon) < stride


def test_split_by_dates():
    timestamps = pd.date_range("2012-03-01", periods=288 * 3, freq="5min")
    split = split_by_dates(timestamps, val_start="2012-03-02", test_start="2012-03-03 00:00", lookback=12, horizon=12)
    assert split.boundaries == (288, 576)
    assert split.sizes() == {"train": 265, "val": 265, "test": 265}
    assert timestamps[split.test[0]] == pd.Timestamp("2012-03-03")
    with pytest.raises(SensorDataError, match=r"val_start 2012-03-03 00:00:00 is after test_start"):
        split_by_dates(timestamps, val_start="2012-03-03", test_start="2012-03-02")


def test_empty_part_allowed_only_with_zero_share():
    split = split_by_fraction(50, lookback=2, horizon=2, fractions=(0.8, 0.2, 0.0))
    assert split.sizes() == {"train": 37, "val": 7, "test": 0}
    with pytest.raises(SensorDataError, match=r"the val part has 5 steps, fewer than lookback \+ horizon = 24"):
        split_by_fraction(50, fractions=(0.7, 0.1, 0.2))
    with pytest.raises(SensorDataError, match=r"summing to 1"):
        split_by_fraction(50, fractions=(0.7, 0.2, 0.2))
    with pytest.raises(SensorDataError, match=r"lookback must be a positive integer"):
        Split.from_boundaries(50, (30, 40), lookback=0)
