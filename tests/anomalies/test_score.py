"""The table of flagged readings (stgraph/anomalies/score.py): one row per reading, under its most
specific kind, with that check's score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stgraph.anomalies import KINDS, anomaly_table, strongest
from stgraph.data.series import SensorSeries


def _checks(**flagged):
    """Checks over 3 steps x 2 sensors; ``kind=[(step, sensor, score), ...]``."""
    checks = {}
    for kind in KINDS:
        flags, score = np.zeros((3, 2), dtype=bool), np.zeros((3, 2))
        for step, sensor, value in flagged.get(kind, []):
            flags[step, sensor], score[step, sensor] = True, value
        checks[kind] = (flags, score)
    return checks


def test_strongest_keeps_the_most_specific_kind_and_its_score():
    checks = _checks(spike=[(0, 0, 3.0), (1, 1, 2.0)], stuck=[(0, 0, 1.5), (2, 0, 1.0)], zero=[(0, 0, 5.0)])
    kind, score = strongest(checks)
    assert kind.tolist() == [[KINDS.index("zero"), -1], [-1, KINDS.index("spike")], [KINDS.index("stuck"), -1]]
    np.testing.assert_allclose(score, [[5.0, 0], [0, 2.0], [1.0, 0]])


def test_anomaly_table_lists_flagged_readings_in_time_then_sensor_order():
    series = SensorSeries(np.ones((3, 2, 1)), None, pd.date_range("2024-01-01", periods=3, freq="5min"), ["s1", "s2"], ["speed"])
    table = anomaly_table(series, _checks(spike=[(1, 1, 2.0)], out_of_range=[(1, 0, 4.0), (2, 1, 1.5)]))
    assert table.to_dict("list") == {
        "sensor": ["s1", "s2", "s2"],
        "timestamp": list(pd.to_datetime(["2024-01-01 00:05", "2024-01-01 00:05", "2024-01-01 00:10"])),
        "kind": ["out_of_range", "spike", "out_of_range"],
        "score": [4.0, 2.0, 1.5],
    }
