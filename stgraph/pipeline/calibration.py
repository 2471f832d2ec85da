r"""Conformal prediction intervals calibrated on the validation split, per horizon step.

Two methods, one margin :math:`\hat q` per horizon step :math:`h` and channel (and, with
``per_sensor``, per sensor), from the validation windows' residuals:

- **split conformal** (Lei et al., JASA 2018) for a point forecast :math:`\hat y`: scores
  :math:`s = |y - \hat y|`, interval :math:`[\hat y - \hat q, \hat y + \hat q]`;
- **conformalized quantile regression** (CQR; Romano, Patterson & Candès, NeurIPS 2019) for a
  quantile forecast with levels :math:`\tau_{lo} < \tau_{hi}`: scores
  :math:`s = \max(\hat q_{\tau_{lo}} - y,\ y - \hat q_{\tau_{hi}})`, interval
  :math:`[\hat q_{\tau_{lo}} - \hat q,\ \hat q_{\tau_{hi}} + \hat q]` (a negative margin narrows
  an interval the model made too wide).

:math:`\hat q` is :func:`stgraph.metrics.conformal_quantile` of the observed scores at the
nominal coverage :math:`1 - \alpha`: the :math:`\lceil (n + 1)(1 - \alpha) \rceil`-th smallest.

**Locally weighted scores** (Lei et al., JASA 2018, section 5.2; Papadopoulos et al. 2008).
With a ``scale`` :math:`\sigma_h(\text{hour}, n) > 0`, fitted *before* calibration on other
windows (:func:`fit_scale`: the training split's mean absolute residuals by hour of day and by
sensor), the scores are :math:`s / \sigma` and the interval's half-width is
:math:`\hat q \cdot \sigma_h(\text{hour of the forecast step}, n)`: wide in rush hours and for
noisy sensors, narrow at night and for quiet ones. The guarantee below holds unchanged, since
:math:`\sigma` does not depend on the validation or test windows; what changes is *which*
windows are covered. That matters for traffic: the validation split is a few hours to a few
weeks, whose mix of hours need not be the test split's. With one width per step, a validation
part heavy in quiet hours under-covers a test part heavy in rush hours; with scores relative
to each hour's usual error, the margin carries over between such parts (measured in
``benchmarks/intervals``).

**What is guaranteed.** If the validation windows and a test window are *exchangeable* (their
joint distribution does not change when they are shuffled), a test reading at step :math:`h`
falls in its interval with probability at least :math:`1 - \alpha` (at most
:math:`1 - \alpha + 1/(n + 1)` when scores are distinct). The guarantee is *marginal*: on
average over windows (and, pooled, over sensors), not for each sensor, time of day or window.

**Where traffic breaks it.** Windows are consecutive and overlap, so their residuals are
dependent; validation precedes test in time, so drift between the months (season, road works,
a new sensor fault) changes the residuals' distribution; residuals are larger in rush hours and
incidents, so an interval of one width per step over-covers at night and under-covers at 17:00;
pooled over sensors, a noisy sensor is under-covered and a quiet one over-covered
(``per_sensor`` trades that for fewer scores per margin; the locally weighted scores above
address both without splitting the scores). The test split's empirical coverage, reported beside
the nominal, says how far this run is from the promise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from stgraph.errors import ConfigError, ShapeError
from stgraph.io.atomic import atomic_path
from stgraph.metrics.conformal import conformal_quantile
from stgraph.metrics.intervals import check_coverage, check_quantiles

__all__ = [
    "CALIBRATION_FILE",
    "HOURS",
    "SCALES",
    "Calibration",
    "calibrate",
    "fit_scale",
    "forecast_hours",
    "interval_levels",
    "load_calibration",
    "save_calibration",
]

#: the run directory's calibration, beside ``model.pt``
CALIBRATION_FILE = "calibration.npz"
#: hour-of-day buckets of a locally weighted scale
HOURS = 24
#: what a locally weighted scale follows (``training.coverage_scale``): ``none`` = one width per step
SCALES = ("none", "time_of_day", "sensor", "sensor_time_of_day")
#: the smallest scale, as a fraction of the step's average: a sensor that barely moved in
#: training still gets an interval that can cover it
SCALE_FLOOR = 0.05


@dataclass(frozen=True)
class Calibration:
    """Conformal margins, and how to turn a forecast into an interval with them.

    Attributes:
        coverage: nominal coverage :math:`1 - \\alpha`.
        margin: float64 ``[horizon, nodes, channels]`` (``nodes`` is 1 when pooled over
            sensors); :math:`+\\infty` where the validation split has too few observed scores.
        bounds: ``None`` for a point forecast (split conformal); else the positions, on the
            forecast's quantile axis, of the lower and upper levels that CQR widens.
        windows: validation windows the margins were computed from.
        per_sensor: one margin per sensor (else pooled over sensors).
        scale: float64 ``[horizon, HOURS, nodes, channels]`` (``nodes`` 1 when it does not
            follow the sensor): the locally weighted scores' :math:`\\sigma` by hour of day of
            the forecast step (:func:`fit_scale`), which multiplies ``margin``; None = one
            width per step.
        scale_kind: what ``scale`` follows, one of :data:`SCALES`.
    """

    coverage: float
    margin: np.ndarray
    bounds: tuple[int, int] | None
    windows: int
    per_sensor: bool
    scale: np.ndarray | None = None
    scale_kind: str = "none"

    @property
    def method(self) -> str:
        return "split" if self.bounds is None else "cqr"

    def interval(
        self, forecast: np.ndarray, hours: np.ndarray | None = None, *, dtype: Any = np.float64
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` around ``forecast``, in ``dtype``; ``hours`` (:func:`forecast_hours`)
        are needed when the margins follow the hour of day. Computed in float64 a block of
        windows at a time, so that memory holds the result and one block's temporaries.

        Shapes:
            forecast: ``[windows, horizon, nodes, channels]`` (point) or the same plus
            ``[quantiles]`` (CQR); hours: int ``[windows, horizon]`` -> lower, upper
            ``[windows, horizon, nodes, channels]``.
        """
        shape = np.shape(forecast) if self.bounds is None else np.shape(forecast)[:-1]
        if len(shape) != 4 or shape[1] != self.margin.shape[0] or shape[3] != self.margin.shape[2]:
            raise ShapeError(
                f"calibrated for [windows, {self.margin.shape[0]}, nodes, {self.margin.shape[2]}] forecasts; got {list(shape)}"
            )
        if self.scale is not None:
            hours = _checked_hours(hours, shape[0], self.scale.shape[0])
        lower, upper = np.empty(shape, dtype=dtype), np.empty(shape, dtype=dtype)
        for start in range(0, shape[0], _SCALE_BLOCK):
            block = slice(start, start + _SCALE_BLOCK)
            low, high = _bounds(np.asarray(forecast[block], dtype=np.float64), self.bounds)
            margin = self.margin if self.scale is None else self.margin * _scale_at(self.scale, np.asarray(hours)[block])
            lower[block], upper[block] = low - margin, high + margin
        return lower, upper


def forecast_hours(first_step: pd.DatetimeIndex | np.ndarray, horizon: int, interval: pd.Timedelta) -> np.ndarray:
    """Hour of day (0-23) of every forecast step: ``first_step[i] + h * interval``.

    Shapes:
        first_step: ``[windows]`` (the first forecast step of each window) -> int64 ``[windows, horizon]``
    """
    first = np.asarray(pd.DatetimeIndex(first_step).as_unit("ns").asi8, dtype=np.int64)  # any unit -> ns
    steps = first[:, None] + np.arange(horizon, dtype=np.int64)[None, :] * pd.Timedelta(interval).as_unit("ns").value
    hour = pd.Timedelta(hours=1).as_unit("ns").value
    return np.asarray((steps // hour) % HOURS, dtype=np.int64)


#: windows whose float64 temporaries :func:`fit_scale` and :meth:`Calibration.interval` hold at once
_SCALE_BLOCK = 256


def fit_scale(forecast: np.ndarray, target: np.ndarray, mask: np.ndarray, hours: np.ndarray, kind: str) -> np.ndarray | None:
    r"""The locally weighted scores' :math:`\sigma_h(\text{hour}, n)` from windows other than the
    calibration ones (the training split's): mean absolute residuals, relative to the step's.

    .. math::
        \sigma_h(t, n) = \max\Big(\frac{a_h(t)}{\bar e_h} \cdot \frac{b_h(n)}{\bar e_h},\ 0.05\Big)

    with :math:`\bar e_h` the mean absolute residual at step :math:`h`, :math:`a_h(t)` its
    mean over forecast steps in hour :math:`t` of the day (all sensors) and :math:`b_h(n)` over
    sensor :math:`n`'s (all hours); ``time_of_day`` keeps only the first factor, ``sensor``
    only the second. An hour or sensor without an observed residual gets the factor 1; the
    floor (:data:`SCALE_FLOOR`) keeps a sensor that never moved from a zero-width interval.

    Args:
        kind: one of :data:`SCALES`; ``none`` returns None.

    Shapes:
        forecast, target, mask: ``[windows, horizon, nodes, channels]``; hours: ``[windows, horizon]``
        -> ``[horizon, HOURS, nodes or 1, channels]``
    """
    if kind not in SCALES:
        raise ConfigError(f"training.coverage_scale must be one of {', '.join(SCALES)}; got {kind!r}")
    if kind == "none":
        return None
    windows, horizon, nodes, channels = np.shape(target)
    error_by_sensor, count_by_sensor = np.zeros((horizon, nodes, channels)), np.zeros((horizon, nodes, channels))
    error_by_hour, count_by_hour = np.zeros((horizon, HOURS, channels)), np.zeros((horizon, HOURS, channels))
    steps = np.arange(horizon)
    for start in range(0, windows, _SCALE_BLOCK):  # float64 residuals of a block of windows at a time
        block = slice(start, start + _SCALE_BLOCK)
        observed = np.asarray(mask[block], dtype=bool)
        error = np.where(observed, np.abs(np.asarray(target[block], dtype=np.float64) - forecast[block]), 0.0)
        error_by_sensor += error.sum(axis=0)
        count_by_sensor += observed.sum(axis=0)
        at = (np.broadcast_to(steps, hours[block].shape), hours[block])
        np.add.at(error_by_hour, at, error.sum(axis=2))
        np.add.at(count_by_hour, at, observed.sum(axis=2))
    average = _ratio(error_by_sensor.sum(axis=1), count_by_sensor.sum(axis=1), 1.0)  # [horizon, channels]
    factor = np.ones((horizon, HOURS, 1, channels))
    if kind in ("time_of_day", "sensor_time_of_day"):
        factor = factor * (_ratio(error_by_hour, count_by_hour * average[:, None, :], 1.0))[:, :, None, :]
    if kind in ("sensor", "sensor_time_of_day"):
        by_sensor = _ratio(error_by_sensor, count_by_sensor * average[:, None, :], 1.0)  # [horizon, nodes, channels]
        factor = factor * by_sensor[:, None, :, :]
    return np.maximum(factor, SCALE_FLOOR)


def interval_levels(coverage: float) -> tuple[float, float]:
    """The central interval's quantile levels ``((1 - c) / 2, (1 + c) / 2)``: 0.05 and 0.95 for 0.9."""
    nominal = check_coverage(coverage)
    return (1 - nominal) / 2, (1 + nominal) / 2


def calibrate(
    forecast: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray,
    coverage: float,
    *,
    quantiles: tuple[float, ...] | None = None,
    per_sensor: bool = False,
    scale: np.ndarray | None = None,
    scale_kind: str = "none",
    hours: np.ndarray | None = None,
) -> Calibration:
    """Margins from validation forecasts: split conformal for a point forecast, CQR for quantiles.

    With ``quantiles``, CQR widens the levels nearest :func:`interval_levels` (0.05 and 0.95 for
    coverage 0.9); the model needs a level below the median and one above. With ``scale``
    (:func:`fit_scale`, of kind ``scale_kind``) the scores are divided by it at each window's
    ``hours`` (:func:`forecast_hours`): locally weighted scores.

    Shapes:
        forecast: ``[windows, horizon, nodes, channels]``, or that plus ``[quantiles]``;
        target, mask: ``[windows, horizon, nodes, channels]``; scale: ``[horizon, HOURS, nodes
        or 1, channels]``; hours: ``[windows, horizon]``.
    """
    nominal = check_coverage(coverage)
    bounds = None if quantiles is None else _nearest_levels(check_quantiles(quantiles), nominal)
    shape = np.shape(target)
    bounded = np.shape(forecast) if bounds is None else np.shape(forecast)[:-1]
    if bounded != shape or np.shape(mask) != shape or len(shape) != 4:
        raise ShapeError(
            f"forecast, target and mask must share one [windows, horizon, nodes, channels] shape; got "
            f"{list(bounded)}, {list(shape)}, {list(np.shape(mask))}"
        )
    if scale is not None:
        hours = _checked_hours(hours, shape[0], scale.shape[0])
    margins = []
    for h in range(shape[1]):  # one horizon step's scores at a time, in float64
        low, high = _bounds(np.asarray(forecast[:, h], dtype=np.float64), bounds)
        y = np.asarray(target[:, h], dtype=np.float64)
        scores = np.where(mask[:, h], np.maximum(low - y, y - high), np.nan)  # |y - y_hat| when low == high
        if scale is not None:
            scores = scores / scale[h][np.asarray(hours)[:, h]]  # [windows, nodes or 1, channels]
        if not per_sensor:  # [windows * nodes, 1, channels]: the sensors' scores pooled
            scores = scores.reshape(-1, 1, shape[3])
        margins.append(np.asarray(conformal_quantile(scores, nominal, axis=0), dtype=np.float64))
    margin = np.stack(margins)  # [horizon, nodes or 1, channels]
    return Calibration(
        coverage=nominal,
        margin=margin,
        bounds=bounds,
        windows=int(shape[0]),
        per_sensor=per_sensor,
        scale=scale,
        scale_kind=scale_kind if scale is not None else "none",
    )


def save_calibration(path: str | os.PathLike[str], calibration: Calibration) -> None:
    """Write ``calibration`` as ``.npz`` (plain arrays: loads with ``allow_pickle=False``), atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            coverage=np.float64(calibration.coverage),
            margin=calibration.margin,
            bounds=np.asarray(calibration.bounds if calibration.bounds is not None else (-1, -1), dtype=np.int64),
            windows=np.int64(calibration.windows),
            per_sensor=np.bool_(calibration.per_sensor),
            scale=calibration.scale if calibration.scale is not None else np.zeros((0,)),
            scale_kind=np.str_(calibration.scale_kind),
        )


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read a file written by :func:`save_calibration` (one from before locally weighted scores: no scale)."""
    with np.load(path, allow_pickle=False) as data:
        low, high = (int(b) for b in data["bounds"])
        scale = data["scale"] if "scale" in data.files and data["scale"].size else None
        return Calibration(
            coverage=float(data["coverage"]),
            margin=data["margin"],
            bounds=None if (low, high) == (-1, -1) else (low, high),
            windows=int(data["windows"]),
            per_sensor=bool(data["per_sensor"]),
            scale=scale,
            scale_kind=str(data["scale_kind"]) if scale is not None else "none",
        )


def _checked_hours(hours: np.ndarray | None, windows: int, horizon: int) -> np.ndarray:
    """``hours`` as an array, checked to be ``[windows, horizon]``."""
    if hours is None:
        raise ShapeError("these margins follow the hour of day: pass the forecast steps' hours (forecast_hours)")
    hours = np.asarray(hours)
    if hours.shape != (windows, horizon):
        raise ShapeError(f"hours must be [windows, horizon] = [{windows}, {horizon}]; got {list(hours.shape)}")
    return hours


def _scale_at(scale: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """``scale`` at each window's forecast hours (checked): ``[windows, horizon, nodes or 1, channels]``."""
    return np.asarray(scale[np.arange(scale.shape[0])[None, :], hours])


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    """``numerator / denominator``, ``empty`` where the denominator is 0."""
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), empty)


def _bounds(forecast: np.ndarray, bounds: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """The interval's two ends before calibration: the point forecast twice, or two of its quantiles."""
    if bounds is None:
        return forecast, forecast
    return forecast[..., bounds[0]], forecast[..., bounds[1]]


def _nearest_levels(quantiles: tuple[float, ...], coverage: float) -> tuple[int, int]:
    """Positions of the levels nearest ``(1 - c) / 2`` below the median and ``(1 + c) / 2`` above it."""
    below = [i for i, level in enumerate(quantiles) if level < 0.5]
    above = [i for i, level in enumerate(quantiles) if level > 0.5]
    if not below or not above:
        raise ConfigError(
            f"model.quantiles {list(quantiles)} cannot bound an interval: CQR needs a level below 0.5 and one above"
        )
    low, high = interval_levels(coverage)
    return min(below, key=lambda i: abs(quantiles[i] - low)), min(above, key=lambda i: abs(quantiles[i] - high))
