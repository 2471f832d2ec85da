import json

import numpy as np
import pytest

from stgraph.metrics import HorizonMetrics, IntervalMetrics, horizon_label, intervals_table, metrics_table
from stgraph.metrics.report import (
    intervals_from_summary,
    intervals_summary,
    lead_time_label,
    metrics_from_summary,
    metrics_summary,
)


def metrics(horizon: int, offset: float = 0.0) -> HorizonMetrics:
    steps = np.arange(1, horizon + 1, dtype=float)
    return HorizonMetrics(mae=steps + offset, rmse=2 * steps, mape=steps / 100, observed=np.full(horizon, 10))


@pytest.mark.parametrize(
    "step, interval, label",
    [(3, "5min", "15 min"), (12, "5min", "60 min"), (6, "15min", "90 min"), (12, "15min", "3 h"), (3, None, "step 3")],
)
def test_horizon_label(step, interval, label):
    assert horizon_label(step, interval) == label


def test_plain_table_single_model():
    table = metrics_table(metrics(12), interval="5min")
    assert table.splitlines() == [
        "horizon    MAE   RMSE  MAPE (%)",
        "15 min    3.00   6.00      3.00",
        "30 min    6.00  12.00      6.00",
        "60 min   12.00  24.00     12.00",
        "average   6.50  13.00      6.50",
    ]


def test_markdown_table_several_models_skips_steps_beyond_horizon_and_shows_nan():
    short = metrics(3)
    short.mae[2] = np.nan
    table = metrics_table({"HA": metrics(12), "last value": short}, markdown=True, digits=1)
    lines = table.splitlines()
    assert lines[0] == "| model | horizon | MAE | RMSE | MAPE (%) |"
    assert lines[1] == "| --- | --- | ---: | ---: | ---: |"
    assert "| HA | step 12 | 12.0 | 24.0 | 12.0 |" in lines
    assert "| last value | step 3 | n/a | 6.0 | 3.0 |" in lines
    assert not any("last value | step 6" in line for line in lines)
    assert len(lines) == 2 + 4 + 2


@pytest.mark.parametrize(
    ("step", "interval", "label"),
    [
        (1, "5min", "5 min"),
        (3, "5min", "15 min"),
        (12, "5min", "1 h"),
        (18, "5min", "90 min"),
        (36, "5min", "3 h"),
        (24, "1h", "1 d"),
        (36, "1h", "36 h"),
        (1, "7D", "7 d"),
        (3, None, "3"),
    ],
)
def test_lead_time_label_for_axis_ticks(step, interval, label):
    assert lead_time_label(step, interval) == label


def test_metrics_summary_round_trips_through_json_with_nan_as_null():
    metrics = HorizonMetrics(
        mae=np.array([1.0, np.nan, 3.0]),
        rmse=np.array([2.0, np.nan, 4.0]),
        mape=np.array([0.1, np.nan, 0.3]),
        observed=np.array([4, 0, 4]),
    )
    summary = metrics_summary(metrics, "1h")
    assert summary["step_3"] == {"lead_time": "3 h", "mae": 3.0, "rmse": 4.0, "mape": pytest.approx(0.3)}
    summary["per_step"]["mae"][1] = None  # as metrics.json stores NaN
    back = metrics_from_summary(json.loads(json.dumps(summary)))
    np.testing.assert_array_equal(back.mae, metrics.mae)
    np.testing.assert_array_equal(back.observed, metrics.observed)
    assert back.average() == metrics.average()


def interval_scores(horizon: int) -> IntervalMetrics:
    steps = np.arange(1, horizon + 1, dtype=float)
    return IntervalMetrics(
        coverage=1 - steps / 100,
        width=2 * steps,
        winkler=3 * steps,
        crps=steps / 2,
        pinball=steps / 4,
        observed=np.full(horizon, 10),
        nominal=0.9,
    )


def test_intervals_table_prints_coverage_in_percent_beside_the_nominal():
    assert intervals_table(interval_scores(12), interval="5min").splitlines() == [
        "horizon  coverage (%, nominal 90)  width  Winkler  CRPS",
        "15 min                      97.00   6.00     9.00  1.50",
        "30 min                      94.00  12.00    18.00  3.00",
        "60 min                      88.00  24.00    36.00  6.00",
        "average                     93.50  13.00    19.50  3.25",
    ]


def test_intervals_summary_is_keyed_like_the_test_block_and_round_trips():
    scores = interval_scores(3)
    scores.width[1] = np.nan
    summary = json.loads(json.dumps(intervals_summary(scores, "5min"), allow_nan=True).replace("NaN", "null"))
    assert list(summary) == ["nominal", "step_3", "average", "per_step"]
    assert summary["step_3"] == {
        "lead_time": "15 min",
        "coverage": 0.97,
        "width": 6.0,
        "winkler": 9.0,
        "crps": 1.5,
        "pinball": 0.75,
    }
    back = intervals_from_summary(summary)
    np.testing.assert_array_equal(back.width, scores.width)
    assert back.nominal == 0.9
    assert back.average()["coverage"] == pytest.approx(0.98)
