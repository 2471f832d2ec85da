"""Score a trained model on a split, and write what a run reports: metrics, predictions, plots.

Evaluation is a plain loop on one device (no Lightning), so the numbers do not depend on how
training was distributed: every window of the split is scored exactly once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from stgraph.data.scaling import StandardScaler
from stgraph.errors import GraphError, SensorDataError
from stgraph.io.atomic import atomic_write
from stgraph.metrics.intervals import IntervalMetrics, interval_metrics
from stgraph.metrics.report import intervals_summary, metrics_summary
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.calibration import (
    CALIBRATION_FILE,
    Calibration,
    calibrate,
    fit_scale,
    forecast_hours,
    interval_levels,
    load_calibration,
)
from stgraph.pipeline.compare import Comparison, compare_split, split_key
from stgraph.pipeline.config import ExperimentConfig
from stgraph.pipeline.data import PreparedData, prepare_data
from stgraph.pipeline.model_file import RunModel, load_model_file
from stgraph.pipeline.run_dir import CONFIG_FILE, METRICS_FILE, MODEL_FILE, load_run_config
from stgraph.pipeline.run_report import write_run_report
from stgraph.pipeline.scoring import score_split
from stgraph.pipeline.window_forecasts import forecast_quantile_windows, forecast_windows
from stgraph.report.export import Predictions

__all__ = [
    "calibrate_forecasts",
    "calibrate_run",
    "evaluate_run",
    "forecast_quantile_windows",
    "forecast_windows",
    "interval_entries",
    "interval_scores",
    "load_run_data",
    "predict_split",
    "update_metrics_file",
    "with_intervals",
]


def predict_split(
    model: torch.nn.Module,
    data: PreparedData,
    part: str,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    limit: int | None = None,
) -> Predictions:
    """Forecasts of ``model`` for every window of ``part`` (at most ``limit`` of them, evenly
    spaced), in original units, with their times and sensors; for a
    :class:`~stgraph.nn.QuantileHead`, every level too, and its median as the forecast.

    Shapes:
        -> :class:`Predictions` with ``[windows, horizon, nodes, channels]`` arrays.
    """
    quantiles, levels = None, None
    windows = data.windows(part, limit=limit)
    if isinstance(model, QuantileHead):
        quantiles, target, mask = forecast_quantile_windows(model, data.graph, windows, batch_size=batch_size, device=device)
        prediction, levels = quantiles[..., model.median], model.quantiles
    else:
        prediction, target, mask = forecast_windows(model, data.graph, windows, batch_size=batch_size, device=device)
    starts = windows.starts.numpy()
    first_step = data.series.timestamps[starts + data.split.lookback] if len(starts) else pd.DatetimeIndex([])
    return Predictions(
        prediction=np.ascontiguousarray(prediction),
        target=target,
        mask=mask,
        first_step=pd.DatetimeIndex(first_step),
        interval=data.series.interval,
        sensor_ids=data.graph.sensor_ids,
        channels=list(data.target_features),
        quantiles=quantiles,
        levels=levels,
    )


#: training windows, evenly spaced, that a locally weighted scale is fitted on
SCALE_WINDOWS = 2048


def calibrate_run(
    model: torch.nn.Module,
    data: PreparedData,
    coverage: float,
    *,
    per_sensor: bool = False,
    scale: str = "none",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> Calibration:
    """Conformal margins at ``coverage`` from ``model``'s forecasts of the validation split
    (:func:`stgraph.pipeline.calibration.calibrate`); with ``scale`` other than ``none``, on
    locally weighted scores whose scale is fitted on at most :data:`SCALE_WINDOWS` training
    windows (:func:`~stgraph.pipeline.calibration.fit_scale`).

    Raises:
        SensorDataError: the validation split has no windows to calibrate on.
    """
    if data.split.sizes()["val"] == 0:
        raise SensorDataError(f"{data.name}: the validation split has no windows to calibrate intervals on")
    validation = predict_split(model, data, "val", batch_size=batch_size, device=device)
    training = None
    if scale != "none" and data.split.sizes()["train"]:
        training = predict_split(model, data, "train", batch_size=batch_size, device=device, limit=SCALE_WINDOWS)
    return calibrate_forecasts(validation, training, coverage, per_sensor=per_sensor, scale=scale)


def calibrate_forecasts(
    validation: Predictions,
    training: Predictions | None,
    coverage: float,
    *,
    per_sensor: bool = False,
    scale: str = "none",
) -> Calibration:
    """:func:`calibrate_run` from forecasts already made: conformal margins from ``validation``,
    with the ``scale`` fitted on ``training`` (forecasts of training windows; unused, and may be
    ``None``, when ``scale`` is ``none``). Several calibrations of one model thus share one
    forecast of each split.
    """
    weights: np.ndarray | None = None
    if scale != "none" and training is not None and len(training.target):
        weights = fit_scale(training.prediction, training.target, training.mask, _hours(training), scale)
    quantiles = validation.quantiles  # CQR on a quantile model's levels
    return calibrate(
        validation.prediction if quantiles is None else quantiles,
        validation.target,
        validation.mask,
        coverage,
        quantiles=None if quantiles is None else validation.levels,
        per_sensor=per_sensor,
        scale=weights,
        scale_kind=scale,
        hours=_hours(validation),
    )


def _hours(predictions: Predictions) -> np.ndarray:
    """Hour of day of every forecast step of ``predictions``: ``[windows, horizon]``."""
    return forecast_hours(predictions.first_step, predictions.target.shape[1], predictions.interval)


def with_intervals(predictions: Predictions, calibration: Calibration) -> Predictions:
    """``predictions`` with ``lower`` and ``upper`` from ``calibration``."""
    forecast = predictions.prediction if calibration.bounds is None else predictions.quantiles
    if forecast is None:
        raise ValueError("a CQR calibration needs the predictions' quantiles (a quantile model's predict_split)")
    lower, upper = calibration.interval(forecast, _hours(predictions), dtype=np.float32)
    return dataclasses.replace(predictions, lower=lower, upper=upper)


def interval_scores(predictions: Predictions, coverage: float) -> IntervalMetrics:
    """Coverage, width, Winkler score and CRPS of ``predictions``' interval, per horizon step.

    CRPS and pinball loss are those of a quantile model's own levels; a point forecast with
    its interval is scored as the quantile set ``[lower, prediction, upper]`` at levels
    ``[(1 - c) / 2, 0.5, (1 + c) / 2]`` (:func:`~stgraph.metrics.intervals.interval_metrics`).
    """
    if predictions.lower is None or predictions.upper is None:
        raise ValueError("interval_scores needs predictions with lower and upper (with_intervals)")
    quantiles: np.ndarray | list[np.ndarray]
    if predictions.quantiles is not None and predictions.levels is not None:
        quantiles, levels = predictions.quantiles, predictions.levels
    else:
        low, high = interval_levels(coverage)
        quantiles = [predictions.lower, predictions.prediction, predictions.upper]  # stacked a block at a time
        levels = (low, 0.5, high)
    return interval_metrics(
        predictions.lower,
        predictions.upper,
        predictions.target,
        coverage=coverage,
        quantile_forecast=quantiles,
        quantiles=levels,
        mask=predictions.mask,
    )


def interval_entries(scores: IntervalMetrics, calibration: Calibration, part: str, interval: pd.Timedelta) -> dict[str, Any]:
    """``metrics.json``'s ``"intervals"`` block of ``part`` (``"intervals_val"`` for another
    split; keyed like ``"test"``) and ``"calibration"`` (method, pooled or per sensor, windows)."""
    return {
        split_key("intervals", part): intervals_summary(scores, interval),
        "calibration": {
            "coverage": calibration.coverage,
            "method": calibration.method,
            "per_sensor": calibration.per_sensor,
            "scale": calibration.scale_kind,
            "windows": calibration.windows,
        },
    }


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null (JSON has no NaN); containers are walked."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def update_metrics_file(path: Path, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into ``metrics.json`` (created if absent), atomically."""
    current = json.loads(path.read_text()) if path.is_file() else {}
    current.update(changes)
    with atomic_write(path) as handle:
        json.dump(_json_safe(current), handle, indent=2, allow_nan=False)
        handle.write("\n")
    return current


def load_run_data(run_dir: str | os.PathLike[str]) -> tuple[RunModel, PreparedData]:
    """The best model of the finished run ``run_dir`` and its data, rebuilt from ``config.yaml``
    and scaled with the statistics stored in ``model.pt``.

    Raises:
        GraphError: the graph built from the data files is not the one the model was trained on
            (another fingerprint: the files changed since training).
    """
    run_dir = Path(run_dir)
    best = load_model_file(run_dir / MODEL_FILE)
    config = ExperimentConfig.from_dict(load_run_config(run_dir), source=str(run_dir / CONFIG_FILE))
    data = prepare_data(config.data, scaler=StandardScaler.from_state_dict(best.state["scaler"]))
    if data.graph.fingerprint() != best.state["graph"]["fingerprint"]:
        raise GraphError(
            f"{run_dir}: the graph built from the run's data files differs from the one the model was trained on "
            "(the files changed since training)"
        )
    return best, data


def evaluate_run(
    run_dir: str | Path, split: str = "test", *, batch_size: int = 64, device: str | torch.device = "cpu"
) -> tuple[Comparison, PreparedData]:
    """Re-score the best model of the finished run ``run_dir`` on ``split``, beside the
    baselines on the same windows, and update the run.

    The data are rebuilt from the run's ``config.yaml`` and scaled with the statistics stored
    in ``model.pt``; the graph built from the data files must be the one the model was trained
    on (same fingerprint). Writes ``predictions_<split>.npz`` (with the interval of the run's
    ``calibration.npz``, when it has one), ``sensors_<split>.csv`` and the plots
    (:func:`~stgraph.pipeline.scoring.score_split`, a block of windows at a time), the split's entry in ``metrics.json``
    (and its ``"intervals"`` block) with its comparison (:mod:`stgraph.pipeline.compare`: ``"baselines"``,
    ``"beats_baselines"`` and ``"shortfalls"`` for the test split, ``"baselines_val"`` ... for
    another) and rewrites ``report.md``.

    Returns:
        the comparison (its ``model`` is the split's metrics) and the prepared data.

    Raises:
        GraphError: the data files changed since training (another graph).
        SensorDataError: ``split`` has no windows.
    """
    run_dir = Path(run_dir)
    best, data = load_run_data(run_dir)
    if data.split.sizes()[split] == 0:
        raise SensorDataError(f"{run_dir}: the {split} split has no windows")
    calibration = load_calibration(run_dir / CALIBRATION_FILE) if (run_dir / CALIBRATION_FILE).is_file() else None
    scores = score_split(best.model, data, split, run_dir, calibration=calibration, batch_size=batch_size, device=device)
    changes: dict[str, Any] = {}
    if calibration is not None and scores.intervals is not None:
        changes = interval_entries(scores.intervals, calibration, split, data.series.interval)
    comparison = compare_split(data, split, scores.metrics)
    changes.update({split: metrics_summary(scores.metrics, data.series.interval), **comparison.metrics_entries()})
    update_metrics_file(run_dir / METRICS_FILE, changes)
    write_run_report(run_dir, data)
    return comparison, data
