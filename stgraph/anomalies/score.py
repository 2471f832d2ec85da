"""Run every check on a readings series and gather the flagged readings into one table.

A reading flagged by several checks is reported once, under the most specific kind, in this
order: ``out_of_range`` (outside the physical limits), ``zero`` (a zero where the sensor is
almost never zero at that time of day), ``stuck`` (the same value for ``stuck_minutes`` or
more), ``spike`` (a reading far from both its one-step forecast and the next reading, beyond
the sensor's conformal threshold: a spike or a one-reading drop).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from stgraph.anomalies import detectors
from stgraph.anomalies.reference import Reference, one_step_forecasts, slots_per_day
from stgraph.anomalies.settings import AnomalySettings
from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError

__all__ = ["COLUMNS", "KINDS", "anomaly_table", "detect", "strongest"]

#: the kinds, most specific first: a reading is reported under the first that flags it
KINDS = ("out_of_range", "zero", "stuck", "spike")
#: the columns of the table written by ``stgraph anomalies``
COLUMNS = ("sensor", "timestamp", "kind", "score")


def detect(
    series: SensorSeries,
    reference: Reference,
    settings: AnomalySettings,
    *,
    forecast: np.ndarray | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each check's ``(flags, score)`` on ``reference.target`` of ``series`` (the run's sensors, in its order).

    ``forecast``: the one-step forecasts (:func:`one_step_forecasts`), computed when omitted
    (``progress(done, total)`` after each chunk of steps).

    Shapes:
        -> ``{kind: (flags bool [time, nodes], score float64 [time, nodes])}`` for every kind in :data:`KINDS`
    """
    (f,) = series.feature_index([reference.target])
    values, observed = series.values[..., f], series.mask[..., f]
    if forecast is None:
        forecast = one_step_forecasts(reference.run, series, batch_size=batch_size, device=device, progress=progress)
    slots = detectors.time_of_day_slots(series.timestamps, series.interval)
    if reference.zero_share.shape[0] != slots_per_day(series.interval):
        raise SensorDataError(f"{series.source}: readings every {series.interval}, but the zero shares are for another interval")
    return {
        "out_of_range": detectors.out_of_range(values, observed, minimum=settings.minimum, maximum=settings.maximum),
        "zero": detectors.zeros(values, observed, slots, reference.zero_share, max_rate=settings.zero_rate),
        "stuck": detectors.stuck(values, observed, min_steps=settings.stuck_steps(series.interval)),
        "spike": detectors.spike(values, observed, forecast, reference.threshold),
    }


def strongest(checks: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per reading, the most specific kind that flags it (its position in :data:`KINDS`, -1: none) and that check's score.

    Shapes:
        checks: ``{kind: ([time, nodes], [time, nodes])}`` -> kind int64 ``[time, nodes]``, score ``[time, nodes]``
    """
    shape = checks[KINDS[0]][0].shape
    kind = np.full(shape, -1, dtype=np.int64)
    score = np.zeros(shape)
    for position in reversed(range(len(KINDS))):  # the most specific kind is written last, so it wins
        flags, scores = checks[KINDS[position]]
        kind = np.where(flags, position, kind)
        score = np.where(flags, scores, score)
    return kind, score


def anomaly_table(series: SensorSeries, checks: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The flagged readings, one row each under its most specific kind, in time then sensor order.

    Returns:
        a frame with :data:`COLUMNS`: sensor id, timestamp, kind, that check's score (>= 1).
    """
    kind, score = strongest(checks)
    steps, sensors = np.nonzero(kind >= 0)
    return pd.DataFrame(
        {
            "sensor": np.asarray(series.sensor_ids, dtype=object)[sensors],
            "timestamp": series.timestamps[steps],
            "kind": np.asarray(KINDS, dtype=object)[kind[steps, sensors]],
            "score": score[steps, sensors],
        },
        columns=list(COLUMNS),
    )
