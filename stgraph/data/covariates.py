"""Calendar covariates from timestamps: time of day and day of week.

DCRNN (``scripts/generate_training_data.py``) appends the time of day as a fraction of the day
in ``[0, 1)`` to every sensor's readings (on by default) and, optionally, the day of week as a
7-way one-hot (off by default). Here the day of week is an index ``0 = Monday .. 6 = Sunday``
by default, one extra feature, or a one-hot with ``day_of_week="onehot"`` as in DCRNN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from stgraph.errors import SensorDataError

__all__ = ["COVARIATES", "add_time_covariates", "day_of_week", "time_covariates", "time_of_day"]

COVARIATES = ("time_of_day", "day_of_week", "day_of_week_onehot")


def time_of_day(timestamps: pd.DatetimeIndex) -> np.ndarray:
    """Fraction of the day elapsed, float32 ``[time]`` in ``[0, 1)``: 00:00 -> 0, 12:00 -> 0.5."""
    timestamps = pd.DatetimeIndex(timestamps)
    elapsed = (timestamps - timestamps.normalize()) / pd.Timedelta(days=1)
    return np.asarray(elapsed, dtype=np.float32)


def day_of_week(timestamps: pd.DatetimeIndex) -> np.ndarray:
    """Day of week, int64 ``[time]``: 0 = Monday .. 6 = Sunday (pandas' convention)."""
    return np.asarray(pd.DatetimeIndex(timestamps).day_of_week, dtype=np.int64)


def time_covariates(timestamps: pd.DatetimeIndex, names: Sequence[str] = ("time_of_day",)) -> np.ndarray:
    """Stack covariates per step: float32 ``[time, K]``.

    ``names`` from :data:`COVARIATES`: ``time_of_day`` (1 column, in ``[0, 1)``),
    ``day_of_week`` (1 column, the index 0..6 as a float) and ``day_of_week_onehot``
    (7 columns, Monday first). The same for every sensor; broadcast them over sensors
    rather than storing ``[time, sensors, K]``.
    """
    names = [names] if isinstance(names, str) else list(names)
    columns = []
    for name in names:
        if name == "time_of_day":
            columns.append(time_of_day(timestamps)[:, None])
        elif name == "day_of_week":
            columns.append(day_of_week(timestamps)[:, None].astype(np.float32))
        elif name == "day_of_week_onehot":
            columns.append(np.eye(7, dtype=np.float32)[day_of_week(timestamps)])
        else:
            raise SensorDataError(f"unknown covariate {name!r}; expected one of {', '.join(COVARIATES)}")
    if not columns:
        return np.zeros((len(timestamps), 0), dtype=np.float32)
    return np.concatenate(columns, axis=1)


def add_time_covariates(values: np.ndarray, timestamps: pd.DatetimeIndex, names: Sequence[str] = ("time_of_day",)) -> np.ndarray:
    """Append covariates to every sensor's features, as DCRNN's ``generate_training_data`` does.

    Shapes:
        values: ``[time, sensors, F]`` -> ``[time, sensors, F + K]`` (K = 1 per index
        covariate, 7 for ``day_of_week_onehot``).
    """
    values = np.asarray(values)
    if values.ndim != 3 or values.shape[0] != len(timestamps):
        raise SensorDataError(
            f"values must be [time, sensors, features] with time == {len(timestamps)} timestamps, got {list(values.shape)}"
        )
    extra = time_covariates(timestamps, names)
    broadcast = np.broadcast_to(extra[:, None, :], (values.shape[0], values.shape[1], extra.shape[1]))
    return np.concatenate([values.astype(np.float32, copy=False), broadcast], axis=2)
