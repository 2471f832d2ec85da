import gzip

import numpy as np
import pandas as pd
import pytest

from stgraph.baselines import HistoricalAverage, last_value
from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError
from stgraph.metrics import horizon_metrics

# 12-hour steps: 2 per day, 14 per week; 2024-01-01 is a Monday, so step t is slot t % 14.
START = pd.Timestamp("2024-01-01 00:00")
INTERVAL = pd.Timedelta("12h")


def make_series(values, mask=None, start=START, interval=INTERVAL):
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 2:
        values = values[:, :, None]
    mask = np.ones(values.shape, dtype=bool) if mask is None else np.asarray(mask).reshape(values.shape)
    timestamps = pd.date_range(start, periods=len(values), freq=interval)
    ids = [f"s{i}" for i in range(values.shape[1])]
    return SensorSeries(values=values, mask=mask, timestamps=timestamps, sensor_ids=ids, feature_names=["speed"])


def three_sensor_series():
    """Value of sensor n at step t is t + 100 n, over three weeks (42 steps)."""
    t = np.arange(42)
    values = np.stack([t, t + 100, t + 200], axis=1).astype(float)
    mask = np.ones_like(values, dtype=bool)
    mask[3, 0] = False  # slot 3 of sensor 0 keeps only step 17
    mask[8, 1] = False  # slot 8 of sensor 1 has no training reading -> time of day
    mask[:, 2] = False
    mask[[1, 3], 2] = True  # sensor 2: only steps 1 and 3 -> odd slots from the day mean,
    #                         even slots (no reading at that time of day) from the sensor mean
    return make_series(values, mask)


def test_historical_average_week_then_day_then_sensor_mean():
    series = three_sensor_series()
    train = make_series(series.values[:20, :, 0], series.mask[:20, :, 0])  # steps 0..19
    model = HistoricalAverage().fit(train)
    assert model.profile_.shape == (14, 3, 1)
    # Windows at 20 and 25 with lookback 2, horizon 3: targets at steps 22-24 (slots 8, 9, 10)
    # and 27-29 (slots 13, 0, 1). Slots 0..5 were seen twice (t and t + 14), the rest once.
    forecast = model.predict(series, [20, 25], lookback=2, horizon=3)
    assert forecast.shape == (2, 3, 3, 1) and forecast.dtype == np.float32
    day_mean_even = 100 + np.mean([0, 2, 4, 6, 10, 12, 14, 16, 18])  # sensor 1 without step 8
    expected = np.array(
        [
            [[8, day_mean_even, 202], [9, 109, 202], [10, 110, 202]],
            [[13, 113, 202], [7, 107, 202], [8, 108, 201]],
        ]
    )
    np.testing.assert_allclose(forecast[..., 0], expected, rtol=1e-6)
    assert model.profile_[3, 0, 0] == 17  # the masked step 3 does not count
    # sensor 1: slot 8; sensor 2: 5 odd slots without a reading -> 6 from the time of day;
    # sensor 2's 7 even slots -> the sensor mean
    assert (model.filled_from_day_, model.filled_from_sensor_mean_) == (6, 7)


def test_historical_average_depends_on_time_not_on_inputs():
    series = three_sensor_series()
    model = HistoricalAverage().fit(make_series(series.values[:28, :, 0]))
    changed = make_series(series.values[:, :, 0] * 0 + 5.0)
    np.testing.assert_array_equal(
        model.predict(series, [14], lookback=2, horizon=2), model.predict(changed, [14], lookback=2, horizon=2)
    )


def test_historical_average_errors():
    values = np.ones((10, 2))
    mask = np.ones((10, 2), dtype=bool)
    mask[:, 1] = False
    with pytest.raises(SensorDataError, match=r"1 sensors have no observed reading.*: s1"):
        HistoricalAverage().fit(make_series(values, mask))
    model = HistoricalAverage().fit(make_series(values))
    with pytest.raises(SensorDataError, match="sensors differ"):
        model.predict(make_series(np.ones((10, 3))), [0], lookback=2, horizon=2)
    with pytest.raises(SensorDataError, match=r"window starts do not fit 10 steps.*first: 7; valid starts are 0..6"):
        model.predict(make_series(values), [0, 7], lookback=2, horizon=2)
    with pytest.raises(SensorDataError, match="no feature 'flow'"):
        HistoricalAverage(features=["flow"]).fit(make_series(values))


def test_historical_average_of_daily_data_is_the_day_of_week_mean():
    # 2024-01-01 is a Monday; 17 days: Mondays at steps 0, 7, 14, Thursdays at 3 and 10, Fridays at 4 and 11
    t = np.arange(17, dtype=float)
    mask = np.ones(17, dtype=bool)
    mask[10] = False  # the second Thursday is missing: Thursday's mean is step 3 alone
    model = HistoricalAverage().fit(
        make_series(np.stack([t, 2 * t], axis=1), np.stack([mask, mask], axis=1), interval=pd.Timedelta("1D"))
    )
    assert model.profile_.shape == (7, 2, 1)
    np.testing.assert_allclose(model.profile_[:, 0, 0], [7, 8, 9, 3, 7.5, 8.5, 9.5])  # Monday (0 + 7 + 14) / 3
    np.testing.assert_allclose(model.profile_[:, 1, 0], [14, 16, 18, 6, 15, 17, 19])
    assert (model.filled_from_day_, model.filled_from_sensor_mean_) == (0, 0)
    # a window at step 14 (Monday) with lookback 2 forecasts Wednesday and Thursday
    later = make_series(np.zeros((20, 2)), interval=pd.Timedelta("1D"))
    np.testing.assert_allclose(model.predict(later, [14], lookback=2, horizon=2)[0, :, 0, 0], [9, 3])


def test_historical_average_without_a_day_of_week_reading_falls_back_to_the_sensor_mean():
    # four daily steps Monday..Thursday: Friday to Sunday have no reading and no time of day
    model = HistoricalAverage().fit(make_series(np.array([[1.0], [2.0], [3.0], [6.0]]), interval=pd.Timedelta("1D")))
    np.testing.assert_allclose(model.profile_[:, 0, 0], [1, 2, 3, 6, 3, 3, 3])
    assert (model.filled_from_day_, model.filled_from_sensor_mean_) == (0, 3)


@pytest.mark.parametrize("interval", ["7D", "2D", "10D"])
def test_weekly_data_and_intervals_that_do_not_divide_a_week_forecast_the_sensor_mean(interval, caplog):
    values = np.array([[4.0, 10.0], [8.0, 20.0], [0.0, 30.0], [6.0, 40.0]])
    mask = np.ones_like(values, dtype=bool)
    mask[2, 0] = False  # sensor 0's mean is (4 + 8 + 6) / 3 = 6
    with caplog.at_level("INFO", logger="stgraph.baselines"):
        model = HistoricalAverage().fit(make_series(values, mask, interval=pd.Timedelta(interval)))
    assert model.profile_.shape == (1, 2, 1)
    np.testing.assert_allclose(model.profile_[0, :, 0], [6, 25])
    series = make_series(np.zeros((8, 2)), interval=pd.Timedelta(interval))
    np.testing.assert_allclose(model.predict(series, [0, 4], lookback=2, horizon=2)[..., 0], np.tile([6, 25], (2, 2, 1)))
    assert ("does not divide a week" in caplog.text) == (interval != "7D")


def test_historical_average_of_an_interval_dividing_a_week_but_not_a_day():
    # 7-hour steps: 24 slots a week and no time of day; a week and one step of training
    values = np.arange(25, dtype=float)[:, None]
    model = HistoricalAverage().fit(make_series(values, interval=pd.Timedelta("7h")))
    assert model.profile_.shape == (24, 1, 1)
    np.testing.assert_allclose(model.profile_[:3, 0, 0], [12, 1, 2])  # slot 0 saw steps 0 and 24


def test_last_value_repeats_latest_observed_input():
    values = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50], [6, 60]], dtype=float)
    mask = np.ones_like(values, dtype=bool)
    mask[2, 0] = False  # sensor 0's last input of window 1 is missing -> step 1's value
    mask[:3, 1] = False  # sensor 1 has nothing observed before step 3
    series = make_series(values, mask)
    forecast = last_value(series, [0, 1, 2], lookback=2, horizon=2)
    assert forecast.shape == (3, 2, 2, 1)
    # window 0: inputs 0-1; window 1: inputs 1-2; window 2: inputs 2-3
    np.testing.assert_array_equal(forecast[:, 0, 0, 0], [2, 2, 4])
    assert np.isnan(forecast[:2, :, 1]).all()
    np.testing.assert_array_equal(forecast[2, :, 1, 0], [40, 40])


def test_baseline_metrics_on_the_committed_sample(sample_dir):
    with gzip.open(sample_dir / "readings.csv.gz", "rt") as handle:
        frame = pd.read_csv(handle, index_col=0, parse_dates=True)
    series = SensorSeries(
        values=frame.to_numpy()[:, :, None],
        mask=np.ones((*frame.shape, 1), dtype=bool),
        timestamps=frame.index,
        sensor_ids=list(frame.columns),
        feature_names=["speed"],
    )
    train_steps = int(0.7 * series.num_steps)
    starts = np.arange(train_steps, series.num_steps - 24 + 1)
    target = series.values[starts[:, None] + 12 + np.arange(12)]
    persistence = horizon_metrics(last_value(series, starts), target, null_value=None)
    # a persistence forecast degrades with the lead time
    assert persistence.mae[0] < persistence.mae[5] < persistence.mae[11]
    train = SensorSeries(
        values=series.values[:train_steps],
        mask=series.mask[:train_steps],
        timestamps=series.timestamps[:train_steps],
        sensor_ids=series.sensor_ids,
        feature_names=["speed"],
    )
    model = HistoricalAverage().fit(train)
    # Los-loop is one week: the 70 % training period ends on day 5, the rest of the week falls back
    assert model.filled_from_day_ == 207 * (series.num_steps - train_steps)
    average = horizon_metrics(model.predict(series, starts), target, null_value=None)
    assert np.isfinite(average.mae).all() and 0 < average.average()["mae"] < 20


def test_both_baselines_stream_the_series_in_blocks_with_the_same_result(monkeypatch):
    # blocks of 5 steps (carried across block edges, windows out of order) against one block
    import stgraph.baselines as baselines

    rng = np.random.default_rng(3)
    steps = 7 * 24 * 2  # two weeks, hourly
    values = rng.uniform(20, 70, size=(steps, 4, 2))
    mask = rng.random(values.shape) > 0.3
    mask[:40, 2, 0] = False  # a channel first observed after several blocks
    timestamps = pd.date_range("2024-01-01", periods=steps, freq="1h")
    series = SensorSeries(values, mask, timestamps, ["a", "b", "c", "d"], ["speed", "flow"])
    starts = np.array([300, 3, 0, 17, 150, 31])
    both = ["speed", "flow"]

    def run() -> tuple[np.ndarray, np.ndarray]:
        persistence = last_value(series, starts, lookback=6, horizon=3, features=both)
        return persistence, HistoricalAverage(features=both).fit(series).profile_

    whole = run()
    monkeypatch.setattr(baselines, "_FIT_BLOCK", 5)
    streamed = run()
    np.testing.assert_array_equal(streamed[0], whole[0])
    np.testing.assert_allclose(streamed[1], whole[1], rtol=1e-12)
    # by hand: window starting at 3 reads inputs 3..8; sensor c's speed is first observed at step 40
    assert np.isnan(whole[0][1, :, 2, 0]).all()
    observed = np.flatnonzero(mask[: 300 + 6, 0, 1])[-1]
    assert whole[0][0, 0, 0, 1] == np.float32(values[observed, 0, 1])
