"""Conformal calibration on tiny hand-made validation sets: split conformal, CQR, per sensor."""

import math

import numpy as np
import pandas as pd
import pytest

from stgraph.errors import ConfigError, ShapeError
from stgraph.pipeline.calibration import (
    calibrate,
    fit_scale,
    forecast_hours,
    interval_levels,
    load_calibration,
    save_calibration,
)


def validation(residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecast 10 everywhere, target 10 + residual; ``[windows, horizon, nodes, 1]``."""
    target = 10.0 + residuals[..., None]
    return np.full(target.shape, 10.0), target, np.ones(target.shape, dtype=bool)


def test_split_conformal_margin_per_step_is_the_ceil_rank_of_absolute_residuals():
    # 4 windows, 2 steps, 1 sensor: step 1 |r| = 1, 2, 3, 4; step 2 |r| = 2, 4, 6, 8
    residuals = np.array([[1.0, -2.0], [-2.0, 4.0], [3.0, -6.0], [-4.0, 8.0]])[:, :, None]
    forecast, target, mask = validation(residuals)
    calibration = calibrate(forecast, target, mask, 0.6)
    # n = 4, k = ceil(5 * 0.6) = 3: the 3rd smallest -> 3 at step 1, 6 at step 2
    np.testing.assert_array_equal(calibration.margin[:, 0, 0], [3.0, 6.0])
    assert calibration.method == "split"
    lower, upper = calibration.interval(np.full((1, 2, 1, 1), 50.0))
    np.testing.assert_array_equal(lower[0, :, 0, 0], [47.0, 44.0])
    np.testing.assert_array_equal(upper[0, :, 0, 0], [53.0, 56.0])


def test_masked_targets_are_not_scores_and_pooling_counts_sensors():
    # 2 windows, 1 step, 2 sensors: |r| = 1, 5 (sensor a) and 3, 100 (sensor b, 100 masked)
    residuals = np.array([[[1.0, 3.0]], [[5.0, 100.0]]])
    forecast, target, mask = validation(residuals)
    mask[1, 0, 1, 0] = False
    pooled = calibrate(forecast, target, mask, 0.5)
    # pooled n = 3 (1, 3, 5), k = ceil(4 * 0.5) = 2 -> 3
    assert pooled.margin.shape == (1, 1, 1)
    assert pooled.margin[0, 0, 0] == 3.0
    per_sensor = calibrate(forecast, target, mask, 0.5, per_sensor=True)
    # sensor a: n 2, k = ceil(1.5) = 2 -> 5; sensor b: n 1, k = ceil(1.0) = 1 -> 3
    np.testing.assert_array_equal(per_sensor.margin[0, :, 0], [5.0, 3.0])
    # too few scores for 90 %: k = ceil(3 * 0.9) = 3 > n = 2 -> an unbounded interval
    assert math.isinf(calibrate(forecast, target, mask, 0.9, per_sensor=True).margin[0, 0, 0])


def test_cqr_widens_or_narrows_the_nearest_quantiles():
    # quantiles 0.1 / 0.5 / 0.9 forecast as 8 / 10 / 12; targets 13, 11, 7, 9.5 at one step
    target = np.array([13.0, 11.0, 7.0, 9.5]).reshape(4, 1, 1, 1)
    forecast = np.broadcast_to(np.array([8.0, 10.0, 12.0]), (4, 1, 1, 1, 3))
    mask = np.ones(target.shape, dtype=bool)
    # scores max(8 - y, y - 12): 1, -1, 1, -1.5; coverage 0.5: k = ceil(2.5) = 3 -> sorted -1.5, -1, 1, 1 -> 1
    calibration = calibrate(forecast, target, mask, 0.5, quantiles=(0.1, 0.5, 0.9))
    assert calibration.method == "cqr" and calibration.bounds == (0, 2)
    assert calibration.margin[0, 0, 0] == 1.0
    lower, upper = calibration.interval(forecast[:1])
    assert (lower.item(), upper.item()) == (7.0, 13.0)
    # coverage 0.2: k = ceil(5 * 0.2) = 1 -> -1.5: the interval shrinks to [9.5, 10.5]
    narrow = calibrate(forecast, target, mask, 0.2, quantiles=(0.1, 0.5, 0.9))
    assert [a.item() for a in narrow.interval(forecast[:1])] == [9.5, 10.5]


def test_cqr_picks_the_levels_nearest_the_interval_and_needs_both_sides():
    assert interval_levels(0.9) == pytest.approx((0.05, 0.95))
    forecast = np.zeros((2, 1, 1, 1, 5))
    target, mask = np.zeros((2, 1, 1, 1)), np.ones((2, 1, 1, 1), dtype=bool)
    assert calibrate(forecast, target, mask, 0.8, quantiles=(0.05, 0.1, 0.5, 0.9, 0.95)).bounds == (1, 3)
    with pytest.raises(ConfigError, match=r"model.quantiles \[0.5, 0.9\] cannot bound an interval"):
        calibrate(forecast[..., :2], target, mask, 0.8, quantiles=(0.5, 0.9))


def test_calibration_round_trips_through_its_file(tmp_path):
    residuals = np.arange(1.0, 9.0).reshape(4, 2, 1)
    calibration = calibrate(*validation(residuals), 0.9)  # n 4: k = 5 > n -> inf
    save_calibration(tmp_path / "calibration.npz", calibration)
    back = load_calibration(tmp_path / "calibration.npz")
    np.testing.assert_array_equal(back.margin, calibration.margin)
    assert (back.coverage, back.bounds, back.windows, back.per_sensor) == (0.9, None, 4, False)
    assert math.isinf(back.margin[0, 0, 0])


def test_a_forecast_of_another_horizon_is_refused():
    calibration = calibrate(*validation(np.ones((3, 2, 1))), 0.5)
    with pytest.raises(ShapeError, match=r"calibrated for \[windows, 2, nodes, 1\] forecasts; got \[1, 3, 1, 1\]"):
        calibration.interval(np.zeros((1, 3, 1, 1)))
    with pytest.raises(ValueError, match=r"coverage must be a fraction in \(0, 1\), got 1.2"):
        calibrate(*validation(np.ones((3, 2, 1))), 1.2)


def test_forecast_hours_follow_the_clock_across_midnight():
    first = pd.DatetimeIndex(["2012-03-01 22:50", "2012-03-01 23:55"])
    hours = forecast_hours(first, 3, pd.Timedelta(minutes=5))
    np.testing.assert_array_equal(hours, [[22, 22, 23], [23, 0, 0]])
    np.testing.assert_array_equal(forecast_hours(first[:1], 2, pd.Timedelta(hours=2)), [[22, 0]])


def test_fit_scale_is_the_hour_and_sensor_mean_absolute_residual_relative_to_the_step():
    # 4 windows, 1 step, 2 sensors, forecast 0; hours 8, 8, 17, 17; |r| sensor a: 1, 1, 3, 3; sensor b: 2, 2, 6, masked
    target = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 6.0], [3.0, 99.0]]).reshape(4, 1, 2, 1)
    mask = np.ones(target.shape, dtype=bool)
    mask[3, 0, 1, 0] = False
    hours = np.array([[8], [8], [17], [17]])
    forecast = np.zeros(target.shape)
    # step mean e = (1 + 1 + 3 + 3 + 2 + 2 + 6) / 7 = 18 / 7; hour 8: 6 / 4 = 1.5, hour 17: 12 / 3 = 4
    # sensor a: 8 / 4 = 2, sensor b: 10 / 3
    e = 18 / 7
    by_hour = fit_scale(forecast, target, mask, hours, "time_of_day")
    assert by_hour.shape == (1, 24, 1, 1)
    np.testing.assert_allclose(by_hour[0, [8, 17, 0], 0, 0], [1.5 / e, 4 / e, 1.0])  # hour 0: nothing observed -> 1
    by_sensor = fit_scale(forecast, target, mask, hours, "sensor")
    np.testing.assert_allclose(by_sensor[0, 5, :, 0], [2 / e, (10 / 3) / e])
    both = fit_scale(forecast, target, mask, hours, "sensor_time_of_day")
    np.testing.assert_allclose(both[0, 17, :, 0], [(4 / e) * (2 / e), (4 / e) * (10 / 3) / e])
    assert fit_scale(forecast, target, mask, hours, "none") is None
    # a sensor that never moved in training still gets a width: the floor, 5 % of the step's average
    quiet = target.copy()
    quiet[:, :, 1] = 0.0
    assert fit_scale(forecast, quiet, mask, hours, "sensor")[0, 0, 1, 0] == 0.05
    with pytest.raises(ConfigError, match=r"training.coverage_scale must be one of .*; got 'hourly'"):
        fit_scale(forecast, target, mask, hours, "hourly")


def test_locally_weighted_margins_scale_scores_and_widths_by_the_hour():
    # 4 windows, 1 step, 1 sensor: |r| = 1, 2 at hour 3 (scale 1) and 8, 10 at hour 18 (scale 4)
    forecast, target, mask = validation(np.array([1.0, -2.0, 8.0, -10.0]).reshape(4, 1, 1))
    scale = np.ones((1, 24, 1, 1))
    scale[0, 18] = 4.0
    hours = np.array([[3], [3], [18], [18]])
    calibration = calibrate(forecast, target, mask, 0.6, scale=scale, scale_kind="time_of_day", hours=hours)
    # scores 1, 2, 2, 2.5; n = 4, k = ceil(5 * 0.6) = 3 -> 2
    assert calibration.margin[0, 0, 0] == 2.0
    lower, upper = calibration.interval(np.full((2, 1, 1, 1), 50.0), np.array([[3], [18]]))
    np.testing.assert_array_equal(upper[:, 0, 0, 0], [52.0, 58.0])
    np.testing.assert_array_equal(lower[:, 0, 0, 0], [48.0, 42.0])
    with pytest.raises(ShapeError, match=r"these margins follow the hour of day"):
        calibration.interval(np.full((2, 1, 1, 1), 50.0))
    with pytest.raises(ShapeError, match=r"hours must be \[windows, horizon\] = \[2, 1\]; got \[1, 1\]"):
        calibration.interval(np.full((2, 1, 1, 1), 50.0), np.array([[3]]))


def test_a_locally_weighted_calibration_round_trips_through_its_file(tmp_path):
    forecast, target, mask = validation(np.array([1.0, -2.0, 8.0, -10.0]).reshape(4, 1, 1))
    scale = np.linspace(0.5, 2.0, 24).reshape(1, 24, 1, 1)
    hours = np.array([[0], [5], [11], [23]])
    calibration = calibrate(forecast, target, mask, 0.5, scale=scale, scale_kind="time_of_day", hours=hours)
    save_calibration(tmp_path / "calibration.npz", calibration)
    back = load_calibration(tmp_path / "calibration.npz")
    np.testing.assert_array_equal(back.scale, scale)
    assert back.scale_kind == "time_of_day"
    np.testing.assert_array_equal(back.interval(forecast, hours)[1], calibration.interval(forecast, hours)[1])
