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
    with pytest.raises(SensorDataError, match="interval 0 days 07:00:00 does not divide a day"):
        HistoricalAverage().fit(make_series(values, interval=pd.Timedelta("7h")))
    model = HistoricalAverage().fit(make_series(values))
    with pytest.raises(SensorDataError, match="sensors differ"):
        model.predict(make_series(np.ones((10, 3))), [0], lookback=2, horizon=2)
    with pytest.raises(SensorDataError, match=r"window starts do not fit 10 steps.*first: 7; valid starts are 0..6"):
        model.predict(make_series(values), [0, 7], lookback=2, horizon=2)
    with pytest.raises(SensorDataError, match="no feature 'flow'"):
        HistoricalAverage(features=["flow"]).fit(make_series(values))


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
