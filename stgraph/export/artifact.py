r"""The exported forecaster: a run's model with its input and output handling inside, as one module.

:class:`ForecastArtifact` turns readings in original units into forecasts in original units,
exactly as :mod:`stgraph.pipeline.forecast` does around the eager model:

1. a reading that is NaN or equals the run's ``null_value`` is missing and enters as 0 (the
   value :func:`~stgraph.data.load.load_series` stores), then every reading is z-scored with
   the training statistics, :math:`(x - \mu) / \sigma`; a run with ``data.missing_inputs:
   mask`` then sets missing ones to 0 (the training mean) and appends one observed channel per
   feature after the calendar (:func:`~stgraph.data.windows.fill_missing_inputs`);
2. the calendar covariates are computed from ``timestamps`` (int64 seconds since 1970-01-01
   on the readings' own naive clock): time of day :math:`(t \bmod 86400) / 86400` and day of
   week :math:`(\lfloor t / 86400 \rfloor + 3) \bmod 7` (1970-01-01 was a Thursday, Monday is
   0), as an index or a one-hot, appended to every sensor's features;
3. the model, with the run's graph operators baked in as constants (the export path of
   :func:`stgraph.ops.propagate`);
4. :math:`z\sigma + \mu` with the targets' statistics; for a run with ``calibration.npz`` the
   conformal interval (:meth:`~stgraph.pipeline.calibration.Calibration.interval`; with a
   locally weighted scale, its margin at the hour of day of each forecast step, the last
   timestamp plus :math:`h` intervals), and for a quantile run every level.

Inputs are arguments, not a dict, so that every exporter sees two plain tensors; outputs are a
tuple in the order of :attr:`ForecastArtifact.output_names`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from stgraph.data.covariates import COVARIATES
from stgraph.data.windows import fill_missing_inputs
from stgraph.errors import RunError
from stgraph.graph import SensorGraph
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.calibration import Calibration
from stgraph.pipeline.model_file import RunModel

__all__ = ["ForecastArtifact", "seconds_since_epoch"]

SECONDS_PER_DAY = 86400


def seconds_since_epoch(timestamps: Any) -> np.ndarray:
    """Naive timestamps (pandas, NumPy ``datetime64``) as int64 seconds since 1970-01-01 00:00."""
    values = np.asarray(timestamps, dtype="datetime64[s]")
    return values.astype(np.int64)


class ForecastArtifact(nn.Module):
    """A run's forecaster from readings in units to forecasts in units (see the module notes).

    Args:
        run: the loaded ``model.pt``.
        calibration: the run's ``calibration.npz``, or None for forecasts without intervals.
        model: the module to run instead of ``run.model`` (the same model reduced:
            :mod:`stgraph.export.reduce`); it computes in its weights' dtype.

    Shapes:
        readings: ``[batch, lookback, sensors, features]`` float32, NaN = missing;
        timestamps: ``[batch, lookback]`` int64 ->
        forecast, lower, upper: ``[batch, horizon, sensors, channels]``;
        quantiles: ``[batch, horizon, sensors, channels, levels]``.
    """

    input_mean: Tensor
    input_std: Tensor
    target_mean: Tensor
    target_std: Tensor
    margin: Tensor
    scale: Tensor

    def __init__(self, run: RunModel, calibration: Calibration | None = None, *, model: nn.Module | None = None) -> None:
        super().__init__()
        data = run.state["data"]
        self.model = (run.model if model is None else model).eval()
        parameter = next(iter(self.model.parameters()), None)
        #: the dtype the model computes in (float16 / bfloat16 for a reduced artifact)
        self.compute_dtype = torch.float32 if parameter is None or not parameter.is_floating_point() else parameter.dtype
        self.graph: SensorGraph = run.graph
        self.lookback = int(data["lookback"])
        self.horizon = int(data["horizon"])
        self.sensors = len(run.sensor_ids)
        self.features = list(data["features"])
        self.targets = list(data["targets"])
        self.covariates = list(data["covariates"])
        unknown = [name for name in self.covariates if name not in COVARIATES]
        if unknown:
            raise RunError(f"the run's covariates {unknown} are not ones stgraph computes ({', '.join(COVARIATES)})")
        self.null_value = None if data["null_value"] is None else float(data["null_value"])
        #: how missing readings enter the model (:func:`~stgraph.data.windows.fill_missing_inputs`)
        self.missing_inputs = str(data.get("missing_inputs", "zero"))
        self.quantile_levels: tuple[float, ...] | None = self.model.quantiles if isinstance(self.model, QuantileHead) else None
        scaler = run.state["scaler"]
        names = list(scaler["names"])
        inputs, targets = _positions(names, self.features), _positions(names, self.targets)
        mean, std = scaler["mean"].to(torch.float32), scaler["std"].to(torch.float32)
        self.register_buffer("input_mean", mean[..., inputs].clone())
        self.register_buffer("input_std", std[..., inputs].clone())
        self.register_buffer("target_mean", mean[..., targets].clone())
        self.register_buffer("target_std", std[..., targets].clone())
        self.bounds: tuple[int, int] | None = None
        #: the margins follow the forecast step's hour of day (``scale`` [horizon, 24, nodes, channels])
        self.scaled = False
        self.scale_kind = "none"
        self.coverage: float | None = None
        if calibration is not None:
            if calibration.bounds is not None and self.quantile_levels is None:
                raise RunError("calibration.npz holds CQR margins, but the run's model forecasts no quantiles")
            self.bounds = calibration.bounds
            self.coverage = calibration.coverage
            self.register_buffer("margin", torch.from_numpy(np.asarray(calibration.margin, dtype=np.float32)))
            if calibration.scale is not None:
                self.scaled, self.scale_kind = True, calibration.scale_kind
                self.register_buffer("scale", torch.from_numpy(np.asarray(calibration.scale, dtype=np.float32)))
                self.step_seconds = int(run.interval.total_seconds())

    @staticmethod
    def is_quantile_run(run: RunModel) -> bool:
        """Whether ``run``'s model forecasts quantile levels."""
        return isinstance(run.model, QuantileHead)

    @property
    def output_names(self) -> list[str]:
        """Names of :meth:`forward`'s outputs, in order."""
        names = ["forecast"]
        if self.coverage is not None:
            names += ["lower", "upper"]
        if self.quantile_levels is not None:
            names.append("quantiles")
        return names

    def calendar(self, timestamps: Tensor) -> Tensor:
        """The run's covariates of each step, float32 ``[batch, lookback, K]`` (as ``time_covariates``)."""
        columns = []
        days = _floor_div(timestamps, SECONDS_PER_DAY)
        for name in self.covariates:
            if name == "time_of_day":
                # float64 like pandas' elapsed / 1 day, then float32: the same rounding
                seconds = (timestamps - days * SECONDS_PER_DAY).to(torch.float64)
                columns.append((seconds / SECONDS_PER_DAY).to(torch.float32)[..., None])
            else:
                weekday = torch.remainder(days + 3, 7)
                if name == "day_of_week":
                    columns.append(weekday.to(torch.float32)[..., None])
                else:
                    levels = torch.arange(7, dtype=weekday.dtype, device=weekday.device)
                    columns.append((weekday[..., None] == levels).to(torch.float32))
        return torch.cat(columns, dim=-1)

    def model_inputs(self, readings: Tensor, timestamps: Tensor) -> Tensor:
        """What the model is fed: readings scaled (missing ones as 0 first), then the calendar, then
        (``data.missing_inputs: mask``) missing readings at the training mean and one observed
        channel per feature, as :func:`~stgraph.data.windows.fill_missing_inputs` builds them.

        Shapes:
            -> ``[batch, lookback, sensors, features + covariates (+ features)]``
        """
        missing = torch.isnan(readings)
        if self.null_value is not None:
            missing = missing | (readings == self.null_value)
        values = torch.where(missing, torch.zeros_like(readings), readings)
        inputs, observed = fill_missing_inputs((values - self.input_mean) / self.input_std, ~missing, self.missing_inputs)
        if self.covariates:
            calendar = self.calendar(timestamps)
            batch, steps, sensors = inputs.shape[0], inputs.shape[1], inputs.shape[2]
            calendar = calendar[:, :, None, :].expand(batch, steps, sensors, calendar.shape[-1])
            inputs = torch.cat([inputs, calendar], dim=-1)
        if observed is not None:  # data.missing_inputs = mask: the observed channels come last
            inputs = torch.cat([inputs, observed], dim=-1)
        return inputs

    def forward(self, readings: Tensor, timestamps: Tensor) -> tuple[Tensor, ...]:
        inputs = self.model_inputs(readings, timestamps).to(self.compute_dtype)
        levels: Tensor | None = None
        if isinstance(self.model, QuantileHead):
            scaled_levels = self.model.quantile_forecast(inputs, self.graph).float()
            levels = scaled_levels * self.target_std[..., None] + self.target_mean[..., None]
            point = scaled_levels[..., self.model.median]
        else:
            point = self.model(inputs, self.graph).float()
        forecast = point * self.target_std + self.target_mean
        outputs = [forecast]
        if self.coverage is not None:
            if self.bounds is None or levels is None:
                low, high = forecast, forecast
            else:
                low, high = levels[..., self.bounds[0]], levels[..., self.bounds[1]]
            margin = self.hourly_margin(timestamps) if self.scaled else self.margin
            outputs += [low - margin, high + margin]
        if levels is not None:
            outputs.append(levels)
        return tuple(outputs)

    def hourly_margin(self, timestamps: Tensor) -> Tensor:
        """The margin at the hour of day of each forecast step (the last input step plus ``h`` steps).

        Shapes:
            timestamps: ``[batch, lookback]`` -> ``[batch, horizon, sensors or 1, channels]``
        """
        ahead = torch.arange(1, self.horizon + 1, dtype=timestamps.dtype, device=timestamps.device) * self.step_seconds
        hours = torch.remainder(_floor_div(timestamps[:, -1:] + ahead, 3600), 24)
        # one flat index per (window, step) into [horizon * 24, ...]: a plain Gather in every format
        flat = (torch.arange(self.horizon, device=timestamps.device)[None, :] * 24 + hours).reshape(-1)
        table = self.scale.reshape(self.horizon * 24, *self.scale.shape[2:])
        return self.margin * table.index_select(0, flat).reshape(*hours.shape, *self.scale.shape[2:])

    def example_inputs(self, batch: int = 2, start: int = 1330560000) -> tuple[Tensor, Tensor]:
        """Inputs of the right shapes and dtypes for tracing (readings 50, 5-minute steps from ``start``)."""
        readings = torch.full((batch, self.lookback, self.sensors, len(self.features)), 50.0)
        steps = torch.arange(self.lookback, dtype=torch.int64) * 300 + start
        return readings, steps.expand(batch, self.lookback).contiguous()


def _floor_div(seconds: Tensor, divisor: int) -> Tensor:
    """``seconds // divisor`` for int64 seconds, exact in every format: ONNX exports an integer
    floor division through float32, whose 128-second steps at today's epoch seconds put a
    reading at 19:00 in hour 18; float64 holds every int64 second up to 2^53 exactly."""
    return torch.floor(seconds.to(torch.float64) / divisor).to(torch.int64)


def _positions(names: list[str], wanted: list[str]) -> list[int]:
    """Positions of ``wanted`` among the scaler's feature ``names`` (all of them when unnamed)."""
    if not names:
        return list(range(len(wanted)))
    missing = [name for name in wanted if name not in names]
    if missing:
        raise RunError(f"model.pt: the scaler has no statistics for features {missing} (it has {names})")
    return [names.index(name) for name in wanted]
