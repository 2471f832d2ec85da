"""The baselines are scored on the model's windows, and a model that does not beat them is named.

Reference numbers are worked out with NumPy inside the tests, from the raw readings, without
the baselines module.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from stgraph.data.series import SensorSeries
from stgraph.graph import from_matrix
from stgraph.metrics.masked import HorizonMetrics
from stgraph.metrics.report import metrics_summary
from stgraph.pipeline import compare
from stgraph.pipeline.compare import IMPROVE_HINT, Shortfall, compare_split, compare_with_baselines, score_baselines
from stgraph.pipeline.data import PreparedData, prepare_series

LOOKBACK, HORIZON = 2, 3


def daily_data() -> PreparedData:
    """Two sensors, 42 daily readings (six weeks from Monday 2024-01-01), a few missing.

    Shares (0.5, 0.25, 0.25): training steps 0..20 (three weeks), test steps 32..41.
    """
    rng = np.random.default_rng(3)
    values = rng.integers(10, 60, size=(42, 2, 1)).astype(np.float32)
    mask = np.ones(values.shape, dtype=bool)
    mask[[4, 17], 0] = False  # two training readings, one of them a Thursday
    mask[35, 1] = False  # a test target (and the last input of the window starting at 34)
    series = SensorSeries(
        values=np.where(mask, values, 0.0).astype(np.float32),
        mask=mask,
        timestamps=pd.date_range("2024-01-01", periods=42, freq="1D"),
        sensor_ids=["a", "b"],
        feature_names=["flow"],
    )
    graph = from_matrix(np.array([[1.0, 0.5], [0.5, 1.0]]), series.sensor_ids)
    return prepare_series(series, graph, lookback=LOOKBACK, horizon=HORIZON, fractions=(0.5, 0.25, 0.25), name="toy")


def by_hand(data: PreparedData, part: str) -> dict[str, np.ndarray]:
    """Per-step masked MAE of both baselines, from the readings with loops and NumPy only."""
    values, mask = data.series.values[:, :, 0].astype(np.float64), data.series.mask[:, :, 0]
    train_end = data.split.boundaries[0]
    day = np.arange(data.series.num_steps) % 7  # the series starts on a Monday
    profile = np.array(
        [[values[:train_end][(day[:train_end] == d) & mask[:train_end, n], n].mean() for n in range(2)] for d in range(7)]
    )
    errors: dict[str, list[list[float]]] = {"historical average": [], "last value": []}
    for start in data.split.starts(part):
        last_input = start + LOOKBACK - 1
        latest = [max(t for t in range(last_input + 1) if mask[t, n]) for n in range(2)]
        rows_ha, rows_lv = [], []
        for h in range(HORIZON):
            t = start + LOOKBACK + h
            rows_ha.append([abs(profile[day[t], n] - values[t, n]) if mask[t, n] else np.nan for n in range(2)])
            rows_lv.append([abs(values[latest[n], n] - values[t, n]) if mask[t, n] else np.nan for n in range(2)])
        errors["historical average"].append(rows_ha)
        errors["last value"].append(rows_lv)
    return {name: np.nanmean(np.array(rows), axis=(0, 2)) for name, rows in errors.items()}


@pytest.mark.parametrize("block", [None, 3])
@pytest.mark.parametrize("part", ["test", "val"])
def test_baselines_equal_a_computation_by_hand_on_the_same_windows(part, block, monkeypatch):
    if block is not None:  # scored 3 windows at a time, a ragged last block: the same numbers
        monkeypatch.setattr(compare, "BASELINE_WINDOWS", block)
    data = daily_data()
    scores = score_baselines(data, part)
    assert list(scores) == ["historical average", "last value"]
    expected = by_hand(data, part)
    for name, metrics in scores.items():
        np.testing.assert_allclose(metrics.mae, expected[name], rtol=1e-6)
        assert (
            metrics.observed.tolist()
            == data.series.mask[data.split.starts(part)[:, None] + LOOKBACK + np.arange(HORIZON), :, 0].sum(axis=(0, 2)).tolist()
        )


def test_a_sensor_never_observed_in_training_leaves_out_only_the_historical_average(caplog):
    data = daily_data()
    data.series.mask[: data.split.boundaries[0], 1] = False
    scores = score_baselines(data, "test")
    assert list(scores) == ["last value"]
    assert "historical average left out" in caplog.text and "1 sensors have no observed reading" in caplog.text


def metrics(mae, rmse):
    mae, rmse = np.asarray(mae, dtype=float), np.asarray(rmse, dtype=float)
    return HorizonMetrics(mae=mae, rmse=rmse, mape=mae / 50, observed=np.full(len(mae), 10))


def test_every_reported_lead_time_where_the_better_baseline_wins_is_a_shortfall():
    steps = np.arange(1, 13, dtype=float)
    model = metrics(steps, steps + 1)  # MAE 1..12, RMSE 2..13
    average = metrics(np.full(12, 20.0), np.full(12, 12.5))  # RMSE below the model's from step 12 on
    persistence = metrics(steps + 0.5, steps + 5)
    persistence.mae[2] = 3.0  # a tie at 15 min: not beating is a shortfall
    persistence.rmse[5] = math.nan  # nothing to compare: skipped
    shortfalls = compare_with_baselines(model, {"historical average": average, "last value": persistence}, pd.Timedelta("5min"))
    assert shortfalls == [
        Shortfall("mae", "15 min", 3, 3.0, "last value", 3.0),
        Shortfall("rmse", "60 min", 12, 13.0, "historical average", 12.5),
    ]
    assert shortfalls[0].line() == "warning: at 15 min the model's MAE 3.00 is no better than last value's 3.00"
    assert shortfalls[1].line() == "warning: at 60 min the model's RMSE 13.00 is worse than historical average's 12.50"


def test_the_average_over_the_horizon_is_compared_too():
    model = metrics([1.0, 5.0], [2.0, 6.0])  # horizon 2: no report step, only the average
    baseline = metrics([2.0, 3.0], [3.0, 4.0])  # MAE average 2.5 < 3.0, RMSE 3.5 < 4.0
    shortfalls = compare_with_baselines(model, {"last value": baseline}, None)
    assert [(s.metric, s.lead_time, s.step, s.model, s.baseline_value) for s in shortfalls] == [
        ("mae", "average", None, 3.0, 2.5),
        ("rmse", "average", None, 4.0, 3.5),
    ]
    assert shortfalls[0].line() == "warning: averaged over the horizon, the model's MAE 3.00 is worse than last value's 2.50"


def test_comparison_entries_for_metrics_json_and_the_warning_lines():
    data = daily_data()
    perfect = HorizonMetrics(mae=np.zeros(3), rmse=np.zeros(3), mape=np.zeros(3), observed=np.full(3, 5))
    winner = compare_split(data, "test", perfect)
    assert winner.beats_baselines and winner.warning_lines() == []
    entries = winner.metrics_entries()
    assert set(entries) == {"baselines", "beats_baselines", "shortfalls"}
    assert set(entries["baselines"]) == {"historical_average", "last_value"}
    # the same keys as the model's block: horizon 3 reports step 3 (72 h ahead) and the average
    assert (
        set(entries["baselines"]["last_value"])
        == set(metrics_summary(perfect, data.series.interval))
        == {"step_3", "average", "per_step"}
    )
    assert entries["baselines"]["last_value"]["step_3"]["lead_time"] == "72 h"
    assert entries["baselines"]["last_value"]["per_step"]["mae"] == pytest.approx(winner.baselines["last value"].mae.tolist())

    awful = HorizonMetrics(mae=np.full(3, 1e3), rmse=np.full(3, 1e3), mape=np.ones(3), observed=np.full(3, 5))
    loser = compare_split(data, "val", awful)
    assert not loser.beats_baselines and loser.warning_lines()[-1] == IMPROVE_HINT
    # MAE and RMSE at 72 h and on average, then the hint
    assert [line.split(" the model")[0] for line in loser.warning_lines()[:-1]] == [
        "warning: at 72 h",
        "warning: at 72 h",
        "warning: averaged over the horizon,",
        "warning: averaged over the horizon,",
    ]
    entries = loser.metrics_entries()
    assert set(entries) == {"baselines_val", "beats_baselines_val", "shortfalls_val"}
    assert entries["beats_baselines_val"] is False and entries["shortfalls_val"][0]["model"] == 1e3
    assert "historical average" in loser.table("tgcn") and loser.table("tgcn").splitlines()[1].startswith("tgcn")
