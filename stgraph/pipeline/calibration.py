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
(``per_sensor`` trades that for fewer scores per margin). The test split's empirical coverage,
reported beside the nominal, says how far this run is from the promise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from stgraph.errors import ConfigError, ShapeError
from stgraph.io.atomic import atomic_path
from stgraph.metrics.conformal import conformal_quantile
from stgraph.metrics.intervals import check_coverage, check_quantiles

__all__ = ["CALIBRATION_FILE", "Calibration", "calibrate", "interval_levels", "load_calibration", "save_calibration"]

#: the run directory's calibration, beside ``model.pt``
CALIBRATION_FILE = "calibration.npz"


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
    """

    coverage: float
    margin: np.ndarray
    bounds: tuple[int, int] | None
    windows: int
    per_sensor: bool

    @property
    def method(self) -> str:
        return "split" if self.bounds is None else "cqr"

    def interval(self, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` around ``forecast``.

        Shapes:
            forecast: ``[windows, horizon, nodes, channels]`` (point) or the same plus
            ``[quantiles]`` (CQR) -> lower, upper ``[windows, horizon, nodes, channels]``.
        """
        low, high = _bounds(np.asarray(forecast, dtype=np.float64), self.bounds)
        if low.ndim != 4 or low.shape[1] != self.margin.shape[0] or low.shape[3] != self.margin.shape[2]:
            raise ShapeError(
                f"calibrated for [windows, {self.margin.shape[0]}, nodes, {self.margin.shape[2]}] forecasts; got {list(low.shape)}"
            )
        return low - self.margin, high + self.margin


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
) -> Calibration:
    """Margins from validation forecasts: split conformal for a point forecast, CQR for quantiles.

    With ``quantiles``, CQR widens the levels nearest :func:`interval_levels` (0.05 and 0.95 for
    coverage 0.9); the model needs a level below the median and one above.

    Shapes:
        forecast: ``[windows, horizon, nodes, channels]``, or that plus ``[quantiles]``;
        target, mask: ``[windows, horizon, nodes, channels]``.
    """
    nominal = check_coverage(coverage)
    bounds = None if quantiles is None else _nearest_levels(check_quantiles(quantiles), nominal)
    low, high = _bounds(np.asarray(forecast, dtype=np.float64), bounds)
    target = np.asarray(target, dtype=np.float64)
    if low.shape != target.shape or np.shape(mask) != target.shape or target.ndim != 4:
        raise ShapeError(
            f"forecast, target and mask must share one [windows, horizon, nodes, channels] shape; got "
            f"{list(low.shape)}, {list(target.shape)}, {list(np.shape(mask))}"
        )
    scores = np.where(mask, np.maximum(low - target, target - high), np.nan)  # |y - y_hat| when low == high
    if not per_sensor:  # [windows * nodes, horizon, 1, channels]: the sensors' scores pooled
        scores = scores.transpose(0, 2, 1, 3).reshape(-1, scores.shape[1], 1, scores.shape[3])
    margin = np.asarray(conformal_quantile(scores, nominal, axis=0), dtype=np.float64)
    return Calibration(coverage=nominal, margin=margin, bounds=bounds, windows=int(target.shape[0]), per_sensor=per_sensor)


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
        )


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read a file written by :func:`save_calibration`."""
    with np.load(path, allow_pickle=False) as data:
        low, high = (int(b) for b in data["bounds"])
        return Calibration(
            coverage=float(data["coverage"]),
            margin=data["margin"],
            bounds=None if (low, high) == (-1, -1) else (low, high),
            windows=int(data["windows"]),
            per_sensor=bool(data["per_sensor"]),
        )


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
