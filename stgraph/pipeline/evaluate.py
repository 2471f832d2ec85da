"""Score a trained model on a split, and write what a run reports: metrics, predictions, plots.

Evaluation is a plain loop on one device (no Lightning), so the numbers do not depend on how
training was distributed: every window of the split is scored exactly once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from stgraph.data.scaling import StandardScaler
from stgraph.data.windows import WindowDataset
from stgraph.errors import GraphError, SensorDataError
from stgraph.graph import SensorGraph
from stgraph.io.atomic import atomic_write
from stgraph.metrics.intervals import IntervalMetrics, interval_metrics
from stgraph.metrics.masked import HorizonMetrics, horizon_metrics
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
from stgraph.pipeline.data import PreparedData, prepare_data, window_loader
from stgraph.pipeline.model_file import RunModel, load_model_file
from stgraph.pipeline.run_dir import CONFIG_FILE, METRICS_FILE, MODEL_FILE, load_run_config
from stgraph.pipeline.run_report import write_run_report
from stgraph.report.export import Predictions, save_predictions

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
    "write_report",
]


def forecast_windows(
    model: torch.nn.Module,
    graph: SensorGraph,
    windows: WindowDataset,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forecasts of ``model`` (in evaluation mode, moved to ``device``) for every window, in order,
    with the targets and their mask, all in original units.

    ``windows`` carries the scaler (:meth:`PreparedData.windows`): the model reads scaled inputs
    and its forecasts are inverted with ``windows.target_scaler``.

    Shapes:
        -> forecast and target float32, mask bool: ``[windows, horizon, nodes, channels]``
    """
    device = torch.device(device)
    model = model.to(device).eval()
    return _forecast_all(lambda x: model(x.to(device), graph), windows, batch_size, ())


def forecast_quantile_windows(
    model: QuantileHead,
    graph: SensorGraph,
    windows: WindowDataset,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`forecast_windows` for every quantile level of a :class:`~stgraph.nn.QuantileHead`.

    Shapes:
        -> quantiles float32 ``[windows, horizon, nodes, channels, quantiles]``; target, mask
        ``[windows, horizon, nodes, channels]``
    """
    device = torch.device(device)
    model = model.to(device).eval()
    # [Q, ...] in front: the scaler's [channels] (or [nodes, channels]) statistics broadcast over it
    return _forecast_all(
        lambda x: model.quantile_forecast(x.to(device), graph).movedim(-1, 0),
        windows,
        batch_size,
        (len(model.quantiles),),
        levels_first=True,
    )


@torch.no_grad()
def _forecast_all(
    forecast: Callable[[torch.Tensor], torch.Tensor],
    windows: WindowDataset,
    batch_size: int,
    levels: tuple[int, ...],
    *,
    levels_first: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``forecast`` of every batch in original units, with targets and masks (``levels``: the
    shape ``forecast`` adds, moved from the front to the back when ``levels_first``)."""
    scaler = windows.target_scaler
    if scaler is None:
        raise ValueError(
            "forecast_windows needs windows built with the training scaler (PreparedData.windows): "
            "the model forecasts in scaled units"
        )
    count, shape = len(windows), (windows.horizon, windows.num_sensors, windows.out_channels)
    # filled batch by batch: memory holds the results once, never a list of parts and their concatenation
    forecasts = np.zeros((count, *shape, *levels), dtype=np.float32)
    targets, masks = np.zeros((count, *shape), dtype=np.float32), np.zeros((count, *shape), dtype=bool)
    done = 0
    for x, y, mask in window_loader(windows, batch_size=batch_size, shuffle=False):
        original = scaler.inverse_transform(forecast(x).float())
        batch = (original.movedim(0, -1) if levels_first else original).cpu().numpy()
        if done == 0 and batch.shape[1:] != forecasts.shape[1:]:  # a model whose horizon is not the windows' own
            forecasts = np.zeros((count, *batch.shape[1:]), dtype=np.float32)
        rows = slice(done, done + len(y))
        forecasts[rows], targets[rows], masks[rows] = batch, y.numpy(), mask.numpy()
        done += len(y)
    if done != len(windows):  # the loader is this process's, unsharded: every window, once
        raise RuntimeError(f"forecast {done} of {len(windows)} windows")
    return forecasts, targets, masks


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


def write_report(run_dir: Path, part: str, predictions: Predictions, data: PreparedData) -> HorizonMetrics:
    """Write ``predictions_<part>.npz`` and the plots for ``part``; return its metrics.

    The plots need matplotlib (the ``train`` extra), imported here and nowhere else on this path.
    """
    from stgraph.report.plots import plot_error_by_horizon, plot_forecasts, plot_sensor_map, sensor_mae

    metrics = horizon_metrics(predictions.prediction, predictions.target, mask=predictions.mask)
    save_predictions(run_dir / f"predictions_{part}.npz", predictions)
    plots = run_dir / "plots"
    plot_forecasts(plots / f"forecasts_{part}.png", predictions, units=data.units)
    plot_error_by_horizon(
        plots / f"error_by_horizon_{part}.png", metrics, interval=predictions.interval, units=data.units, split=part
    )
    if data.graph.coordinates is not None:
        plot_sensor_map(plots / f"sensor_map_{part}.png", data.graph.coordinates, sensor_mae(predictions), units=data.units)
    return metrics


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
    ``calibration.npz``, when it has one), the plots, the split's entry in ``metrics.json``
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
    predictions = predict_split(best.model, data, split, batch_size=batch_size, device=device)
    changes: dict[str, Any] = {}
    if (run_dir / CALIBRATION_FILE).is_file():
        calibration = load_calibration(run_dir / CALIBRATION_FILE)
        predictions = with_intervals(predictions, calibration)
        scores = interval_scores(predictions, calibration.coverage)
        changes = interval_entries(scores, calibration, split, data.series.interval)
    metrics = write_report(run_dir, split, predictions, data)
    comparison = compare_split(data, split, metrics)
    changes.update({split: metrics_summary(metrics, data.series.interval), **comparison.metrics_entries()})
    update_metrics_file(run_dir / METRICS_FILE, changes)
    write_run_report(run_dir, data)
    return comparison, data
