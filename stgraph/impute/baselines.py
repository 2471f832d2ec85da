r"""Imputation baselines: fill the missing readings of a ``[time, sensors]`` table.

Each function takes the readings ``values`` and the bool ``mask`` (``True`` = observed) of one
feature and returns float64 ``[time, sensors]`` in which observed cells keep their value and
every missing cell holds an estimate. What a cell holds where it is missing is ignored.

These are the baselines of the imputation literature (GRIN, Cini et al., ICLR 2022, Table 1;
SPIN, Marisca et al., NeurIPS 2022): last observation carried forward, linear interpolation in
time, the historical average, and the mean of the graph neighbours.

Every sensor needs at least one observed reading: without one there is nothing to carry,
interpolate or average, and the error names the sensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from stgraph.baselines import HistoricalAverage
from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError

__all__ = ["historical_average", "linear_in_time", "locf", "neighbour_mean"]


def _checked(values: np.ndarray, mask: np.ndarray, sensor_ids: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as float64 and ``mask`` as bool, both ``[time, sensors]``; refuses sensors never observed."""
    values, mask = np.asarray(values, dtype=np.float64), np.asarray(mask)
    if values.ndim != 2 or mask.shape != values.shape or mask.dtype != np.bool_:
        raise SensorDataError(
            f"imputation expects values [time, sensors] and a bool mask of the same shape; got "
            f"{list(values.shape)} and {mask.dtype} {list(mask.shape)}"
        )
    never = np.flatnonzero(~mask.any(axis=0))
    if never.size:
        names = [sensor_ids[i] if sensor_ids is not None else f"index {i}" for i in never[:10]]
        raise SensorDataError(
            f"{never.size} sensor(s) have no observed reading to impute from: sensor {', '.join(map(str, names))}"
        )
    return values, mask


def _latest_observed(mask: np.ndarray) -> np.ndarray:
    """``[time, sensors]`` step of the latest observed reading at or before each step, -1 before the first."""
    steps = np.arange(mask.shape[0])[:, None]
    latest: np.ndarray = np.maximum.accumulate(np.where(mask, steps, -1), axis=0)
    return latest


def _next_observed(mask: np.ndarray) -> np.ndarray:
    """``[time, sensors]`` step of the next observed reading at or after each step, ``time`` after the last."""
    flipped = _latest_observed(mask[::-1])[::-1]
    following: np.ndarray = np.where(flipped >= 0, mask.shape[0] - 1 - flipped, mask.shape[0])
    return following


def locf(values: np.ndarray, mask: np.ndarray, *, sensor_ids: Sequence[str] | None = None) -> np.ndarray:
    r"""Last observation carried forward, per sensor.

    .. math::
        \hat x_{t,n} = x_{t',n}, \quad t' = \max\{s \le t : m_{s,n}\}

    Before a sensor's first observed reading there is nothing to carry forward; those steps
    take the first observed reading (next observation carried backward), as pandas'
    ``ffill().bfill()``.

    Shapes:
        values, mask: ``[time, sensors]`` -> float64 ``[time, sensors]``
    """
    values, mask = _checked(values, mask, sensor_ids)
    source = _latest_observed(mask)
    source = np.where(source >= 0, source, _next_observed(mask))
    filled: np.ndarray = np.take_along_axis(values, source, axis=0)
    return filled


def linear_in_time(values: np.ndarray, mask: np.ndarray, *, sensor_ids: Sequence[str] | None = None) -> np.ndarray:
    r"""Linear interpolation in time between a sensor's observed readings.

    Between the observed readings at steps :math:`a < t < b` of sensor :math:`n`,

    .. math::
        \hat x_{t,n} = x_{a,n} + \frac{t - a}{b - a}\,(x_{b,n} - x_{a,n})

    Before the first and after the last observed reading the nearest one is held (constant
    extension: a line through one point has no slope to extend).

    Shapes:
        values, mask: ``[time, sensors]`` -> float64 ``[time, sensors]``
    """
    values, mask = _checked(values, mask, sensor_ids)
    before, after = _latest_observed(mask), _next_observed(mask)
    before = np.where(before >= 0, before, after)  # leading gap: hold the first reading
    after = np.where(after < mask.shape[0], after, before)  # trailing gap: hold the last reading
    left = np.take_along_axis(values, before, axis=0)
    right = np.take_along_axis(values, after, axis=0)
    steps = np.arange(mask.shape[0], dtype=np.float64)[:, None]
    span = (after - before).astype(np.float64)
    weight = np.divide(steps - before, span, out=np.zeros_like(span), where=span > 0)
    filled: np.ndarray = np.where(mask, values, left + weight * (right - left))
    return filled


def historical_average(
    values: np.ndarray,
    mask: np.ndarray,
    timestamps: pd.DatetimeIndex,
    *,
    interval: pd.Timedelta | None = None,
    sensor_ids: Sequence[str] | None = None,
) -> np.ndarray:
    r"""The sensor's mean observed reading at the same time of week, as
    :class:`stgraph.baselines.HistoricalAverage` defines it (fitted on all observed readings).

    .. math::
        \hat x_{t,n} = \frac{1}{|T_{k(t)}|}\sum_{s \in T_{k(t)}} x_{s,n}

    over the observed readings :math:`T_k` of sensor :math:`n` in the time-of-week slot
    :math:`k`; a slot without one falls back to the same time of day, then to the sensor's
    mean (the forecasting baseline's fallbacks).

    Shapes:
        values, mask: ``[time, sensors]``, timestamps: ``[time]`` -> float64 ``[time, sensors]``
    """
    values, mask = _checked(values, mask, sensor_ids)
    ids = list(sensor_ids) if sensor_ids is not None else [str(i) for i in range(values.shape[1])]
    series = SensorSeries(values[..., None], mask[..., None], timestamps, ids, ["value"], interval=interval)
    # the whole series as one window without inputs: every step is a forecast target
    profile = HistoricalAverage().fit(series).predict(series, [0], lookback=0, horizon=series.num_steps)
    filled: np.ndarray = np.where(mask, values, profile[0, :, :, 0].astype(np.float64))
    return filled


def neighbour_mean(
    values: np.ndarray,
    mask: np.ndarray,
    adjacency: sp.spmatrix | np.ndarray,
    *,
    sensor_ids: Sequence[str] | None = None,
) -> np.ndarray:
    r"""The weighted mean of the observed graph neighbours at the same step.

    With adjacency weights :math:`a_{nm}` (row :math:`n`, self-loops ignored),

    .. math::
        \hat x_{t,n} = \frac{\sum_{m \ne n} a_{nm}\, m_{t,m}\, x_{t,m}}{\sum_{m \ne n} a_{nm}\, m_{t,m}}

    Where no neighbour of :math:`n` is observed at step :math:`t` (an isolated sensor, or all
    its neighbours missing at once) the denominator is 0 and the cell falls back to
    :func:`linear_in_time`.

    Shapes:
        values, mask: ``[time, sensors]``, adjacency: ``[sensors, sensors]`` -> float64 ``[time, sensors]``
    """
    values, mask = _checked(values, mask, sensor_ids)
    weights = sp.csr_matrix(adjacency, dtype=np.float64)
    if weights.shape != (values.shape[1], values.shape[1]):
        raise SensorDataError(
            f"adjacency is {list(weights.shape)} but the readings have {values.shape[1]} sensors; "
            f"expected [{values.shape[1]}, {values.shape[1]}]"
        )
    weights.setdiag(0.0)
    observed = mask.astype(np.float64)
    total = np.asarray(weights @ (observed * np.where(mask, values, 0.0)).T).T  # [time, sensors]
    weight = np.asarray(weights @ observed.T).T
    mean = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
    fallback = linear_in_time(values, mask, sensor_ids=sensor_ids)
    filled: np.ndarray = np.where(mask, values, np.where(weight > 0, mean, fallback))
    return filled
