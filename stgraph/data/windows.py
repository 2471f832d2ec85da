"""WindowDataset: (lookback inputs, horizon targets, target mask) samples as views of one series."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from stgraph.data.covariates import time_covariates
from stgraph.data.scaling import StandardScaler
from stgraph.data.series import SensorSeries, feature_positions
from stgraph.errors import ConfigError, SensorDataError, ShapeError

__all__ = ["MISSING_INPUTS", "WindowDataset", "fill_missing_inputs"]

#: values of ``missing_inputs`` (``data.missing_inputs``): how a missing input reading enters ``x``
MISSING_INPUTS = ("zero", "mask")


def fill_missing_inputs(
    scaled: torch.Tensor, observed: torch.Tensor, how: str = "zero"
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""How missing input readings enter the model input ``x``: the one place that decides it.

    * ``zero``: the stored value (0 where a reading is missing, as in DCRNN's data), scaled like
      any other, and no extra channel. A missing speed reads as a standstill; kept as the
      default so the paper protocols and their published comparisons do not move.
    * ``mask``: a missing reading becomes 0 in scaled units (the training mean of its feature,
      of its sensor with per-sensor scaling), and each input feature gets an ``observed``
      channel (1.0 observed, 0.0 missing), so the model can tell a fill from a reading.

    The model input is then ``filled ‖ calendar covariates ‖ observed`` along the feature axis:
    the observed channels come *after* the covariates, so the covariate positions models read
    (:meth:`~stgraph.pipeline.data.PreparedData.covariate_positions`) do not move.

    Args:
        scaled: input readings, already scaled (missing ones hold their scaled stored value).
        observed: bool, ``True`` = observed reading, the shape of ``scaled``.
        how: one of :data:`MISSING_INPUTS`.

    Returns:
        ``(filled, observed_channels)``: ``filled`` the shape of ``scaled``; the observed
        channels as float32 of that shape, or None for ``zero``.

    Shapes:
        scaled, observed: ``[..., features]`` (``[time, sensors, features]`` for a series,
        ``[batch, lookback, nodes, features]`` for a batch) -> the same shape
    """
    if how not in MISSING_INPUTS:
        raise ConfigError(f"data.missing_inputs must be one of {', '.join(MISSING_INPUTS)}, got {how!r}")
    if observed.shape != scaled.shape:
        raise ShapeError(f"fill_missing_inputs: observed {list(observed.shape)} must match scaled {list(scaled.shape)}")
    if how == "zero":
        return scaled, None
    observed = observed.to(torch.bool)
    filled = torch.where(observed, scaled, torch.zeros((), dtype=scaled.dtype))
    return filled, observed.to(torch.float32)


class WindowDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    r"""Sliding windows over one series, for sequence-to-sequence forecasting.

    The window starting at step :math:`s` is

    .. math::
        x = \mathrm{scale}(X_{s : s+L}) \,\|\, C_{s : s+L},\qquad
        y = X_{s+L : s+L+H},\qquad m = M_{s+L : s+L+H}

    with :math:`L` = ``lookback``, :math:`H` = ``horizon``, :math:`C` the covariates appended
    to every sensor's features and :math:`M` the mask. ``x`` is scaled (models work in scaled
    units); ``y`` is in **original units** with its mask, so the trainer computes the loss on
    ``target_scaler.transform(y)`` and the metrics on ``y`` itself.

    Memory: a series memory-mapped from disk (:attr:`SensorSeries.on_disk`) is never held:
    each window or batch reads its steps from the map and scales them then. Otherwise the
    dataset holds the series once (the scaled inputs once more when a scaler is
    given). ``y`` and ``m`` are always views of the series, and so is ``x`` without
    covariates; no window is stored, so a PEMS-BAY-sized series (52,116 x 325) costs the same
    whatever the number of windows. How missing readings enter ``x`` is
    :func:`fill_missing_inputs`'s ``missing_inputs``: with ``zero`` (default) they keep their
    stored value (0, as the missing speeds in DCRNN's data), scaled like any other; with
    ``mask`` they become 0 in scaled units and ``x`` ends with one ``observed`` channel per
    input feature, after the covariates (the dataset then holds the filled inputs and the
    observed channels instead of the scaled inputs).

    Args:
        data: a :class:`SensorSeries`, or ``(values, mask)`` arrays or tensors
            ``[time, sensors, features]`` (a view of numpy arrays is kept, not a copy).
        lookback: input steps :math:`L` (default 12: one hour at 5 minutes).
        horizon: steps ahead :math:`H` (default 12).
        starts: window starts, e.g. ``split.train``; default every start where a window fits.
        input_features: features in ``x`` (names or positions; default all).
        target_features: features in ``y`` (default the first one: speed for METR-LA, flow
            for PEMS0x, the forecast target of DCRNN and ASTGCN).
        scaler: a fitted :class:`StandardScaler` (or :class:`MaxScaler`) over the series' features, or None.
        covariates: names from :mod:`stgraph.data.covariates` (``"time_of_day"``, ...; needs
            a series for its timestamps), or an array ``[time, K]`` (same for every sensor)
            or ``[time, sensors, K]``.
        missing_inputs: ``zero`` or ``mask`` (:func:`fill_missing_inputs`).

    Shapes:
        ``dataset[i]`` -> ``x [L, N, F_in + K]`` (``[L, N, 2 F_in + K]`` with ``mask``), ``y [H, N, C]``, ``mask [H, N, C]`` (bool);
        :meth:`batch` -> the same with a leading batch axis.
    """

    def __init__(
        self,
        data: SensorSeries | tuple[Any, Any],
        *,
        lookback: int = 12,
        horizon: int = 12,
        starts: Sequence[int] | np.ndarray | torch.Tensor | None = None,
        input_features: Sequence[int | str] | None = None,
        target_features: Sequence[int | str] | None = None,
        scaler: StandardScaler | None = None,
        covariates: Sequence[str] | np.ndarray | torch.Tensor | None = None,
        missing_inputs: str = "zero",
    ) -> None:
        for name, value in (("lookback", lookback), ("horizon", horizon)):
            if int(value) != value or value < 1:
                raise SensorDataError(f"{name} must be a positive integer, got {value!r}")
        self.lookback, self.horizon = int(lookback), int(horizon)
        if isinstance(data, SensorSeries):
            raw_values, raw_mask = data.values, data.mask
            self.feature_names: list[str] | None = list(data.feature_names)
            self.timestamps: pd.DatetimeIndex | None = data.timestamps
            self.sensor_ids: list[str] | None = list(data.sensor_ids)
        else:
            raw_values, raw_mask = data
            self.feature_names = self.timestamps = self.sensor_ids = None
        if np.shape(raw_values) != np.shape(raw_mask) or len(np.shape(raw_values)) != 3:
            raise ShapeError(
                "WindowDataset expects values and mask [time, sensors, features] of one shape, "
                f"got {list(np.shape(raw_values))} and {list(np.shape(raw_mask))}"
            )
        num_steps, num_sensors, count = (int(n) for n in np.shape(raw_values))
        self.input_index = self._feature_positions(input_features, list(range(count)), count)
        self.target_index = self._feature_positions(target_features, [0], count)
        self.target_scaler: StandardScaler | None = None if scaler is None else scaler.subset(self.target_index)
        self.missing_inputs = missing_inputs
        self._disk = _OnDisk(raw_values, raw_mask, self, scaler) if isinstance(raw_values, np.memmap) else None
        if self._disk is None:
            values, mask = _as_tensor(raw_values, torch.float32), _as_tensor(raw_mask, torch.bool)
            inputs = _select(values, self.input_index)
            if scaler is not None:
                inputs = scaler.transform(inputs, features=self.input_index)
            self.inputs, self.observed = fill_missing_inputs(inputs, _select(mask, self.input_index), missing_inputs)
            self.targets = _select(values, self.target_index)
            self.target_mask = _select(mask, self.target_index)
        self._shape = (num_sensors, len(self.input_index), len(self.target_index))
        self.covariates = self._covariates(covariates, num_steps, num_sensors)

        span = self.lookback + self.horizon
        if starts is None:
            starts = torch.arange(0, max(num_steps - span + 1, 0), dtype=torch.int64)
        starts = torch.as_tensor(np.asarray(starts), dtype=torch.int64).reshape(-1)
        outside = torch.nonzero((starts < 0) | (starts > num_steps - span)).flatten()
        if outside.numel():
            raise SensorDataError(
                f"{outside.numel()} window starts do not fit {num_steps} steps with lookback + horizon = {span} "
                f"(first: {int(starts[outside[0]])}; valid starts are 0..{num_steps - span})"
            )
        self.starts = starts
        self._input_offsets = torch.arange(self.lookback)
        self._target_offsets = torch.arange(self.lookback, span)

    # --- sizes -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.starts)

    @property
    def num_sensors(self) -> int:
        """Sensors per window (the ``nodes`` axis)."""
        return self._shape[0]

    @property
    def in_features(self) -> int:
        """Features per sensor in ``x``: inputs plus covariates (plus one observed channel per
        input with ``missing_inputs="mask"``)."""
        extra = 0 if self.covariates is None else self.covariates.shape[-1]
        observed = self._shape[1] if self.missing_inputs == "mask" else 0
        return self._shape[1] + extra + observed

    @property
    def out_channels(self) -> int:
        """Channels per sensor in ``y``."""
        return self._shape[2]

    # --- samples -----------------------------------------------------------------------
    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        start = int(self.starts[index])
        middle, end = start + self.lookback, start + self.lookback + self.horizon
        return (self._inputs(slice(start, middle)), *self._targets(slice(middle, end)))

    def batch(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gather windows ``indices`` with one index operation per tensor (the trainer's fast path).

        Shapes:
            -> ``x [B, L, N, F_in + K]``, ``y [B, H, N, C]``, ``mask [B, H, N, C]``
        """
        starts = self.starts[torch.as_tensor(indices, dtype=torch.int64)]
        input_steps = starts[:, None] + self._input_offsets
        target_steps = starts[:, None] + self._target_offsets
        return (self._inputs(input_steps), *self._targets(target_steps))

    def forecast_times(self, index: int) -> pd.DatetimeIndex:
        """Timestamps of the ``horizon`` target steps of window ``index`` (series input only)."""
        if self.timestamps is None:
            raise SensorDataError("forecast_times needs a WindowDataset built from a SensorSeries (arrays carry no timestamps)")
        start = int(self.starts[index]) + self.lookback
        return self.timestamps[start : start + self.horizon]

    # --- helpers -----------------------------------------------------------------------
    def _inputs(self, steps: slice | torch.Tensor) -> torch.Tensor:
        """``x`` at ``steps``: inputs ‖ covariates ‖ observed channels (:func:`fill_missing_inputs`);
        a view of the inputs when there is nothing to append (in memory)."""
        if self._disk is not None:
            inputs, observed = self._disk.inputs(steps)
        else:
            inputs, observed = self.inputs[steps], None if self.observed is None else self.observed[steps]
        parts = [inputs]
        if self.covariates is not None:
            parts.append(self._expand(self.covariates[steps]))
        if observed is not None:
            parts.append(observed)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def _targets(self, steps: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, mask)`` at ``steps``."""
        if self._disk is not None:
            return self._disk.targets(steps)
        return self.targets[steps], self.target_mask[steps]

    def _expand(self, covariates: torch.Tensor) -> torch.Tensor:
        """``[..., K]`` per step -> ``[..., N, K]`` (a broadcast view); per-sensor ones pass through."""
        if self._covariates_per_sensor:
            return covariates
        return covariates.unsqueeze(-2).expand(*covariates.shape[:-1], self.num_sensors, covariates.shape[-1])

    def _feature_positions(self, features: Sequence[int | str] | None, default: list[int], count: int) -> list[int]:
        if features is None:
            return default
        features = [features] if isinstance(features, (str, int)) else list(features)
        return feature_positions(features, self.feature_names, count)

    def _covariates(
        self, covariates: Sequence[str] | np.ndarray | torch.Tensor | None, num_steps: int, num_sensors: int
    ) -> torch.Tensor | None:
        self._covariates_per_sensor = False
        if covariates is None:
            return None
        if isinstance(covariates, str) or (isinstance(covariates, Sequence) and all(isinstance(c, str) for c in covariates)):
            if self.timestamps is None:
                raise SensorDataError(
                    "covariates by name need a SensorSeries (for its timestamps); pass an array [time, K] instead"
                )
            return torch.from_numpy(time_covariates(self.timestamps, covariates))
        table = _as_tensor(covariates, torch.float32)
        if table.dim() == 3 and tuple(table.shape[:2]) == (num_steps, num_sensors):
            self._covariates_per_sensor = True
            return table
        if table.dim() != 2 or table.shape[0] != num_steps:
            raise ShapeError(
                f"covariates must be [time, K] or [time, sensors, K] with time = {num_steps}, "
                f"sensors = {num_sensors}; got {list(table.shape)}"
            )
        return table


class _OnDisk:
    """The readings of a memory-mapped series (:mod:`stgraph.data.memmap`), read per window or
    batch: only the steps asked for are read, then selected, scaled and filled exactly as the
    in-memory path does once for the whole series (element by element, so to the same bits).

    Shapes:
        steps: a slice or int64 ``[...]`` of step positions -> tensors ``[..., sensors, features]``
    """

    def __init__(self, values: np.ndarray, mask: np.ndarray, windows: WindowDataset, scaler: StandardScaler | None) -> None:
        self.values, self.mask, self.scaler = values, mask, scaler
        self.input_index, self.target_index = windows.input_index, windows.target_index
        self.missing_inputs = windows.missing_inputs

    def _read(self, array: np.ndarray, steps: slice | torch.Tensor, positions: list[int]) -> torch.Tensor:
        rows = array[steps if isinstance(steps, slice) else steps.numpy()]
        return torch.from_numpy(np.ascontiguousarray(rows[..., positions]))

    def inputs(self, steps: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        inputs = self._read(self.values, steps, self.input_index)
        if self.scaler is not None:
            inputs = self.scaler.transform(inputs, features=self.input_index)
        return fill_missing_inputs(inputs, self._read(self.mask, steps, self.input_index), self.missing_inputs)

    def targets(self, steps: slice | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._read(self.values, steps, self.target_index), self._read(self.mask, steps, self.target_index)


def _as_tensor(data: Any, dtype: torch.dtype) -> torch.Tensor:
    """A tensor sharing memory with ``data`` where dtypes allow (numpy arrays included)."""
    if isinstance(data, torch.Tensor):
        return data if data.dtype == dtype else data.to(dtype)
    array = np.asarray(data)
    tensor = torch.from_numpy(array) if array.flags.writeable else torch.from_numpy(array.copy())
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def _select(tensor: torch.Tensor, positions: list[int]) -> torch.Tensor:
    """Features ``positions`` of ``[time, sensors, features]``: a view when they are consecutive."""
    count = tensor.shape[2]
    for position in positions:
        if not 0 <= position < count:
            raise SensorDataError(f"feature position {position} out of range for {count} features")
    first = positions[0] if positions else 0
    if positions == list(range(first, first + len(positions))):
        return tensor[:, :, first : first + len(positions)]
    return tensor[:, :, positions]
