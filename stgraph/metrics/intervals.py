r"""Masked metrics of probabilistic forecasts: pinball loss, coverage, width, Winkler score, CRPS.

Forecasts are either a set of quantiles :math:`\hat q_{\tau_1} \le \dots \le \hat q_{\tau_Q}`
(on the last axis, levels :math:`0 < \tau_1 < \dots < \tau_Q < 1`) or an interval
:math:`[l, u]` of nominal coverage :math:`1 - \alpha`. As for the point metrics
(:mod:`stgraph.metrics.masked`), every score is a mean over the observed target entries
:math:`\Omega` only (``null_value`` / ``mask`` as :func:`~stgraph.metrics.masked.observed_mask`):

.. math::
    \rho_\tau(u) = \max(\tau u, (\tau - 1) u), \qquad
    \mathrm{pinball} = \frac{1}{|\Omega|\,Q} \sum_{i \in \Omega} \sum_{q=1}^{Q} \rho_{\tau_q}(y_i - \hat q_{\tau_q, i})

.. math::
    \mathrm{coverage} = \frac{1}{|\Omega|}\sum_{i \in \Omega} \mathbb{1}[l_i \le y_i \le u_i], \quad
    \mathrm{width} = \frac{1}{|\Omega|}\sum_{i \in \Omega} (u_i - l_i)

.. math::
    \mathrm{Winkler} = \frac{1}{|\Omega|}\sum_{i \in \Omega} (u_i - l_i)
        + \frac{2}{\alpha}(l_i - y_i)\,\mathbb{1}[y_i < l_i] + \frac{2}{\alpha}(y_i - u_i)\,\mathbb{1}[y_i > u_i]

(Winkler 1972; Gneiting & Raftery, JASA 2007, eq. 43). The Winkler score is a scaled sum of
two pinball losses, :math:`\tfrac{\alpha}{2}\mathrm{Winkler} = \rho_{\alpha/2}(y - l) + \rho_{1-\alpha/2}(y - u)`.

CRPS from quantiles: :math:`\mathrm{CRPS}(F, y) = 2\int_0^1 \rho_\tau(y - F^{-1}(\tau))\,d\tau`
(Laio & Tamea 2007), approximated by the mean over the forecast's quantiles,

.. math::
    \mathrm{CRPS} \approx \frac{2}{Q}\sum_{q=1}^{Q} \rho_{\tau_q}(y - \hat q_{\tau_q}) = 2\,\mathrm{pinball},

the quantile score of Bracher et al. (PLOS Comp. Biol. 2021). It converges to the CRPS when the
levels fill (0, 1) evenly (:math:`\tau_q = q / (Q + 1)`, :math:`Q \to \infty`); with a few levels
(0.05, 0.5, 0.95) it is a coarse, comparable-between-models stand-in, not the exact CRPS. For a
point forecast (one level, 0.5) it is the MAE.

Per horizon step (:func:`interval_metrics`) the scores pool every other axis, and
:meth:`IntervalMetrics.average` is the mean of the per-step values, as
:meth:`~stgraph.metrics.masked.HorizonMetrics.average`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
import torch

from stgraph.errors import ShapeError
from stgraph.metrics.masked import ArrayLike, observed_mask
from stgraph.nn.quantile_head import check_quantiles

__all__ = [
    "INTERVAL_METRICS",
    "IntervalMetrics",
    "check_coverage",
    "check_quantiles",
    "interval_metrics",
    "interval_sums",
    "pinball_loss",
]

#: the per-step scores of :class:`IntervalMetrics`, in the order tables print them
INTERVAL_METRICS = ("coverage", "width", "winkler", "crps", "pinball")


def check_coverage(coverage: float) -> float:
    """``coverage`` as a float in (0, 1), or a one-line error naming the value."""
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be a fraction in (0, 1), got {coverage!r}")
    return float(coverage)


@overload
def pinball_loss(
    forecast: np.ndarray,
    target: np.ndarray,
    quantiles: Sequence[float],
    null_value: float | None = ...,
    mask: ArrayLike | None = ...,
) -> float: ...
@overload
def pinball_loss(
    forecast: torch.Tensor,
    target: ArrayLike,
    quantiles: Sequence[float],
    null_value: float | None = ...,
    mask: ArrayLike | None = ...,
) -> torch.Tensor: ...
def pinball_loss(
    forecast: ArrayLike,
    target: ArrayLike,
    quantiles: Sequence[float],
    null_value: float | None = 0.0,
    mask: ArrayLike | None = None,
) -> float | torch.Tensor:
    r"""Masked pinball (quantile) loss, averaged over the observed entries and the levels.

    A tensor ``forecast`` gives a 0-d tensor differentiable with respect to it (a training
    loss); NumPy gives a float (float64). NaN when nothing is observed; forecasts at masked-out
    entries never reach the value or the gradient.

    Shapes:
        forecast: ``[..., quantiles]``; target, mask: ``[...]`` (``forecast`` without its last axis).
    """
    levels = check_quantiles(quantiles)
    if isinstance(forecast, torch.Tensor):
        dtype = forecast.dtype if forecast.is_floating_point() else torch.get_default_dtype()
        prediction = forecast.to(dtype)
        observed_target = torch.as_tensor(target, device=forecast.device).to(dtype)
        _check_quantile_shapes(prediction.shape, observed_target.shape, len(levels))
        observed = observed_mask(observed_target, null_value, mask)
        zero = torch.zeros((), dtype=dtype, device=forecast.device)
        error = torch.where(observed, observed_target, zero)[..., None] - torch.where(observed[..., None], prediction, zero)
        tau = torch.tensor(levels, dtype=dtype, device=forecast.device)
        loss = torch.maximum(tau * error, (tau - 1) * error)
        return loss.sum() / (observed.sum().to(dtype) * len(levels))
    prediction_array = np.asarray(forecast, dtype=np.float64)
    target_array = np.asarray(target, dtype=np.float64)
    _check_quantile_shapes(prediction_array.shape, target_array.shape, len(levels))
    observed_array = observed_mask(target_array, null_value, None if mask is None else np.asarray(mask))
    count = int(observed_array.sum())
    if not count:
        return math.nan
    scores = _pinball(prediction_array, target_array, observed_array, np.asarray(levels))
    return float(scores.sum() / (count * len(levels)))


@dataclass(frozen=True)
class IntervalMetrics:
    """Interval and quantile scores at each horizon step, in the target's units.

    Attributes:
        coverage: fraction of observed targets inside ``[lower, upper]``, float64 ``[horizon]``.
        width: mean ``upper - lower``; winkler: mean Winkler score at ``nominal``;
        crps: the quantile-score CRPS; pinball: mean pinball loss over the levels.
        observed: int64 ``[horizon]``, entries scored at each step.
        nominal: the nominal coverage :math:`1 - \\alpha` the Winkler score is taken at.
    """

    coverage: np.ndarray
    width: np.ndarray
    winkler: np.ndarray
    crps: np.ndarray
    pinball: np.ndarray
    observed: np.ndarray
    nominal: float

    @property
    def horizon(self) -> int:
        return len(self.coverage)

    def at(self, step: int) -> dict[str, float]:
        """Scores ``step`` steps ahead, counted from 1."""
        if not 1 <= step <= self.horizon:
            raise ShapeError(f"step must be in 1..{self.horizon}; got {step}")
        return {name: float(getattr(self, name)[step - 1]) for name in INTERVAL_METRICS}

    @classmethod
    def from_sums(cls, totals: dict[str, np.ndarray], coverage: float) -> IntervalMetrics:
        """The scores of :func:`interval_sums` (or of their sum over blocks of windows) at
        nominal ``coverage``."""
        count = np.asarray(totals["observed"], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 -> NaN at a step with nothing observed
            per_step = {name: np.asarray(totals[name], dtype=np.float64) / count for name in INTERVAL_METRICS}
        return cls(**per_step, observed=count.astype(np.int64), nominal=check_coverage(coverage))

    def average(self) -> dict[str, float]:
        """Mean over horizon steps of each score, skipping steps with no observed entry."""
        scored = self.observed > 0
        if not scored.any():
            return dict.fromkeys(INTERVAL_METRICS, math.nan)
        return {name: float(getattr(self, name)[scored].mean()) for name in INTERVAL_METRICS}


#: entries of the target that :func:`interval_metrics` scores at once, in float64
_BLOCK_ENTRIES = 1 << 21


def interval_metrics(
    lower: np.ndarray,
    upper: np.ndarray,
    target: np.ndarray,
    *,
    coverage: float,
    quantile_forecast: np.ndarray | Sequence[np.ndarray],
    quantiles: Sequence[float] | np.ndarray,
    null_value: float | None = 0.0,
    mask: np.ndarray | None = None,
    horizon_axis: int = 1,
) -> IntervalMetrics:
    """Coverage, width and Winkler score of ``[lower, upper]`` and CRPS and pinball loss of
    ``quantile_forecast``, each per horizon step.

    A point model's caller passes its interval and forecast as the quantile set
    ``[lower, forecast, upper]`` at levels ``[(1 - c) / 2, 0.5, (1 + c) / 2]``.

    Shapes:
        lower, upper, target, mask: ``[windows, horizon, nodes, channels]`` (the horizon on
        ``horizon_axis``); quantile_forecast: the same plus ``[quantiles]`` last, or a list of
        one such array per level (stacked a block at a time, never whole) ->
        :class:`IntervalMetrics` with ``[horizon]`` arrays.
    """
    totals = interval_sums(
        lower,
        upper,
        target,
        coverage=coverage,
        quantile_forecast=quantile_forecast,
        quantiles=quantiles,
        null_value=null_value,
        mask=mask,
        horizon_axis=horizon_axis,
    )
    return IntervalMetrics.from_sums(totals, coverage)


def interval_sums(
    lower: np.ndarray,
    upper: np.ndarray,
    target: np.ndarray,
    *,
    coverage: float,
    quantile_forecast: np.ndarray | Sequence[np.ndarray],
    quantiles: Sequence[float] | np.ndarray,
    null_value: float | None = 0.0,
    mask: np.ndarray | None = None,
    horizon_axis: int = 1,
) -> dict[str, np.ndarray]:
    """The per-step sums :func:`interval_metrics` divides (its arguments), keyed by score, with
    the count of observed entries as ``"observed"``: each ``[horizon]``. Sums of blocks of
    windows add up to the sums of all of them (:meth:`IntervalMetrics.from_sums`)."""
    nominal = check_coverage(coverage)
    levels = np.asarray(check_quantiles(quantiles))
    target_shape = np.shape(target)
    for name, array in (("lower", lower), ("upper", upper)):
        if np.shape(array) != target_shape:
            raise ShapeError(f"{name} must have the target's shape {list(target_shape)}; got {list(np.shape(array))}")
    if isinstance(quantile_forecast, (list, tuple)):  # one array per level, stacked a block at a time
        parts = list(quantile_forecast)
        for part in parts:
            _check_quantile_shapes((*np.shape(part), len(parts)), target_shape, len(levels))
        if not parts:
            _check_quantile_shapes((*target_shape, 0), target_shape, len(levels))
    else:
        parts = None
        _check_quantile_shapes(np.shape(quantile_forecast), target_shape, len(levels))
    if not -len(target_shape) <= horizon_axis < len(target_shape):
        raise ShapeError(f"horizon_axis {horizon_axis} is out of range for arrays of shape {list(target_shape)}")
    if mask is not None and np.shape(mask) != target_shape:
        raise ShapeError(f"mask must have the target's shape {list(target_shape)}; got {list(np.shape(mask))}")
    # sums per step over blocks of the first axis that is not the horizon's, in float64 a block at a time
    axis = 1 if horizon_axis % len(target_shape) == 0 and len(target_shape) > 1 else 0
    length = target_shape[axis] if len(target_shape) > 1 else 1
    rows = max(1, _BLOCK_ENTRIES // max(1, int(np.prod(target_shape)) // max(1, length)))
    totals: dict[str, np.ndarray] = {}
    for start in range(0, length, rows):
        index = (slice(None),) * axis + (slice(start, start + rows),) if len(target_shape) > 1 else (slice(None),)
        block = _interval_sums(
            np.asarray(lower)[index],
            np.asarray(upper)[index],
            np.asarray(target)[index],
            np.asarray(quantile_forecast)[index] if parts is None else np.stack([np.asarray(q)[index] for q in parts], axis=-1),
            levels,
            nominal,
            null_value,
            None if mask is None else np.asarray(mask)[index],
            horizon_axis,
        )
        for name, value in block.items():
            totals[name] = totals[name] + value if name in totals else value
    return totals


def _interval_sums(
    lower: np.ndarray,
    upper: np.ndarray,
    target: np.ndarray,
    forecast: np.ndarray,
    levels: np.ndarray,
    nominal: float,
    null_value: float | None,
    mask: np.ndarray | None,
    horizon_axis: int,
) -> dict[str, np.ndarray]:
    """:func:`interval_metrics`' sums over the observed entries of one block, per step, with their count."""
    target_array = np.asarray(target, dtype=np.float64)
    low, high = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    observed = observed_mask(target_array, null_value, mask)
    y = np.where(observed, target_array, 0.0)
    low, high = np.where(observed, low, 0.0), np.where(observed, high, 0.0)
    alpha = 1.0 - nominal
    below, above = y < low, y > high
    scores = {
        "coverage": (~below & ~above).astype(np.float64),
        "width": high - low,
        "winkler": high - low + (2 / alpha) * np.where(below, low - y, 0.0) + (2 / alpha) * np.where(above, y - high, 0.0),
    }
    pinball = _pinball(np.asarray(forecast, dtype=np.float64), target_array, observed, levels).mean(axis=-1)
    scores["pinball"] = pinball
    scores["crps"] = 2 * pinball
    sums = {name: _per_step_sum(np.where(observed, value, 0.0), horizon_axis) for name, value in scores.items()}
    sums["observed"] = _per_step_sum(observed.astype(np.float64), horizon_axis)
    return sums


def _pinball(forecast: np.ndarray, target: np.ndarray, observed: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """:math:`\\rho_\\tau(y - \\hat q_\\tau)` per entry and level, 0 where not observed. ``[..., quantiles]``."""
    error = np.where(observed, target, 0.0)[..., None] - np.where(observed[..., None], forecast, 0.0)
    scores: np.ndarray = np.maximum(levels * error, (levels - 1) * error)
    return scores


def _per_step_sum(values: np.ndarray, horizon_axis: int) -> np.ndarray:
    """Sum over every axis but ``horizon_axis``: ``[horizon]``."""
    sums: np.ndarray = np.moveaxis(values, horizon_axis, 0).reshape(values.shape[horizon_axis], -1).sum(axis=1)
    return sums


def _check_quantile_shapes(forecast: Sequence[int], target: Sequence[int], levels: int) -> None:
    if tuple(forecast) != (*tuple(target), levels):
        raise ShapeError(
            f"quantile forecast must be the target's shape {list(target)} plus {levels} quantiles; got {list(forecast)}"
        )
