"""Forecast exports carry sensor ids and real timestamps, and read back exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from stgraph.errors import ShapeError
from stgraph.report.export import (
    Predictions,
    forecast_frame,
    interval_frame,
    load_predictions,
    save_predictions,
    write_table,
)


def _predictions(windows=3, horizon=4, sensors=("a", "b", "c"), channels=("speed",)):
    rng = np.random.default_rng(0)
    shape = (windows, horizon, len(sensors), len(channels))
    return Predictions(
        prediction=rng.normal(size=shape).astype(np.float32),
        target=rng.normal(size=shape).astype(np.float32),
        mask=rng.random(shape) > 0.2,
        first_step=pd.date_range("2012-03-01 01:00", periods=windows, freq="5min"),
        interval=pd.Timedelta("5min"),
        sensor_ids=list(sensors),
        channels=list(channels),
    )


def test_predictions_round_trip_without_pickle(tmp_path):
    original = _predictions()
    save_predictions(tmp_path / "p.npz", original)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as raw:  # no object arrays inside
        assert raw["sensor_ids"].tolist() == ["a", "b", "c"]
    again = load_predictions(tmp_path / "p.npz")
    np.testing.assert_array_equal(again.prediction, original.prediction)
    np.testing.assert_array_equal(again.mask, original.mask)
    assert again.first_step.equals(original.first_step)
    assert again.interval == pd.Timedelta("5min")
    # step 3 of window 1 is 1:05 + 2 * 5 min
    assert again.timestamps(3)[1] == pd.Timestamp("2012-03-01 01:15")


def test_an_interval_round_trips_and_is_absent_without_one(tmp_path):
    plain = _predictions()
    save_predictions(tmp_path / "plain.npz", plain)
    assert load_predictions(tmp_path / "plain.npz").lower is None
    banded = dataclasses.replace(plain, lower=plain.prediction - 1, upper=plain.prediction + 2)
    save_predictions(tmp_path / "banded.npz", banded)
    again = load_predictions(tmp_path / "banded.npz")
    np.testing.assert_array_equal(again.upper, banded.upper)
    np.testing.assert_array_equal(again.lower, banded.lower)
    with pytest.raises(ShapeError, match="give both lower and upper"):
        dataclasses.replace(plain, lower=plain.prediction)
    with pytest.raises(ShapeError, match=r"upper must have the prediction's shape \[3, 4, 3, 1\]; got \[3, 4, 3\]"):
        dataclasses.replace(plain, lower=plain.prediction, upper=plain.prediction[..., 0])


def test_quantiles_round_trip_with_their_levels(tmp_path):
    plain = _predictions()
    levels = np.stack([plain.prediction - 1, plain.prediction, plain.prediction + 1], axis=-1)
    with_levels = dataclasses.replace(plain, quantiles=levels, levels=(0.1, 0.5, 0.9))
    save_predictions(tmp_path / "q.npz", with_levels)
    again = load_predictions(tmp_path / "q.npz")
    np.testing.assert_array_equal(again.quantiles, levels)
    assert again.levels == (0.1, 0.5, 0.9)
    save_predictions(tmp_path / "plain.npz", plain)
    assert load_predictions(tmp_path / "plain.npz").quantiles is None and load_predictions(tmp_path / "plain.npz").levels is None
    with pytest.raises(ShapeError, match=r"quantiles must be the prediction's shape \[3, 4, 3, 1\] plus 2 levels"):
        dataclasses.replace(plain, quantiles=levels, levels=(0.1, 0.9))


def test_interval_frame_puts_each_bound_beside_its_channel():
    forecast = np.arange(2 * 2 * 2, dtype=np.float32).reshape(2, 2, 2)  # [horizon, nodes, channels]
    frame = interval_frame(
        forecast,
        forecast - 1,
        forecast + 10,
        first_step=pd.Timestamp("2024-05-01 08:05"),
        interval=pd.Timedelta("5min"),
        sensor_ids=["x", "y"],
        channels=["speed", "flow"],
    )
    assert list(frame.columns) == ["speed", "speed_lower", "speed_upper", "flow", "flow_lower", "flow_upper"]
    # step 2 (08:10), sensor y: speed 6, flow 7
    assert frame.loc[(pd.Timestamp("2024-05-01 08:10"), "y")].tolist() == [6.0, 5.0, 16.0, 7.0, 6.0, 17.0]
    levels = interval_frame(
        forecast[..., :1],
        forecast[..., :1] - 1,
        forecast[..., :1] + 1,
        first_step=pd.Timestamp("2024-05-01 08:05"),
        interval=pd.Timedelta("5min"),
        sensor_ids=["x", "y"],
        channels=["speed"],
        quantiles=np.stack([forecast[..., :1] - 0.5, forecast[..., :1], forecast[..., :1] + 0.5], axis=-1),
        levels=[0.05, 0.5, 0.95],
    )
    assert list(levels.columns) == ["speed", "speed_lower", "speed_upper", "speed_q0.05", "speed_q0.5", "speed_q0.95"]
    # step 2 (08:10), sensor y: speed 6
    assert levels.loc[(pd.Timestamp("2024-05-01 08:10"), "y")].tolist() == [6.0, 5.0, 7.0, 5.5, 6.0, 6.5]
    with pytest.raises(ShapeError, match=r"lower and upper must have the forecast's shape \[2, 2, 2\]"):
        interval_frame(
            forecast,
            forecast[:1],
            forecast,
            first_step=pd.Timestamp(0),
            interval=pd.Timedelta("5min"),
            sensor_ids=["x", "y"],
            channels=["speed", "flow"],
        )


def test_predictions_reject_mismatched_shapes():
    good = _predictions()
    with pytest.raises(ShapeError, match="sensor_ids"):
        Predictions(good.prediction, good.target, good.mask, good.first_step, good.interval, ["a", "b"], good.channels)


def test_forecast_frame_wide_for_one_channel_long_for_several(tmp_path):
    forecast = np.arange(2 * 3 * 1, dtype=np.float32).reshape(2, 3, 1)
    wide = forecast_frame(
        forecast,
        first_step=pd.Timestamp("2024-05-01 08:05"),
        interval=pd.Timedelta("5min"),
        sensor_ids=["x", "y", "z"],
        channels=["speed"],
    )
    assert list(wide.columns) == ["x", "y", "z"]
    assert list(wide.index) == [pd.Timestamp("2024-05-01 08:05"), pd.Timestamp("2024-05-01 08:10")]
    assert wide.loc["2024-05-01 08:10", "y"] == forecast[1, 1, 0]

    two = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    long = forecast_frame(
        two,
        first_step=pd.Timestamp("2024-05-01 08:05"),
        interval=pd.Timedelta("5min"),
        sensor_ids=["x", "y", "z"],
        channels=["flow", "speed"],
    )
    assert long.loc[(pd.Timestamp("2024-05-01 08:10"), "z"), "speed"] == two[1, 2, 1]


def test_write_table_by_extension(tmp_path):
    frame = forecast_frame(
        np.ones((2, 2, 1)),
        first_step=pd.Timestamp("2024-01-01"),
        interval=pd.Timedelta("1h"),
        sensor_ids=["s1", "s2"],
        channels=["flow"],
    )
    write_table(frame, tmp_path / "f.csv")
    read = pd.read_csv(tmp_path / "f.csv", index_col=0, parse_dates=True)
    assert list(read.columns) == ["s1", "s2"] and read.index[1] == pd.Timestamp("2024-01-01 01:00")
    write_table(frame, tmp_path / "f.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), frame, check_freq=False)
    with pytest.raises(ValueError, match=r"f\.xlsx: unknown output format"):
        write_table(frame, tmp_path / "f.xlsx")
    assert not (tmp_path / "f.xlsx").exists()
