r"""Masked MAE, RMSE and MAPE (and MSE, a training loss): the convention of DCRNN (Li et al., ICLR 2018) and Graph WaveNet
(Wu et al., IJCAI 2019).

A target entry is *observed* when it is not NaN and, unless ``null_value`` is ``None``, not
equal to ``null_value`` (0.0 for METR-LA / PEMS-BAY speeds, where 0 means "no reading").
Every metric is a mean over the observed entries only:

.. math::
    \mathrm{MAE} = \frac{1}{|\Omega|}\sum_{i \in \Omega} |\hat y_i - y_i|, \quad
    \mathrm{RMSE} = \sqrt{\frac{1}{|\Omega|}\sum_{i \in \Omega} (\hat y_i - y_i)^2}, \quad
    \mathrm{MAPE} = \frac{1}{|\Omega_{\ne 0}|}\sum_{i \in \Omega_{\ne 0}}
        \frac{|\hat y_i - y_i|}{|y_i|}

where :math:`\Omega` is the set of observed entries and :math:`\Omega_{\ne 0}` its subset with a
non-zero target. This equals the reference code's ``mean(loss * mask / mean(mask))``.

Where we differ from the reference code, and why:

- MAPE is a **fraction** (0.073), as the reference functions return it; the papers' tables print
  it times 100 (7.3 %), and so does :mod:`stgraph.metrics.report`.
- MAPE always skips zero targets, also with ``null_value=None``; the reference code divides by
  zero there when the null value is NaN.
- When nothing is observed the result is NaN, not 0 as in the reference code (which turns the
  0/0 into 0): an empty horizon step should not look like a perfect forecast.
- A NaN or infinite *prediction* at an observed entry gives NaN (the reference code hides it
  with ``nan_to_num``); predictions at masked-out entries never affect the result.

The functions take NumPy arrays or torch tensors and return the same kind: a Python ``float``
(computed in float64) for NumPy, a 0-d tensor for torch that is differentiable with respect to
``pred``, so that :func:`masked_mae` can be the training loss. If only one argument is a tensor,
the other is converted onto its device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, TypeVar, overload

import numpy as np
import torch

from stgraph.errors import ShapeError

__all__ = [
    "HorizonMetrics",
    "horizon_metrics",
    "horizon_sums",
    "masked_mae",
    "masked_mape",
    "masked_mse",
    "masked_rmse",
    "observed_mask",
    "sensor_metrics",
    "sensor_metrics_from_sums",
    "sensor_sums",
]

ArrayLike = np.ndarray | torch.Tensor
# numpy in, numpy out; torch in, torch out
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def observed_mask(target: ArrayT, null_value: float | None = 0.0, mask: ArrayLike | None = None) -> ArrayT:
    """Bool mask of the target entries that are scored: ``True`` = observed.

    Args:
        target: readings, any shape.
        null_value: the value that marks a missing reading (``0.0`` for METR-LA speeds);
            ``None`` or NaN: only NaN is missing.
        mask: explicit bool mask, ``True`` = observed, the target's shape. It replaces the
            ``null_value`` test; NaN targets are excluded in any case.

    Shapes:
        target, mask: any shape, the same for both -> bool, that shape.
    """
    if isinstance(target, torch.Tensor):
        observed = ~torch.isnan(target) if target.is_floating_point() else torch.ones_like(target, dtype=torch.bool)
        if mask is not None:
            mask = torch.as_tensor(mask, device=target.device)
            _check_mask(mask, target)
            return observed & mask
        if null_value is not None and not math.isnan(null_value):
            observed = observed & (target != null_value)
        return observed
    target = np.asarray(target)
    observed_array = ~np.isnan(target) if np.issubdtype(target.dtype, np.floating) else np.ones(target.shape, dtype=bool)
    if mask is not None:
        mask = np.asarray(mask)
        _check_mask(mask, target)
        return observed_array & mask
    if null_value is not None and not math.isnan(null_value):
        observed_array &= target != null_value
    return observed_array


@overload
def masked_mae(pred: np.ndarray, target: np.ndarray, null_value: float | None = ..., mask: ArrayLike | None = ...) -> float: ...
@overload
def masked_mae(
    pred: torch.Tensor, target: ArrayLike, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
@overload
def masked_mae(
    pred: ArrayLike, target: torch.Tensor, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
def masked_mae(
    pred: ArrayLike, target: ArrayLike, null_value: float | None = 0.0, mask: ArrayLike | None = None
) -> float | torch.Tensor:
    """Mean absolute error over the observed target entries (see the module docstring).

    Shapes:
        pred, target, mask: any shape, all the same, e.g. ``[batch, horizon, nodes, channels]``
        -> ``float`` (NumPy) or 0-d tensor (torch); NaN when no entry is observed.
    """
    return _score(_mae, pred, target, null_value, mask)


@overload
def masked_rmse(pred: np.ndarray, target: np.ndarray, null_value: float | None = ..., mask: ArrayLike | None = ...) -> float: ...
@overload
def masked_rmse(
    pred: torch.Tensor, target: ArrayLike, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
@overload
def masked_rmse(
    pred: ArrayLike, target: torch.Tensor, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
def masked_rmse(
    pred: ArrayLike, target: ArrayLike, null_value: float | None = 0.0, mask: ArrayLike | None = None
) -> float | torch.Tensor:
    """Root mean squared error over the observed target entries (see the module docstring).

    Shapes:
        pred, target, mask: any shape, all the same -> ``float`` or 0-d tensor; NaN when no
        entry is observed.
    """
    return _score(_rmse, pred, target, null_value, mask)


@overload
def masked_mse(pred: np.ndarray, target: np.ndarray, null_value: float | None = ..., mask: ArrayLike | None = ...) -> float: ...
@overload
def masked_mse(
    pred: torch.Tensor, target: ArrayLike, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
@overload
def masked_mse(
    pred: ArrayLike, target: torch.Tensor, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
def masked_mse(
    pred: ArrayLike, target: ArrayLike, null_value: float | None = 0.0, mask: ArrayLike | None = None
) -> float | torch.Tensor:
    r"""Mean squared error over the observed target entries, :math:`\mathrm{RMSE}^2`: a training
    loss (T-GCN's code minimises it), differentiable also where every error is 0, unlike
    ``masked_rmse(...) ** 2``.

    Shapes:
        pred, target, mask: any shape, all the same -> ``float`` or 0-d tensor; NaN when no
        entry is observed.
    """
    return _score(_mse, pred, target, null_value, mask)


@overload
def masked_mape(pred: np.ndarray, target: np.ndarray, null_value: float | None = ..., mask: ArrayLike | None = ...) -> float: ...
@overload
def masked_mape(
    pred: torch.Tensor, target: ArrayLike, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
@overload
def masked_mape(
    pred: ArrayLike, target: torch.Tensor, null_value: float | None = ..., mask: ArrayLike | None = ...
) -> torch.Tensor: ...
def masked_mape(
    pred: ArrayLike, target: ArrayLike, null_value: float | None = 0.0, mask: ArrayLike | None = None
) -> float | torch.Tensor:
    """Mean absolute percentage error as a fraction, over observed non-zero targets.

    Multiply by 100 for the percentages printed in the DCRNN / Graph WaveNet tables.

    Shapes:
        pred, target, mask: any shape, all the same -> ``float`` or 0-d tensor; NaN when no
        entry is observed with a non-zero target.
    """
    return _score(_mape, pred, target, null_value, mask)


@dataclass(frozen=True)
class HorizonMetrics:
    """Masked MAE, RMSE and MAPE (fraction) at each horizon step, in the target's units.

    Attributes:
        mae, rmse, mape: float64 ``[horizon]``; ``mae[0]`` is the first step ahead. NaN at a
            step where nothing is observed.
        observed: int64 ``[horizon]``, entries scored by MAE and RMSE at each step.

    :meth:`average` follows Graph WaveNet's test loop: the mean of the per-step values
    (so the average RMSE is the mean of per-step RMSEs, not the RMSE of all entries pooled),
    over the steps that have observed entries. A NaN forecast at an observed entry still
    makes the average NaN. For the pooled version call :func:`masked_mae` and friends on the
    whole arrays.
    """

    mae: np.ndarray
    rmse: np.ndarray
    mape: np.ndarray
    observed: np.ndarray

    @property
    def horizon(self) -> int:
        return len(self.mae)

    @classmethod
    def from_sums(cls, totals: np.ndarray) -> HorizonMetrics:
        """The metrics of :func:`horizon_sums` (or their sum over blocks of windows)."""
        absolute, squared, count, relative, count_nonzero = np.asarray(totals, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 -> NaN is the intended result
            return cls(
                mae=absolute / count,
                rmse=np.sqrt(squared / count),
                mape=relative / count_nonzero,
                observed=count.astype(np.int64),
            )

    def at(self, step: int) -> dict[str, float]:
        """Metrics at ``step`` steps ahead, counted from 1 (step 12 = 60 min at 5-min intervals)."""
        if not 1 <= step <= self.horizon:
            raise ShapeError(f"step must be in 1..{self.horizon}; got {step}")
        return {"mae": float(self.mae[step - 1]), "rmse": float(self.rmse[step - 1]), "mape": float(self.mape[step - 1])}

    def average(self) -> dict[str, float]:
        """Mean over horizon steps of each metric, skipping steps with no observed entry."""
        scored = self.observed > 0
        if not scored.any():
            return {"mae": math.nan, "rmse": math.nan, "mape": math.nan}
        return {name: float(getattr(self, name)[scored].mean()) for name in ("mae", "rmse", "mape")}


def horizon_metrics(
    pred: ArrayLike,
    target: ArrayLike,
    null_value: float | None = 0.0,
    mask: ArrayLike | None = None,
    *,
    horizon_axis: int = 1,
) -> HorizonMetrics:
    """Masked MAE, RMSE and MAPE for each horizon step, pooling all other axes.

    At step ``h`` each metric is the one of :func:`masked_mae` / :func:`masked_rmse` /
    :func:`masked_mape` applied to ``pred[:, h]`` and ``target[:, h]``. Tensors are detached
    and evaluated in float64 on the CPU.

    Shapes:
        pred, target, mask: ``[batch, horizon, nodes, channels]`` (the horizon on
        ``horizon_axis``; any other layout works with the right axis) -> :class:`HorizonMetrics`
        with ``[horizon]`` arrays.
    """
    return HorizonMetrics.from_sums(horizon_sums(pred, target, null_value, mask, horizon_axis=horizon_axis))


def horizon_sums(
    pred: ArrayLike,
    target: ArrayLike,
    null_value: float | None = 0.0,
    mask: ArrayLike | None = None,
    *,
    horizon_axis: int = 1,
) -> np.ndarray:
    r"""The sums :func:`horizon_metrics` divides, per horizon step: ``[5, horizon]`` rows
    :math:`\sum|e|`, :math:`\sum e^2`, observed entries, :math:`\sum |e| / |y|` and observed
    non-zero entries. Sums of blocks of windows add up to the sums of all of them, so a split
    too large to hold can be scored a block at a time (:meth:`HorizonMetrics.from_sums`).
    """
    pred_array, target_array = _to_numpy(pred), _to_numpy(target)
    mask_array = None if mask is None else np.asarray(_to_numpy(mask))
    _check_shapes(pred_array, target_array)
    if mask_array is not None:
        _check_mask(mask_array, target_array)
    if pred_array.ndim == 0 or not -pred_array.ndim <= horizon_axis < pred_array.ndim:
        raise ShapeError(f"horizon_axis {horizon_axis} is out of range for arrays of shape {list(pred_array.shape)}")
    steps = pred_array.shape[horizon_axis]
    # [horizon, ...] views; each step is scored a block at a time in float64, so that memory holds
    # the inputs once, not float64 copies of them (a LargeST test split is gigabytes)
    by_step = [np.moveaxis(np.asarray(a), horizon_axis, 0) for a in (pred_array, target_array)]
    masks = None if mask_array is None else np.moveaxis(mask_array, horizon_axis, 0)
    totals = np.zeros((5, steps))  # |error|, error^2, observed, relative error, observed non-zero
    for h in range(steps):
        step_pred, step_target = np.atleast_1d(by_step[0][h]), np.atleast_1d(by_step[1][h])
        step_mask = None if masks is None else np.atleast_1d(masks[h])
        for start in range(0, len(step_pred), _metric_block(step_pred)):
            block = slice(start, start + _metric_block(step_pred))
            p, t, observed = _numpy_inputs(
                step_pred[block], step_target[block], null_value, None if step_mask is None else step_mask[block]
            )
            error = _masked_error(p, t, observed)
            nonzero = observed & (t != 0)
            totals[:, h] += (
                np.abs(error).sum(),
                (error * error).sum(),
                observed.sum(),
                (np.abs(np.where(nonzero, error, 0.0)) / np.where(nonzero, np.abs(t), 1.0)).sum(),
                nonzero.sum(),
            )
    return totals


def sensor_metrics(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    r"""Per-sensor masked MAE, RMSE and mean observed target over all windows and horizon steps.

    .. math::
        \mathrm{MAE}_n = \frac{1}{|O_n|}\sum_{(w,h) \in O_n} |\hat y_{w,h,n} - y_{w,h,n}|,\qquad
        \mathrm{RMSE}_n = \sqrt{\frac{1}{|O_n|}\sum_{(w,h) \in O_n} (\hat y_{w,h,n} - y_{w,h,n})^2}

    over the observed (window, step) pairs :math:`O_n` of sensor :math:`n`; NaN where a sensor
    is never observed. Summed in float64 over blocks of windows (:func:`sensor_sums`), so that
    memory holds the inputs once.

    Shapes:
        prediction, target, mask: ``[windows, horizon, nodes]`` -> each entry ``[nodes]``
    """
    return sensor_metrics_from_sums(sensor_sums(prediction, target, mask))


def sensor_sums(prediction: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    r"""The sums :func:`sensor_metrics` divides, per sensor: ``[4, nodes]`` rows :math:`\sum|e|`,
    :math:`\sum e^2`, :math:`\sum y` and the observed count, over the observed entries. Sums of
    blocks of windows add up to the sums of all of them (:func:`sensor_metrics_from_sums`).

    Shapes:
        prediction, target, mask: ``[windows, horizon, nodes]`` -> ``[4, nodes]``
    """
    if not np.shape(prediction) == np.shape(target) == np.shape(mask) or np.ndim(target) != 3:
        raise ShapeError(
            f"prediction, target and mask must share one [windows, horizon, nodes] shape; got "
            f"{list(np.shape(prediction))}, {list(np.shape(target))}, {list(np.shape(mask))}"
        )
    totals = np.zeros((4, np.shape(target)[2]))  # |error|, error^2, target, observed
    rows = _metric_block(np.asarray(target[:1])) if len(target) else 1
    for start in range(0, len(target), rows):
        block = slice(start, start + rows)
        observed = np.asarray(mask[block], dtype=bool)
        y = np.where(observed, np.asarray(target[block], dtype=np.float64), 0.0)
        error = np.where(observed, np.asarray(prediction[block], dtype=np.float64), 0.0) - y
        totals += (
            np.abs(error).sum(axis=(0, 1)),
            (error * error).sum(axis=(0, 1)),
            y.sum(axis=(0, 1)),
            observed.sum(axis=(0, 1)),
        )
    return totals


def sensor_metrics_from_sums(totals: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`sensor_metrics` from :func:`sensor_sums` (or their sum over blocks of windows)."""
    absolute, squared, total, count = np.asarray(totals, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"mae": absolute / count, "rmse": np.sqrt(squared / count), "mean": total / count}


def _metric_block(step: np.ndarray) -> int:
    """Rows of one horizon step scored at once: about 2^22 entries."""
    per_row = max(1, int(np.prod(step.shape[1:])))
    return max(1, (1 << 22) // per_row)


class _Metric(Protocol):
    """A metric on inputs of one kind with their mask: :func:`_mae`, :func:`_rmse`, :func:`_mape`."""

    def __call__(self, pred: ArrayT, target: ArrayT, observed: ArrayT) -> float | torch.Tensor: ...


def _score(
    metric: _Metric, pred: ArrayLike, target: ArrayLike, null_value: float | None, mask: ArrayLike | None
) -> float | torch.Tensor:
    """``metric`` on ``pred`` and ``target`` converted to one kind, with the mask built."""
    if isinstance(pred, torch.Tensor) or isinstance(target, torch.Tensor):
        return metric(*_torch_inputs(pred, target, null_value, mask))
    return metric(*_numpy_inputs(pred, target, null_value, mask))


def _mae(pred: ArrayT, target: ArrayT, observed: ArrayT) -> float | torch.Tensor:
    error = _masked_error(pred, target, observed)
    return _mean(error.abs() if isinstance(error, torch.Tensor) else np.abs(error), observed)


def _mse(pred: ArrayT, target: ArrayT, observed: ArrayT) -> float | torch.Tensor:
    error = _masked_error(pred, target, observed)
    return _mean(error * error, observed)


def _rmse(pred: ArrayT, target: ArrayT, observed: ArrayT) -> float | torch.Tensor:
    mse = _mse(pred, target, observed)
    return torch.sqrt(mse) if isinstance(mse, torch.Tensor) else math.sqrt(mse)


def _mape(pred: ArrayT, target: ArrayT, observed: ArrayT) -> float | torch.Tensor:
    observed = observed & (target != 0)
    error = _masked_error(pred, target, observed)
    if isinstance(error, torch.Tensor):
        scale = torch.where(observed, target.abs(), torch.ones_like(target))
        return _mean(error.abs() / scale, observed)
    scale_array = np.where(observed, np.abs(target), 1.0)
    return _mean(np.abs(error) / scale_array, observed)


def _to_numpy(array: ArrayLike) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu()
        return (array.double() if array.is_floating_point() else array).numpy()
    return array


def _torch_inputs(
    pred: ArrayLike, target: ArrayLike, null_value: float | None, mask: ArrayLike | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both in the tensor's floating dtype (the default dtype for an integer one) and on its device."""
    reference = pred if isinstance(pred, torch.Tensor) else torch.as_tensor(target)  # one of the two is a tensor
    dtype = reference.dtype if reference.is_floating_point() else torch.get_default_dtype()
    pred_tensor = torch.as_tensor(pred, device=reference.device).to(dtype)
    target_tensor = torch.as_tensor(target, device=reference.device).to(dtype)
    _check_shapes(pred_tensor, target_tensor)
    return pred_tensor, target_tensor, observed_mask(target_tensor, null_value, mask)


def _numpy_inputs(
    pred: np.ndarray, target: np.ndarray, null_value: float | None, mask: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both as float64 arrays."""
    pred_array = np.asarray(pred, dtype=np.float64)
    target_array = np.asarray(target, dtype=np.float64)
    _check_shapes(pred_array, target_array)
    return pred_array, target_array, observed_mask(target_array, null_value, mask)


def _check_shapes(pred: ArrayLike, target: ArrayLike) -> None:
    if tuple(pred.shape) != tuple(target.shape):
        raise ShapeError(f"pred and target must have the same shape; got pred {list(pred.shape)}, target {list(target.shape)}")


def _masked_error(pred: ArrayT, target: ArrayT, observed: ArrayT) -> ArrayT:
    """``pred - target`` where observed, exactly 0 elsewhere.

    Both operands are replaced *before* subtracting, so that a NaN at a masked-out entry can
    reach neither the value nor (for torch) the gradient.
    """
    if isinstance(pred, torch.Tensor):
        zero = torch.zeros((), dtype=pred.dtype, device=pred.device)
        return torch.where(observed, pred, zero) - torch.where(observed, target, zero)
    error: np.ndarray = np.where(observed, pred, 0.0) - np.where(observed, target, 0.0)
    return error


def _mean(values: ArrayT, observed: ArrayT) -> float | torch.Tensor:
    """Sum of ``values`` over observed entries divided by their count; NaN for no entries."""
    if isinstance(values, torch.Tensor):
        # 0 / 0 is NaN in torch, without a warning
        return values.sum() / observed.sum().to(values.dtype)
    count = int(observed.sum())
    return float(values.sum() / count) if count else math.nan


def _check_mask(mask: ArrayLike, target: ArrayLike) -> None:
    if tuple(mask.shape) != tuple(target.shape):
        raise ShapeError(f"mask must have the target's shape {list(target.shape)}; got {list(mask.shape)}")
    is_bool = mask.dtype == torch.bool if isinstance(mask, torch.Tensor) else mask.dtype == np.bool_
    if not is_bool:
        raise ShapeError(f"mask must be bool (True = observed); got dtype {mask.dtype}")
