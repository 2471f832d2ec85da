"""Forecasts that need no training: historical average and last value.

Both forecast the windows of a :class:`~stgraph.data.series.SensorSeries` the way
:class:`~stgraph.data.windows.WindowDataset` cuts them: the window starting at step ``s``
reads inputs ``s .. s+lookback-1`` and forecasts steps ``s+lookback .. s+lookback+horizon-1``.
The result, ``[windows, horizon, sensors, channels]`` in original units, goes straight into
:func:`stgraph.metrics.horizon_metrics` with the windows' targets and mask.

DCRNN (Li et al., ICLR 2018, Table 1) reports both as baselines ("HA" and, in its baseline
script, a "static" forecast that repeats the current reading).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError

__all__ = ["HistoricalAverage", "last_value"]

logger = logging.getLogger(__name__)

_DAY = pd.Timedelta(days=1)
_WEEK = pd.Timedelta(weeks=1)


#: time steps whose float64 readings :meth:`HistoricalAverage.fit` holds at once
_FIT_BLOCK = 2048


class HistoricalAverage:
    r"""Historical average: the mean training reading at the same time of week, per sensor.

    For sensor :math:`n` and time-of-week slot :math:`k` (Monday 00:00 is slot 0; a week has
    ``7 days / interval`` slots),

    .. math::
        \hat y_{n,k} = \frac{1}{|T_k|}\sum_{t \in T_k} x_{t,n}

    over the *observed* training readings :math:`T_k` in that slot, as DCRNN's
    ``historical_average_predict`` does (it averages the non-null readings one week apart).
    The forecast depends only on the target's time, not on the inputs.

    Any interval that divides a week has such a profile: 2016 slots at 5 minutes, 168 hourly,
    7 daily (the day of week), and a single slot for weekly data (the sensor's training mean).
    An interval that does not divide a week (2 days, 10 days) has no time of week to repeat;
    the forecast is then the sensor's training mean (one slot), and a log line says so.

    Fallbacks, for slots without an observed training reading (for instance Los-loop, which
    spans a single week, so a 70 % training period never sees Saturday and Sunday):

    1. the mean at the same **time of day** over all training days, when the interval
       divides a day into two or more slots (with daily data the time of day is the day
       itself, and its mean is the sensor mean of 2.);
    2. else the sensor's mean over the whole training period.

    How many entries used each fallback is kept in ``filled_from_day_`` and
    ``filled_from_sensor_mean_``. A sensor with no observed training reading at all is an
    error: there is nothing to average.

    Args:
        features: features to forecast (names or positions; default the first, as
            :class:`~stgraph.data.windows.WindowDataset`'s targets).

    Attributes (after :meth:`fit`):
        profile_: float64 ``[slots_per_week, sensors, channels]`` (``slots_per_week`` is 1
            when the interval does not divide a week).
        sensor_ids_, feature_names_, interval_: what the profile was fitted on.
    """

    def __init__(self, *, features: Sequence[int | str] | None = None) -> None:
        self.features = features

    def fit(self, train: SensorSeries) -> HistoricalAverage:
        """Average the observed readings of ``train`` (the training period only) per slot.

        Shapes:
            train: ``[time, sensors, features]`` -> ``profile_ [slots_per_week, sensors, channels]``
        """
        positions = _feature_positions(train, self.features)
        slots_per_week = _slots_per_week(train.interval)
        if slots_per_week == 1 and _WEEK % train.interval != pd.Timedelta(0):
            logger.info(
                "historical average: interval %s does not divide a week; each sensor's forecast is its training mean",
                train.interval,
            )
        slots = _slot_of_week(train.timestamps, train.interval, slots_per_week)

        shape = (slots_per_week, train.num_sensors, len(positions))
        sums, counts = np.zeros(shape), np.zeros(shape)
        for start in range(0, train.num_steps, _FIT_BLOCK):  # a block of steps in float64 at a time (memory-mapped series)
            block = slice(start, start + _FIT_BLOCK)
            observed = train.mask[block][:, :, positions]
            values = train.values[block][:, :, positions].astype(np.float64)
            np.add.at(sums, slots[block], np.where(observed, values, 0.0))
            np.add.at(counts, slots[block], observed)
        sensor_sums, sensor_counts = sums.sum(axis=0), counts.sum(axis=0)

        slots_per_day = _slots_per_day(train.interval)
        if slots_per_day > 1:
            day_sums = np.tile(sums.reshape(7, slots_per_day, *shape[1:]).sum(axis=0), (7, 1, 1))
            day_counts = np.tile(counts.reshape(7, slots_per_day, *shape[1:]).sum(axis=0), (7, 1, 1))
        else:  # no time of day to fall back on
            day_sums, day_counts = np.zeros(shape), np.zeros(shape)

        never = np.flatnonzero((sensor_counts == 0).any(axis=-1))
        if never.size:
            names = ", ".join(train.sensor_ids[i] for i in never[:10])
            raise SensorDataError(
                f"{train.source or 'series'}: {never.size} sensors have no observed reading in the training "
                f"period, so there is nothing to average: {names}{' ...' if never.size > 10 else ''}"
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            week_mean = sums / counts
            day_mean = day_sums / day_counts
            sensor_mean = sensor_sums / sensor_counts
        from_day = (counts == 0) & (day_counts > 0)
        from_sensor = (counts == 0) & ~from_day
        self.profile_: np.ndarray = np.where(counts > 0, week_mean, np.where(from_day, day_mean, sensor_mean))
        self.filled_from_day_ = int(from_day.sum())
        self.filled_from_sensor_mean_ = int(from_sensor.sum())
        if self.filled_from_day_ or self.filled_from_sensor_mean_:
            logger.info(
                "historical average: %d of %d (slot, sensor, channel) entries had no training reading; "
                "%d use the same time of day, %d the sensor mean",
                self.filled_from_day_ + self.filled_from_sensor_mean_,
                self.profile_.size,
                self.filled_from_day_,
                self.filled_from_sensor_mean_,
            )
        self.sensor_ids_ = list(train.sensor_ids)
        self.feature_names_ = [train.feature_names[p] for p in positions]
        self.interval_ = train.interval
        return self

    def predict(
        self, series: SensorSeries, starts: Sequence[int] | np.ndarray, *, lookback: int = 12, horizon: int = 12
    ) -> np.ndarray:
        """Forecast the windows of ``series`` starting at ``starts``.

        Shapes:
            starts: ``[windows]`` -> float32 ``[windows, horizon, sensors, channels]``
        """
        if not hasattr(self, "profile_"):
            raise SensorDataError("HistoricalAverage.predict called before fit")
        where = series.source or "series"
        if list(series.sensor_ids) != self.sensor_ids_:
            raise SensorDataError(
                f"{where}: sensors differ from those the historical average was fitted on (align the series first)"
            )
        if series.interval != self.interval_:
            raise SensorDataError(f"{where}: interval {series.interval} differs from the fitted {self.interval_}")
        missing = [name for name in self.feature_names_ if name not in series.feature_names]
        if missing:
            raise SensorDataError(f"{where}: features {missing} the historical average was fitted on are not in the series")
        steps = _target_steps(series, starts, lookback, horizon)
        slots = _slot_of_week(series.timestamps, series.interval, self.profile_.shape[0])[steps]
        forecast: np.ndarray = self.profile_[slots].astype(np.float32)
        return forecast


def last_value(
    series: SensorSeries,
    starts: Sequence[int] | np.ndarray,
    *,
    lookback: int = 12,
    horizon: int = 12,
    features: Sequence[int | str] | None = None,
) -> np.ndarray:
    """Repeat the last observed input reading over the whole horizon, per sensor.

    The reading is the most recent *observed* one at or before the window's last input step
    (``s + lookback - 1``); when the whole input of a sensor is missing it comes from earlier
    in the series. Where a sensor has no observed reading up to that step the forecast is
    NaN (a warning gives the count); masked metrics ignore it only where the target is
    missing too.

    Shapes:
        starts: ``[windows]`` -> float32 ``[windows, horizon, sensors, channels]``
    """
    positions = _feature_positions(series, features)
    steps = _target_steps(series, starts, lookback, horizon)
    source_step = _latest_observed(series, positions, steps[:, 0] - 1)  # [windows, sensors, channels]
    sensors, channels = np.arange(series.num_sensors)[:, None], np.asarray(positions)[None, :]
    forecast = series.values[np.maximum(source_step, 0), sensors, channels]  # only these readings are read
    forecast = np.where(source_step >= 0, forecast, np.float32(np.nan))
    unknown = int((source_step < 0).sum())
    if unknown:
        logger.warning("last value: %d (window, sensor, channel) forecasts are NaN: no reading observed before them", unknown)
    return np.repeat(forecast[:, None], horizon, axis=1).astype(np.float32)


def _latest_observed(series: SensorSeries, positions: list[int], at: np.ndarray) -> np.ndarray:
    """For each step of ``at``, the latest step up to it at which each sensor's channel was
    observed (-1 where none was), streamed over :data:`_FIT_BLOCK` steps of the mask at a time.

    Shapes:
        at: ``[windows]`` -> int64 ``[windows, sensors, channels]``
    """
    latest_at = np.full((len(at), series.num_sensors, len(positions)), -1, dtype=np.int64)
    order = np.argsort(at, kind="stable")
    wanted = np.asarray(at)[order]
    carry = np.full((series.num_sensors, len(positions)), -1, dtype=np.int64)
    done, stop = 0, int(wanted[-1]) + 1 if len(wanted) else 0
    for start in range(0, stop, _FIT_BLOCK):
        end = min(start + _FIT_BLOCK, stop)
        observed = series.mask[start:end][:, :, positions]
        latest = np.maximum(np.maximum.accumulate(np.where(observed, np.arange(start, end)[:, None, None], -1), axis=0), carry)
        carry = latest[-1]
        upto = int(np.searchsorted(wanted, end))  # the wanted steps inside this block
        latest_at[order[done:upto]] = latest[wanted[done:upto] - start]
        done = upto
    return latest_at


def _feature_positions(series: SensorSeries, features: Sequence[int | str] | None) -> list[int]:
    if features is None:
        return [0]
    positions = []
    for feature in features:
        if isinstance(feature, str):
            if feature not in series.feature_names:
                raise SensorDataError(f"{series.source or 'series'}: no feature {feature!r}; features are {series.feature_names}")
            positions.append(series.feature_names.index(feature))
        elif not 0 <= int(feature) < series.num_features:
            raise SensorDataError(
                f"{series.source or 'series'}: feature position {feature} is out of range 0..{series.num_features - 1}"
            )
        else:
            positions.append(int(feature))
    return positions


def _slots_per_week(interval: pd.Timedelta) -> int:
    """``week / interval`` when the interval divides a week, else 1 (the sensor mean)."""
    slots, remainder = divmod(_WEEK, interval)
    return int(slots) if remainder == pd.Timedelta(0) else 1


def _slots_per_day(interval: pd.Timedelta) -> int:
    """``day / interval`` when the interval divides a day, else 0 (no time of day)."""
    slots, remainder = divmod(_DAY, interval)
    return int(slots) if remainder == pd.Timedelta(0) else 0


def _slot_of_week(timestamps: pd.DatetimeIndex, interval: pd.Timedelta, slots_per_week: int) -> np.ndarray:
    """Slot of each timestamp within its week, counted from Monday 00:00 in steps of ``interval``
    (all 0 for a profile of one slot)."""
    if slots_per_week == 1:
        return np.zeros(len(timestamps), dtype=np.int64)
    since_monday = pd.to_timedelta(timestamps.day_of_week, unit="D") + (timestamps - timestamps.normalize())
    return np.asarray(since_monday // interval, dtype=np.int64)


def _target_steps(series: SensorSeries, starts: Sequence[int] | np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """``[windows, horizon]`` step indices of the targets; checks that every window fits."""
    first = np.asarray(starts, dtype=np.int64).reshape(-1)
    last = series.num_steps - lookback - horizon
    outside = first[(first < 0) | (first > last)]
    if outside.size:
        raise SensorDataError(
            f"{series.source or 'series'}: {outside.size} window starts do not fit {series.num_steps} steps with "
            f"lookback {lookback} + horizon {horizon} (first: {outside[0]}; valid starts are 0..{last})"
        )
    return first[:, None] + lookback + np.arange(horizon)
