"""Aggregate a series to a coarser interval: the mean of the readings observed in each bucket.

LargeST's benchmark forecasts 15-minute flow made from the 5-minute release by
``ca_his.resample('15T').mean().round(0)`` and then ``fillna(0)`` (data/ca/process_ca_his.ipynb
in github.com/liuxu77/LargeST), with every 0 masked by the metrics. :func:`aggregate` computes
the same buckets: pandas' ``resample`` bins (left-closed, labelled by their start, anchored at
midnight of the first day), the mean of the observed readings in each (a bucket with two of three
readings observed is the mean of those two), optional rounding, and a bucket with no observed
reading is masked instead of filled.

Example:
    >>> import numpy as np, pandas as pd
    >>> from stgraph.data import SensorSeries
    >>> series = SensorSeries(np.arange(6.0).reshape(6, 1, 1), None,
    ...                       pd.date_range("2019-01-01", periods=6, freq="5min"), ["s"], ["flow"])
    >>> aggregate(series, "15min").values[:, 0, 0].tolist()
    [1.0, 4.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError

__all__ = ["aggregate"]

#: buckets aggregated per pass: bounds the temporary arrays to a few times the output
_CHUNK_BUCKETS = 2048


def aggregate(
    series: SensorSeries,
    interval: Any,
    *,
    decimals: int | None = None,
    null_value: float | None = None,
) -> SensorSeries:
    r"""``series`` at ``interval``: per sensor, feature and bucket :math:`b`,

    .. math:: \bar{x}_b = \frac{\sum_{t \in b} m_t x_t}{\sum_{t \in b} m_t}

    where :math:`m_t` is the mask (True = observed); a bucket with :math:`\sum m_t = 0` is masked.

    Args:
        series: readings whose interval divides ``interval``.
        interval: the new interval (``"15min"``); equal to the series' own returns it unchanged.
        decimals: round the means to this many decimals (LargeST rounds to whole vehicles: 0).
        null_value: after rounding, mask buckets whose mean equals it (LargeST's metrics mask 0).

    Returns:
        A series of ``ceil`` buckets covering every step, each stamped with its start; partial
        buckets at either end are kept (the mean of what they hold), as pandas' ``resample`` does.

    Raises:
        SensorDataError: ``interval`` is not a whole multiple of the series' interval.
    """
    target = pd.Timedelta(interval)
    if target == series.interval and decimals is None and null_value is None:
        return series
    ratio, rest = divmod(target.value, series.interval.value)
    if ratio < 1 or rest:
        raise SensorDataError(
            f"{series.source or 'readings'}: cannot aggregate readings every {series.interval} to {target}: "
            "the new interval must be a whole multiple of the old"
        )
    start = series.timestamps[0]
    origin = start.normalize()  # pandas' default origin "start_day"
    first = (start - origin) // target
    lead = int(((start - origin) - first * target) // series.interval)  # steps of the first bucket before the data
    buckets = -(-(lead + series.num_steps) // ratio)
    timestamps = pd.date_range(origin + first * target, periods=buckets, freq=target)
    _, sensors, features = series.values.shape
    values = np.zeros((buckets, sensors, features), dtype=np.float32)
    observed = np.zeros((buckets, sensors, features), dtype=bool)
    for chunk in range(0, buckets, _CHUNK_BUCKETS):
        stop = min(chunk + _CHUNK_BUCKETS, buckets)
        # steps of buckets [chunk, stop) in padded coordinates (lead masked steps before step 0)
        low, high = chunk * ratio - lead, stop * ratio - lead
        take = slice(max(low, 0), min(high, series.num_steps))
        pad = (max(low, 0) - low, high - min(high, series.num_steps))
        x = np.pad(series.values[take], (pad, (0, 0), (0, 0))).astype(np.float64)
        m = np.pad(series.mask[take], (pad, (0, 0), (0, 0)))
        x = x.reshape(stop - chunk, ratio, sensors, features)
        m = m.reshape(stop - chunk, ratio, sensors, features)
        count = m.sum(axis=1)
        total = np.where(m, x, 0.0).sum(axis=1)
        mean = total / np.maximum(count, 1)
        if decimals is not None:
            mean = np.round(mean, decimals)
        seen = count > 0
        if null_value is not None:
            seen &= mean != null_value
        values[chunk:stop] = np.where(seen, mean, 0.0)
        observed[chunk:stop] = seen
    return SensorSeries(
        values, observed, timestamps, series.sensor_ids, series.feature_names, interval=target, source=series.source
    )
