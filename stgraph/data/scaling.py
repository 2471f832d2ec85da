"""Scalers fitted on observed readings only: z-score (the pipeline's, on the training steps) and
T-GCN's division by the maximum."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from stgraph.data.series import SensorSeries, feature_positions
from stgraph.errors import SensorDataError, ShapeError

__all__ = ["MaxScaler", "StandardScaler", "masked_moments"]

logger = logging.getLogger(__name__)

# numpy in, numpy out; torch in, torch out
ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
ScalerT = TypeVar("ScalerT", bound="StandardScaler")


class StandardScaler:
    r"""Z-score scaling, with statistics from observed training readings only.

    .. math::
        z = \frac{x - \mu}{\sigma},\qquad
        \mu = \frac{\sum_{t \in \text{train}} m_t x_t}{\sum m_t},\qquad
        \sigma^2 = \frac{\sum_{t \in \text{train}} m_t (x_t - \mu)^2}{\sum m_t}

    where :math:`m` is the mask (1 = observed), so missing readings (METR-LA's zeros) do not
    drag the mean down. :math:`\sigma` is the population standard deviation (``ddof=0``, as
    ``np.std`` in DCRNN's ``StandardScaler``). DCRNN fits on *all* training values, zeros
    included; fitting on observed values only is the difference, on purpose.

    Statistics are per feature, pooled over steps and sensors (DCRNN, Graph WaveNet), or per
    sensor and feature with ``per_sensor=True``. A standard deviation of 0 is replaced by 1
    (the feature is only centred); with ``per_sensor=True`` a sensor with no observed training
    reading takes its feature's pooled statistics. Both are logged.

    Attributes (after :meth:`fit`):
        mean_, std_: float64 ``[features]``, or ``[sensors, features]`` with ``per_sensor``.
        count_: observed readings behind each statistic, same shape.
        feature_names_: the fitted series' feature names (or None for arrays).

    Shapes:
        transform / inverse_transform: ``[..., features]`` (``[..., sensors, features]`` with
        ``per_sensor``) -> same shape; numpy in, numpy out; torch in, torch out (same device
        and dtype).
    """

    def __init__(self, *, per_sensor: bool = False) -> None:
        self.per_sensor = per_sensor

    def fit(
        self,
        data: SensorSeries | np.ndarray,
        mask: np.ndarray | None = None,
        *,
        steps: slice | Sequence[int] | None = None,
    ) -> StandardScaler:
        """Fit on ``data[steps]`` where ``mask`` is True.

        Args:
            data: a :class:`SensorSeries` (its mask is used) or ``[time, sensors, features]`` values.
            mask: bool, same shape as ``data``; defaults to all observed for arrays.
            steps: the training steps (e.g. ``split.train_steps``); all steps when omitted.
        """
        values, mask, names = _fitting_readings(data, mask, steps, "StandardScaler")
        count, mean, std = masked_moments(values, mask, per_sensor=self.per_sensor)
        feature_label = names or [str(i) for i in range(values.shape[2])]
        pooled_count = count.sum(axis=0) if self.per_sensor else count
        if (pooled_count == 0).any():
            empty = [feature_label[i] for i in np.flatnonzero(pooled_count == 0)]
            raise SensorDataError(f"StandardScaler: feature(s) {', '.join(empty)} have no observed reading in the fitting steps")
        if self.per_sensor and (count == 0).any():
            pooled = StandardScaler().fit(values, mask)
            unseen = count == 0
            sensors = sorted(set(np.nonzero(unseen)[0].tolist()))
            logger.warning(
                "StandardScaler: %d sensor(s) (positions %s) have no observed training reading; using pooled statistics",
                len(sensors),
                sensors[:10],
            )
            mean = np.where(unseen, pooled.mean_, mean)
            std = np.where(unseen, pooled.std_, std)
        if (std == 0).any():
            logger.warning(
                "StandardScaler: %d statistic(s) have standard deviation 0; using 1 (centring only)", int((std == 0).sum())
            )
            std = np.where(std == 0, 1.0, std)
        return self._set_statistics(mean, std, count, names)

    def _set_statistics(self: ScalerT, mean: np.ndarray, std: np.ndarray, count: np.ndarray, names: list[str] | None) -> ScalerT:
        self.mean_, self.std_, self.count_, self.feature_names_ = mean, std, count, names
        self._torch_cache: dict[tuple[torch.device, torch.dtype, tuple[int, ...]], tuple[torch.Tensor, torch.Tensor]] = {}
        return self

    # --- saving ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain tensors, lists and flags: loads with ``torch.load(..., weights_only=True)``."""
        self._check_fitted()
        return {
            "mean": torch.from_numpy(np.asarray(self.mean_, dtype=np.float64)),
            "std": torch.from_numpy(np.asarray(self.std_, dtype=np.float64)),
            "count": torch.from_numpy(np.asarray(self.count_, dtype=np.float64)),
            "names": list(self.feature_names_ or []),
            "per_sensor": bool(self.per_sensor),
        }

    @classmethod
    def from_state_dict(cls: type[ScalerT], state: dict[str, Any]) -> ScalerT:
        """The fitted scaler that :meth:`state_dict` described."""
        scaler = cls(per_sensor=bool(state["per_sensor"]))
        return scaler._set_statistics(
            state["mean"].numpy(), state["std"].numpy(), state["count"].numpy(), list(state["names"]) or None
        )

    # --- applying ------------------------------------------------------------------------
    def transform(self, x: ArrayT, *, features: Sequence[int | str] | None = None) -> ArrayT:
        """``(x - mean_) / std_``; ``features`` picks the fitted features ``x`` holds (its last axis)."""
        mean, std = self._statistics(x, features)
        scaled: ArrayT = (x - mean) / std
        return scaled

    def inverse_transform(self, z: ArrayT, *, features: Sequence[int | str] | None = None) -> ArrayT:
        """``z * std_ + mean_``: back to original units (km/h, vehicles per interval)."""
        mean, std = self._statistics(z, features)
        original: ArrayT = z * std + mean
        return original

    def subset(self: ScalerT, features: Sequence[int | str]) -> ScalerT:
        """A fitted scaler for only ``features`` (e.g. the forecast targets)."""
        index = self._feature_index(features)
        names = None if self.feature_names_ is None else [self.feature_names_[i] for i in index]
        part = type(self)(per_sensor=self.per_sensor)
        return part._set_statistics(self.mean_[..., index], self.std_[..., index], self.count_[..., index], names)

    def __repr__(self) -> str:
        name = type(self).__name__
        if not hasattr(self, "mean_"):
            return f"{name}(per_sensor={self.per_sensor}, unfitted)"
        return f"{name}(per_sensor={self.per_sensor}, mean_ {list(self.mean_.shape)}, std_ {list(self.std_.shape)})"

    # --- helpers -----------------------------------------------------------------------
    def _feature_index(self, features: Sequence[int | str]) -> list[int]:
        self._check_fitted()
        return feature_positions(features, self.feature_names_, self.mean_.shape[-1], where=f"{type(self).__name__}: ")

    def _statistics(self, x: ArrayT, features: Sequence[int | str] | None) -> tuple[ArrayT, ArrayT]:
        self._check_fitted()
        mean, std = self.mean_, self.std_
        key_features: tuple[int, ...] = ()
        if features is not None:
            index = self._feature_index(features)
            mean, std, key_features = mean[..., index], std[..., index], tuple(index)
        expected = mean.shape
        if tuple(x.shape[-len(expected) :]) != expected:
            layout = "[..., sensors, features]" if self.per_sensor else "[..., features]"
            raise ShapeError(f"{type(self).__name__} expects {layout} ending in {list(expected)}, got shape {list(x.shape)}")
        if isinstance(x, torch.Tensor):
            key = (x.device, x.dtype, key_features)
            if key not in self._torch_cache:
                self._torch_cache[key] = (
                    torch.as_tensor(mean, dtype=x.dtype, device=x.device),
                    torch.as_tensor(std, dtype=x.dtype, device=x.device),
                )
            return self._torch_cache[key]
        dtype = x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float64
        return mean.astype(dtype), std.astype(dtype)

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(series, steps=split.train_steps) first")


class MaxScaler(StandardScaler):
    r"""Division by the largest observed reading, as T-GCN scales (Zhao et al., IEEE T-ITS 2020).

    .. math::
        z = \frac{x}{x_{\max}},\qquad x_{\max} = \max_{t,\; m_t = 1} x_t

    per feature over the fitting steps and all sensors (per sensor and feature with
    ``per_sensor=True``), where :math:`m` is the mask. T-GCN's ``input_data.py`` divides the
    whole series by ``np.max`` of all of it, test steps included: fit without ``steps`` to do
    the same. A maximum that is not positive (no observed reading, or none above 0) cannot
    scale, and is an error.

    This is :class:`StandardScaler`'s affine map with centre 0 and scale :math:`x_{\max}`, and
    is stored as such (``mean_`` = 0, ``std_`` = ``max_``): transform, inverse_transform,
    subset and state_dict are the same code.

    Attributes (after :meth:`fit`):
        max_: float64 ``[features]`` (``[sensors, features]`` with ``per_sensor``), also ``std_``.
        count_, feature_names_: as :class:`StandardScaler`.
    """

    def fit(
        self,
        data: SensorSeries | np.ndarray,
        mask: np.ndarray | None = None,
        *,
        steps: slice | Sequence[int] | None = None,
    ) -> MaxScaler:
        """Fit on ``data[steps]`` where ``mask`` is True (arguments as :meth:`StandardScaler.fit`)."""
        values, mask, names = _fitting_readings(data, mask, steps, "MaxScaler")
        axes = (0,) if self.per_sensor else (0, 1)
        maximum = np.full(values.shape[1:] if self.per_sensor else values.shape[2:], -np.inf)
        count = np.zeros(maximum.shape)
        for block, observed in _blocks(values, mask):
            maximum = np.maximum(maximum, np.where(observed, block, -np.inf).max(axis=axes, initial=-np.inf))
            count += observed.sum(axis=axes)
        unusable = ~(maximum > 0)
        if unusable.any():
            first = tuple(np.argwhere(unusable)[0])
            label = (names or [str(i) for i in range(values.shape[2])])[first[-1]]
            sensor = f", sensor position {first[0]}" if self.per_sensor else ""
            raise SensorDataError(
                f"MaxScaler: {int(unusable.sum())} statistic(s) without a positive maximum "
                f"(first: feature {label!r}{sensor}, maximum {maximum[first]}); dividing by it does not scale"
            )
        return self._set_statistics(np.zeros_like(maximum), maximum, count, names)

    @property
    def max_(self) -> np.ndarray:
        """The maxima the readings are divided by."""
        self._check_fitted()
        return self.std_


def _fitting_readings(
    data: SensorSeries | np.ndarray, mask: np.ndarray | None, steps: slice | Sequence[int] | None, scaler: str
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Values, bool mask and feature names (None for arrays) of ``data[steps]``, checked."""
    names = None
    if isinstance(data, SensorSeries):
        values, mask, names = data.values, data.mask if mask is None else mask, data.feature_names
    else:
        values = np.asarray(data)
    if values.ndim != 3:
        raise ShapeError(f"{scaler}.fit expects [time, sensors, features], got shape {list(values.shape)}")
    mask = np.ones(values.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if mask.shape != values.shape:
        raise ShapeError(f"mask shape {list(mask.shape)} differs from values shape {list(values.shape)}")
    if steps is not None:  # a slice of a memory-mapped series stays a view, read by _blocks
        values, mask = values[steps], mask[steps]
    return values, mask, names


#: readings per block when statistics are accumulated block by block (128 MB as float64)
BLOCK_READINGS = 1 << 24


def _blocks(values: np.ndarray, mask: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(float64 values, mask)`` of consecutive blocks of steps, about :data:`BLOCK_READINGS`
    readings each, so that a memory-mapped series is read once and never held whole."""
    per_step = max(int(np.prod(values.shape[1:])), 1)
    steps = max(BLOCK_READINGS // per_step, 1)
    for start in range(0, values.shape[0], steps):
        yield np.asarray(values[start : start + steps], dtype=np.float64), np.asarray(mask[start : start + steps])


def masked_moments(values: np.ndarray, mask: np.ndarray, *, per_sensor: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Count, mean and population standard deviation of the readings where ``mask`` is True,
    per feature (pooled over steps and sensors) or per sensor and feature; two passes over the
    steps in blocks (:func:`_blocks`). A statistic without readings has mean and deviation 0.

    Shapes:
        values, mask: ``[time, sensors, features]`` -> each ``[features]`` or ``[sensors, features]``
    """
    axes = (0,) if per_sensor else (0, 1)
    shape = values.shape[1:] if per_sensor else values.shape[2:]
    count, total, squares = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for block, observed in _blocks(values, mask):
        count += observed.sum(axis=axes)
        total += np.where(observed, block, 0.0).sum(axis=axes)
    mean = total / np.maximum(count, 1)
    for block, observed in _blocks(values, mask):
        squares += (np.where(observed, block - mean, 0.0) ** 2).sum(axis=axes)
    return count, mean, np.sqrt(squares / np.maximum(count, 1))
