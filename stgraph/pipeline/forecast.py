r"""Forecast the next ``horizon`` steps from the latest readings, with a trained run's model.

The input is built exactly as :class:`~stgraph.data.windows.WindowDataset` builds a window:
the last ``lookback`` steps of the input features, z-scored with the run's training
statistics, missing readings handled by the run's ``missing_inputs``
(:func:`~stgraph.data.windows.fill_missing_inputs`: ``zero`` keeps their stored value 0, scaled
like any other; ``mask`` fills 0 in scaled units), then the calendar covariates of those steps,
then (``mask``) one observed channel per input feature.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stgraph.data.covariates import time_covariates
from stgraph.data.load import load_series
from stgraph.data.scaling import StandardScaler
from stgraph.data.series import SensorSeries
from stgraph.data.windows import fill_missing_inputs
from stgraph.errors import RunError, SensorDataError
from stgraph.io.outputs import check_not_input
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.calibration import CALIBRATION_FILE, Calibration, forecast_hours, load_calibration
from stgraph.pipeline.data import interval_text
from stgraph.pipeline.model_file import RunModel, load_model_file
from stgraph.report.export import forecast_frame, interval_frame, write_table

__all__ = [
    "check_series",
    "forecast_batch",
    "forecast_batch_quantiles",
    "forecast_inputs",
    "forecast_intervals",
    "forecast_next",
    "forecast_next_quantiles",
    "next_hours",
    "predict_file",
]

logger = logging.getLogger(__name__)


def forecast_inputs(run: RunModel, series: SensorSeries) -> torch.Tensor:
    """The model input for the window that ends at the last step of ``series``.

    ``series`` must already hold the run's sensors in the run's order and its interval.

    Shapes:
        -> ``[1, lookback, nodes, features + covariates]`` float32 (``+ features`` observed
        channels with ``missing_inputs: mask``)
    """
    data = run.state["data"]
    lookback = int(data["lookback"])
    if series.num_steps < lookback:
        raise SensorDataError(
            f"{series.source}: {series.num_steps} steps, but the model needs the last {lookback} "
            f"({lookback * series.interval} of readings)"
        )
    scaler = StandardScaler.from_state_dict(run.state["scaler"])
    positions = series.feature_index(list(data["features"]))
    recent = series.values[-lookback:][..., positions]
    # statistics are looked up by feature name: the file may order its features differently
    scaled: torch.Tensor = scaler.transform(torch.from_numpy(np.ascontiguousarray(recent)), features=list(data["features"]))
    observed = torch.from_numpy(np.ascontiguousarray(series.mask[-lookback:][..., positions]))
    # a model.pt written before data.missing_inputs existed was trained on "zero"
    filled, observed_channels = fill_missing_inputs(scaled, observed, str(data.get("missing_inputs", "zero")))
    parts = [filled]
    covariates = list(data["covariates"])
    if covariates:
        calendar = torch.from_numpy(time_covariates(series.timestamps[-lookback:], covariates))
        parts.append(calendar[:, None, :].expand(lookback, series.num_sensors, calendar.shape[-1]).to(filled.dtype))
    if observed_channels is not None:
        parts.append(observed_channels.to(filled.dtype))
    inputs = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
    return inputs.unsqueeze(0).float()


def check_series(run: RunModel, series: SensorSeries, run_dir: str) -> SensorSeries:
    """Same interval and same sensors as the run (reordered to the run's order), or an error."""
    if series.interval != run.interval:
        raise SensorDataError(
            f"{series.source}, column timestamp: readings every {interval_text(series.interval)}, but the run in "
            f"{run_dir} was trained on readings every {interval_text(run.interval)}"
        )
    return series.align(run.sensor_ids, other=f"the run's sensors ({run_dir})")


def forecast_next(run: RunModel, series: SensorSeries, *, device: str | torch.device = "cpu") -> np.ndarray:
    """Forecast, in original units, the ``horizon`` steps after the last step of ``series``
    (a quantile model's median).

    Shapes:
        -> ``[horizon, nodes, channels]``
    """
    forecast: np.ndarray = forecast_batch(run, [series], device=device)[0]
    return forecast


@torch.no_grad()
def forecast_batch(run: RunModel, series: Sequence[SensorSeries], *, device: str | torch.device = "cpu") -> np.ndarray:
    """:func:`forecast_next` for several series at once, in one model call (``stgraph serve``
    batches the requests that arrive together this way).

    Each series must already hold the run's sensors in the run's order; their windows are
    stacked on the batch axis, which the models keep apart.

    Shapes:
        -> ``[len(series), horizon, nodes, channels]``
    """
    model = _ready(run, device)
    forecast: torch.Tensor = model(_stacked_inputs(run, series).to(device), run.graph)
    return _inverse(run, forecast)


def forecast_next_quantiles(run: RunModel, series: SensorSeries, *, device: str | torch.device = "cpu") -> np.ndarray:
    """Every level of a quantile run's forecast (:class:`~stgraph.nn.QuantileHead`), in original units.

    Shapes:
        -> ``[horizon, nodes, channels, quantiles]``
    """
    levels: np.ndarray = forecast_batch_quantiles(run, [series], device=device)[0]
    return levels


@torch.no_grad()
def forecast_batch_quantiles(run: RunModel, series: Sequence[SensorSeries], *, device: str | torch.device = "cpu") -> np.ndarray:
    """:func:`forecast_next_quantiles` for several series, in one model call.

    Shapes:
        -> ``[len(series), horizon, nodes, channels, quantiles]``
    """
    model = _ready(run, device)
    if not isinstance(model, QuantileHead):
        raise RunError(f"the run's model ({run.state['model']['name']}) forecasts no quantiles (model.quantiles unset)")
    levels: torch.Tensor = model.quantile_forecast(_stacked_inputs(run, series).to(device), run.graph)
    # [Q, batch, horizon, nodes, channels]: the scaler's statistics broadcast over the leading levels
    return np.moveaxis(_inverse(run, levels.movedim(-1, 0)), 0, -1)


def forecast_intervals(
    run: RunModel,
    calibration: Calibration,
    series: Sequence[SensorSeries],
    forecast: np.ndarray,
    *,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The run's conformal interval around ``forecast`` (:func:`forecast_batch` of ``series``).

    Split conformal widens the point forecast; CQR widens a quantile model's two levels, which
    costs a second model call.

    Returns:
        ``(lower, upper, quantiles)``: lower and upper ``[len(series), horizon, nodes, channels]``;
        a quantile model's levels ``[..., quantiles]``, else None.

    Shapes:
        forecast: ``[len(series), horizon, nodes, channels]``
    """
    quantiles = forecast_batch_quantiles(run, series, device=device) if isinstance(run.model, QuantileHead) else None
    bounded = forecast if calibration.bounds is None or quantiles is None else quantiles  # CQR widens two levels
    lower, upper = calibration.interval(bounded, next_hours(series, forecast.shape[1]))
    return lower, upper, quantiles


def next_hours(series: Sequence[SensorSeries], horizon: int) -> np.ndarray:
    """Hour of day of the ``horizon`` steps after each series' last reading: int64 ``[len(series), horizon]``."""
    first = pd.DatetimeIndex([one.timestamps[-1] + one.interval for one in series])
    interval = series[0].interval if series else pd.Timedelta(0)
    return forecast_hours(first, horizon, interval)


def _ready(run: RunModel, device: str | torch.device) -> torch.nn.Module:
    """The run's model on ``device`` in eval mode, moved or switched only when it is not already
    (``Module.to`` and ``eval`` walk every submodule: 0.6 ms of a 3 ms STGCN forecast)."""
    model = run.model
    weight = next(model.parameters(), None)
    if weight is not None and weight.device != torch.device(device):
        model.to(device)
    if model.training:
        model.eval()
    return model


def _stacked_inputs(run: RunModel, series: Sequence[SensorSeries]) -> torch.Tensor:
    if not series:
        raise SensorDataError("no series to forecast")
    return torch.cat([forecast_inputs(run, one) for one in series])


def _inverse(run: RunModel, scaled: torch.Tensor) -> np.ndarray:
    """``[..., channels]`` z-scores -> original units, with the run's target statistics."""
    scaler = StandardScaler.from_state_dict(run.state["scaler"])
    forecast: torch.Tensor = scaler.inverse_transform(scaled.float().cpu(), features=list(run.state["data"]["targets"]))
    return forecast.numpy()


def predict_file(
    run_dir: str | os.PathLike[str],
    readings: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    device: str = "cpu",
    intervals: bool = False,
) -> pd.DataFrame:
    """Read ``readings``, check them against the run, forecast and write ``out`` (CSV or Parquet).

    Returns the table written: one row per forecast step with real timestamps; one column per
    sensor (one target channel) or ``timestamp, sensor, <channels>`` rows (several). With
    ``intervals``, the run's conformal interval (``calibration.npz``) beside each forecast:
    ``timestamp, sensor, <channel>, <channel>_lower, <channel>_upper`` rows, and for a quantile
    model its levels, ``<channel>_q0.05`` ...

    ``out`` may replace an existing file, but never ``readings`` nor anything inside ``run_dir``.

    Raises:
        SensorDataError: unknown output format, sensors or interval that differ from the
        run's, fewer steps than the lookback, or a malformed readings file (file and column).
        OutputError: ``out`` is ``readings`` or lies inside ``run_dir`` (checked before reading).
        RunError: ``intervals`` for a run trained without them (no ``calibration.npz``).
    """
    run_dir = str(run_dir)
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise SensorDataError(f"{out}: unknown output format {out.suffix!r}; use .csv or .parquet")
    check_not_input(out, {"readings": readings, "run directory": run_dir})
    calibration_file = Path(run_dir) / CALIBRATION_FILE
    if intervals and not calibration_file.is_file():
        raise RunError(
            f"{run_dir}: no {CALIBRATION_FILE}: the run was trained without intervals (training.coverage null); "
            "train with --coverage, or predict without --intervals"
        )
    run = load_model_file(Path(run_dir) / "model.pt")
    data = run.state["data"]
    features = list(data["features"])
    series = load_series(readings, null_value=data["null_value"], features=features if len(features) == 1 else None)
    series = check_series(run, series, run_dir)
    lookback = int(data["lookback"])
    missing = int((~series.mask[-lookback:]).sum())
    if missing:
        logger.warning(
            "%s: %d of the last %d steps' readings are missing; they enter the model as 0", readings, missing, lookback
        )
    forecast = forecast_next(run, series, device=device)
    labels = {
        "first_step": series.timestamps[-1] + series.interval,
        "interval": series.interval,
        "sensor_ids": run.sensor_ids,
        "channels": list(data["targets"]),
    }
    if intervals:
        lower, upper, quantiles = forecast_intervals(
            run, load_calibration(calibration_file), [series], forecast[None], device=device
        )
        levels = run.model.quantiles if isinstance(run.model, QuantileHead) else None
        frame = interval_frame(
            forecast, lower[0], upper[0], quantiles=None if quantiles is None else quantiles[0], levels=levels, **labels
        )
    else:
        frame = forecast_frame(forecast, **labels)
    write_table(frame, out)
    return frame
