r"""Faulty-sensor checks as pure functions over ``[time, sensors]`` arrays.

Each detector takes the readings of one feature, ``values [time, sensors]``, with ``observed``
(bool, same shape, ``True`` = a real reading; missing readings are never flagged) and returns
``(flags, score)``: ``flags`` bool ``[time, sensors]``, ``score`` float64 ``[time, sensors]``,
where ``score >= 1`` exactly where ``flags`` is set (how far past the detector's own limit the
reading is) and 0 elsewhere.

- :func:`stuck`: a run of identical readings lasting ``min_steps`` or more,
  score = run length / ``min_steps``.
- :func:`zeros`: a zero where that sensor's historical zero share at that time-of-day slot is
  at most ``max_rate`` (it is almost never zero then), score :math:`1 + \log_{10}(\text{max\_rate} / \max(r, 10^{-6}))`
  (1 at ``r == max_rate``, growing as the slot's zero share ``r`` falls).
- :func:`out_of_range`: readings below ``minimum`` or above ``maximum``, score
  :math:`1 + |y - \text{bound}| / \max(|\text{bound}|, 1)`.
- :func:`spike`: :math:`d / q_n`, the reading's departure from its one-step-ahead forecast
  and from the next reading (:func:`departure`) over sensor :math:`n`'s split-conformal
  threshold :math:`q_n`, flagged where above 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["departure", "out_of_range", "spike", "stuck", "time_of_day_slots", "zero_share", "zeros"]

Flags = tuple[np.ndarray, np.ndarray]


def _check(values: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, observed = np.asarray(values, dtype=np.float64), np.asarray(observed, dtype=bool)
    if values.ndim != 2 or observed.shape != values.shape:
        raise ValueError(
            f"detectors expect values and observed as [time, sensors] of one shape, got {list(values.shape)} "
            f"and {list(observed.shape)}"
        )
    return values, observed


def stuck(values: np.ndarray, observed: np.ndarray, *, min_steps: int) -> Flags:
    """Flag every reading of a run of ``min_steps`` or more identical consecutive observed readings.

    A missing reading ends a run. Score: the run's length over ``min_steps`` (>= 1 where flagged).

    Shapes:
        values, observed: ``[time, sensors]`` -> flags, score ``[time, sensors]``
    """
    if min_steps < 2:
        raise ValueError(f"stuck: min_steps must be at least 2, got {min_steps}")
    values, observed = _check(values, observed)
    # a run starts where the reading differs from the previous one or follows a missing one;
    # step 0 of every sensor starts one, so run ids counted down the columns never span two sensors
    same = np.zeros(values.shape, dtype=bool)
    same[1:] = (values[1:] == values[:-1]) & observed[1:] & observed[:-1]
    run_id = np.cumsum(~same.T.ravel())  # sensor-major: [sensors * time]
    length = np.bincount(run_id)[run_id].reshape(values.shape[1], values.shape[0]).T
    flags = observed & (length >= min_steps)
    return flags, np.where(flags, length / min_steps, 0.0)


def time_of_day_slots(timestamps: pd.DatetimeIndex, interval: pd.Timedelta) -> np.ndarray:
    """The time-of-day slot of each step: (wall-clock time since midnight) // interval, in ``[0, day / interval)``.

    Time-zone-aware timestamps count from their own local midnight.

    Shapes:
        timestamps: ``[time]`` -> ``[time]`` int64
    """
    since_midnight = pd.DatetimeIndex(timestamps) - pd.DatetimeIndex(timestamps).normalize()
    return np.asarray(since_midnight // pd.Timedelta(interval), dtype=np.int64)


def zero_share(values: np.ndarray, observed: np.ndarray, slots: np.ndarray, num_slots: int) -> np.ndarray:
    r"""Each sensor's share of zero readings per time-of-day slot: :math:`r_{s,n} = \#\{t: slot_t = s, y_{t,n} = 0\} / \#\{t: slot_t = s\}`.

    A missing reading counts as a zero: where a file's null value is 0 (METR-LA), a zero is
    stored as missing, and a slot where a sensor is often missing should not raise zero alarms.
    A slot with no steps gets share 1 (no history: never flagged).

    Shapes:
        values, observed: ``[time, sensors]``, slots: ``[time]`` -> ``[num_slots, sensors]``
    """
    values, observed = _check(values, observed)
    zero = (values == 0) | ~observed
    totals = np.bincount(slots, minlength=num_slots).astype(np.float64)
    counts = np.zeros((num_slots, values.shape[1]))
    np.add.at(counts, slots, zero)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / totals[:, None]
    return np.where(totals[:, None] > 0, share, 1.0)


def zeros(values: np.ndarray, observed: np.ndarray, slots: np.ndarray, share: np.ndarray, *, max_rate: float) -> Flags:
    """Flag observed zeros at slots where the sensor's historical zero share is at most ``max_rate``.

    Args:
        values, observed: the readings to check.
        slots: each step's time-of-day slot (:func:`time_of_day_slots`).
        share: historical zero share per slot and sensor (:func:`zero_share`).
        max_rate: the largest share that still counts as "never zero at that time of day".

    Shapes:
        values, observed: ``[time, sensors]``; slots ``[time]``; share ``[slots, sensors]`` -> ``[time, sensors]``
    """
    if not 0.0 < max_rate < 1.0:
        raise ValueError(f"zeros: max_rate must be in (0, 1), got {max_rate}")
    values, observed = _check(values, observed)
    rate = share[slots]  # [time, sensors]
    flags = observed & (values == 0) & (rate <= max_rate)
    score = 1.0 + np.log10(max_rate / np.maximum(rate, 1e-6))
    return flags, np.where(flags, score, 0.0)


def out_of_range(values: np.ndarray, observed: np.ndarray, *, minimum: float | None, maximum: float | None) -> Flags:
    """Flag observed readings below ``minimum`` or above ``maximum`` (None: no bound).

    Shapes:
        values, observed: ``[time, sensors]`` -> flags, score ``[time, sensors]``
    """
    values, observed = _check(values, observed)
    score = np.zeros(values.shape)
    if minimum is not None:
        below = observed & (values < minimum)
        score = np.where(below, 1.0 + (minimum - values) / max(abs(minimum), 1.0), score)
    if maximum is not None:
        above = observed & (values > maximum)
        score = np.where(above, 1.0 + (values - maximum) / max(abs(maximum), 1.0), score)
    return score > 0, score


def departure(values: np.ndarray, observed: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    r"""How far each reading departs, and comes back: the transient part of the forecast residual.

    .. math::
        d_{t,n} = \begin{cases} \min(|y_{t,n} - \hat y_{t,n}|,\ |y_{t,n} - y_{t+1,n}|) &
            \text{if } y_{t,n} - \hat y_{t,n} \text{ and } y_{t,n} - y_{t+1,n} \text{ have one sign} \\
            0 & \text{otherwise} \end{cases}

    A spike leaves the forecast and the next reading on the same side, so :math:`d` is its
    height; a level change (a congestion onset, the end of a fault) is followed by a reading near
    the new level, so :math:`d` is small; the model's error alone, with the next reading
    following the reading, is not a departure either. NaN where the reading, its forecast or the
    next reading is missing (the last step, the first ``lookback`` steps).

    Shapes:
        values, observed, forecast: ``[time, sensors]`` -> ``[time, sensors]`` float64
    """
    values, observed = _check(values, observed)
    ahead = np.asarray(forecast, dtype=np.float64) - values  # -(y_t - ŷ_t)
    following = np.full(values.shape, np.nan)
    following[:-1] = np.where(observed[1:], values[1:], np.nan)
    onward = following - values  # -(y_t - y_{t+1})
    height = np.where(np.sign(ahead) == np.sign(onward), np.minimum(np.abs(ahead), np.abs(onward)), 0.0)
    return np.where(observed & np.isfinite(ahead) & np.isfinite(onward), height, np.nan)


def spike(values: np.ndarray, observed: np.ndarray, forecast: np.ndarray, threshold: np.ndarray) -> Flags:
    r"""Flag readings whose departure (:func:`departure`) exceeds the sensor's conformal threshold.

    .. math::
        s_{t,n} = d_{t,n} \,/\, q_n, \qquad \text{flag} \iff s_{t,n} > 1

    with :math:`q_n` the split-conformal quantile of sensor :math:`n`'s departures on held-out
    healthy readings (:func:`stgraph.anomalies.reference.load_reference`). Readings without a
    departure (NaN) are never flagged.

    Shapes:
        values, observed, forecast: ``[time, sensors]``; threshold ``[sensors]`` -> ``[time, sensors]``
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        score = departure(values, observed, forecast) / np.asarray(threshold, dtype=np.float64)[None, :]
    flags = np.isfinite(score) & (score > 1.0)
    return flags, np.where(flags, score, 0.0)
