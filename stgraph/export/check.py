"""Parity of an artifact with the eager pipeline, on windows of readings.

The artifact runs in its own runtime (``torch.jit.load`` for TorchScript, ``torch.export.load``
for ``.pt2``, ``onnxruntime`` for ONNX) on windows whose missing readings are NaN; the reference
is :func:`~stgraph.pipeline.forecast.forecast_next` (and ``forecast_next_quantiles``,
:meth:`~stgraph.pipeline.calibration.Calibration.interval`) on the same windows as
:class:`~stgraph.data.series.SensorSeries`, whose missing readings are stored as 0: so the check
covers the scaling, the missing readings, the calendar and the intervals too, not only the model.

The error is relative, :math:`|a - b| / \\max(|b|, 10^{-3} \\max|b|)` (the floor keeps a forecast
near 0 from dividing by nothing); infinite margins must agree exactly.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from stgraph.data.series import SensorSeries
from stgraph.export.artifact import ForecastArtifact, seconds_since_epoch
from stgraph.export.formats import ExportError
from stgraph.pipeline.calibration import Calibration
from stgraph.pipeline.forecast import forecast_next, forecast_next_quantiles, next_hours
from stgraph.pipeline.model_file import RunModel

__all__ = ["Runner", "check_artifact", "eager_outputs", "load_artifact", "relative_error", "synthetic_series", "windows"]

#: a loaded artifact: (readings, timestamps) -> its outputs, NumPy in and out
Runner = Callable[[np.ndarray, np.ndarray], list[np.ndarray]]


def load_artifact(path: str | os.PathLike[str], format: str, *, threads: int | None = None) -> Runner:
    """Load an artifact in its own runtime. TorchScript and ``.pt2`` files run the code they
    hold when loaded: load only artifacts you made. ``threads`` sets onnxruntime's threads per
    operator (torch's are ``torch.set_num_threads``').

    Raises:
        ExportError: ``onnx`` without ``onnxruntime`` installed, or an unknown format.
    """
    path = str(path)
    if format == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise ExportError("checking an ONNX artifact needs onnxruntime: pip install 'stgraph[export]'") from None
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: its notes on kernels it lacks for float16 constant folding
        if threads is not None:
            options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])

        def run_onnx(readings: np.ndarray, timestamps: np.ndarray) -> list[np.ndarray]:
            return [np.asarray(out) for out in session.run(None, {"readings": readings, "timestamps": timestamps})]

        return run_onnx
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "switch to torch.export": the exported format
            load: Callable[..., Callable[..., tuple[torch.Tensor, ...]]] = torch.jit.load  # unannotated in torch
            module = load(path, map_location="cpu")
    elif format == "exported":
        module = torch.export.load(path).module()
    else:
        raise ExportError(f"unknown export format {format!r}")

    def run_torch(readings: np.ndarray, timestamps: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            outputs = module(torch.from_numpy(readings), torch.from_numpy(timestamps))
        return [out.numpy() for out in outputs]

    return run_torch


def windows(series: SensorSeries, lookback: int, count: int) -> list[SensorSeries]:
    """``count`` windows of ``lookback`` steps spread evenly over ``series`` (the last one ends at its end)."""
    last = series.num_steps - lookback
    if last < 0:
        raise ExportError(f"{series.source}: {series.num_steps} steps, fewer than the lookback {lookback}")
    starts = np.unique(np.linspace(0, last, num=max(count, 1)).round().astype(np.int64))
    return [series.slice_time(int(start), int(start) + lookback) for start in starts]


def artifact_inputs(parts: list[SensorSeries]) -> tuple[np.ndarray, np.ndarray]:
    """The artifact's inputs for ``parts``: readings (NaN where missing) and int64 seconds.

    Shapes:
        -> ``[windows, lookback, sensors, features]`` float32, ``[windows, lookback]`` int64
    """
    readings = np.stack([np.where(part.mask, part.values, np.nan) for part in parts]).astype(np.float32)
    timestamps = np.stack([seconds_since_epoch(part.timestamps) for part in parts])
    return readings, timestamps


def eager_outputs(run: RunModel, calibration: Calibration | None, parts: list[SensorSeries]) -> list[np.ndarray]:
    """What the artifact should return for ``parts``, from the eager pipeline (in output order)."""
    forecast = np.stack([forecast_next(run, part) for part in parts])
    outputs = [forecast]
    quantiles = None
    if ForecastArtifact.is_quantile_run(run):
        quantiles = np.stack([forecast_next_quantiles(run, part) for part in parts])
    if calibration is not None:
        bounded = forecast if calibration.bounds is None or quantiles is None else quantiles
        lower, upper = calibration.interval(bounded, next_hours(parts, forecast.shape[1]))
        outputs += [lower, upper]
    if quantiles is not None:
        outputs.append(quantiles)
    return outputs


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest relative difference (see the module notes); inf if shapes or infinities differ."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    finite = np.isfinite(expected)
    if not np.array_equal(actual[~finite], expected[~finite], equal_nan=True):
        return float("inf")
    if not finite.any():
        return 0.0
    a, b = actual[finite], expected[finite]
    floor = max(1e-3 * float(np.abs(b).max()), np.finfo(np.float32).tiny)
    return float((np.abs(a - b) / np.maximum(np.abs(b), floor)).max())


def check_artifact(
    run: RunModel,
    calibration: Calibration | None,
    path: str | os.PathLike[str],
    format: str,
    series: SensorSeries,
    *,
    count: int = 4,
) -> float:
    """Largest relative error of the artifact at ``path`` against the eager pipeline, over every
    output, on ``count`` windows of ``series`` (run's sensors, in its order)."""
    parts = windows(series, int(run.state["data"]["lookback"]), count)
    readings, timestamps = artifact_inputs(parts)
    actual = load_artifact(path, format)(readings, timestamps)
    expected = eager_outputs(run, calibration, parts)
    if len(actual) != len(expected):
        return float("inf")
    return max(relative_error(a, b) for a, b in zip(actual, expected, strict=True))


def synthetic_series(run: RunModel, *, steps: int = 48, seed: int = 0, missing: float = 0.05) -> SensorSeries:
    """Readings drawn around the run's training statistics (for a check without a readings file),
    ``missing`` of them missing, at the run's interval from 2012-03-01 00:00."""
    rng = np.random.default_rng(seed)
    features = list(run.state["data"]["features"])
    names = list(run.state["scaler"]["names"])
    positions = [names.index(name) for name in features] if names else list(range(len(features)))
    mean = run.state["scaler"]["mean"].numpy()[..., positions]
    std = run.state["scaler"]["std"].numpy()[..., positions]
    sensors = len(run.sensor_ids)
    values = (mean + std * rng.standard_normal((steps, sensors, len(features)))).astype(np.float32)
    mask = rng.random(values.shape) >= missing
    timestamps = pd.date_range("2012-03-01", periods=steps, freq=run.interval, name="timestamp")
    return SensorSeries(
        np.where(mask, values, 0.0).astype(np.float32), mask, timestamps, run.sensor_ids, features, source="synthetic readings"
    )
