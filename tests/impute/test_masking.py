import numpy as np
import pytest

from stgraph.errors import SensorDataError
from stgraph.impute import block_missing, point_missing


def runs(column):
    """Lengths of the runs of True in a bool vector."""
    padded = np.concatenate([[0], column.astype(int), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[::2]


def test_point_missing_hides_a_quarter_of_the_observed_readings_only():
    observed = np.ones((2000, 50), dtype=bool)
    observed[:, 0] = False  # a sensor with nothing observed loses nothing
    hidden = point_missing(observed, seed=3)
    assert not (hidden & ~observed).any()
    share = hidden[:, 1:].mean()
    assert abs(share - 0.25) < 0.005  # 98,000 Bernoulli(0.25) draws: std 0.0014
    np.testing.assert_array_equal(hidden, point_missing(observed, seed=3))
    assert (hidden != point_missing(observed, seed=4)).any()


def test_block_missing_hides_runs_of_one_to_four_hours_per_sensor():
    observed = np.ones((5000, 40), dtype=bool)
    hidden = block_missing(observed, "5min", noise_rate=0.0, seed=1)
    block_lengths = []
    for n in range(40):
        lengths = runs(hidden[:, n])
        if hidden[-1, n]:
            lengths = lengths[:-1]  # a run cut by the series' end
        if lengths.size:
            # one length per sensor, 12 .. 47 steps (1 h to under 4 h); overlapping blocks merge into longer runs
            assert 12 <= lengths.min() <= 47
            block_lengths.append(lengths.min())
    assert len(block_lengths) > 30  # 5000 * 0.0015 = 7.5 starts per sensor on average
    assert len(set(block_lengths)) > 10  # drawn per sensor, not once for all


def test_block_missing_adds_scattered_points_and_respects_the_mask():
    observed = np.ones((3000, 30), dtype=bool)
    observed[::2, 5] = False
    hidden = block_missing(observed, "5min", fault_rate=0.0, seed=0)
    assert abs(hidden[:, [0, 1, 2]].mean() - 0.05) < 0.01
    assert not (hidden & ~observed).any()
    np.testing.assert_array_equal(hidden, block_missing(observed, "5min", fault_rate=0.0, seed=0))


def test_block_lengths_follow_the_interval():
    # hourly readings: blocks of 1 to 3 hours (4 h excluded, as tsl's randint)
    observed = np.ones((20000, 10), dtype=bool)
    hidden = block_missing(observed, "1h", fault_rate=0.002, noise_rate=0.0, seed=2)
    for n in range(10):
        lengths = runs(hidden[:-5, n])
        if lengths.size:
            assert lengths.min() in (1, 2, 3)


def test_block_shorter_than_the_interval_is_refused():
    with pytest.raises(SensorDataError, match="1h to 4h at interval 0 days 02:00:00"):
        block_missing(np.ones((10, 2), dtype=bool), "2h")
