"""Plots of a run: forecasts against observations, error by horizon, a map of sensor errors.

Drawn with Matplotlib's object API on the Agg canvas (no pyplot, no global backend switch, no
display needed) and written atomically as PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from stgraph.io.atomic import atomic_path
from stgraph.metrics.masked import HorizonMetrics, sensor_metrics
from stgraph.metrics.report import horizon_label, lead_time_label
from stgraph.report.export import Predictions

__all__ = ["pick_sensors", "plot_error_by_horizon", "plot_forecasts", "plot_sensor_map", "sensor_mae"]


def _save(figure: Figure, path: str | os.PathLike[str]) -> None:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=110)


def sensor_mae(predictions: Predictions, channel: int = 0) -> np.ndarray:
    """Masked MAE per sensor over all windows and horizon steps, ``[nodes]`` (NaN if never observed)."""
    mae: np.ndarray = sensor_metrics(
        predictions.prediction[..., channel], predictions.target[..., channel], predictions.mask[..., channel]
    )["mae"]
    return mae


def pick_sensors(mae: np.ndarray, count: int = 4) -> list[int]:
    """Sensors worth looking at by their MAE ``[nodes]`` (NaN: never observed): the best, the
    median and the worst (then evenly spread)."""
    mae = np.asarray(mae, dtype=np.float64)
    ranked = [int(i) for i in np.argsort(np.where(np.isnan(mae), np.inf, mae)) if not np.isnan(mae[i])]
    if len(ranked) <= count:
        return ranked
    positions = np.linspace(0, len(ranked) - 1, count).round().astype(int)
    return [ranked[p] for p in positions]


def plot_forecasts(
    path: str | os.PathLike[str],
    predictions: Predictions,
    *,
    sensors: Sequence[int] | None = None,
    steps: Sequence[int] = (3, 12),
    max_points: int = 576,
    units: str = "",
) -> Figure:
    """Observed readings and the forecasts made ``steps`` ahead, for a few sensors.

    Each panel is one sensor over the first ``max_points`` windows (two days at 5 minutes);
    masked observations are gaps; the value axis reads ``"<feature> (<units>)"``. Predictions
    with an interval (``lower``, ``upper``) draw it as a band in each forecast's colour. Returns
    the figure, already written to ``path``.
    """
    sensors = list(sensors) if sensors is not None else pick_sensors(sensor_mae(predictions))
    steps = [s for s in steps if 1 <= s <= predictions.prediction.shape[1]]
    windows = min(max_points, predictions.prediction.shape[0])
    figure = Figure(figsize=(10, 2.4 * max(len(sensors), 1)))
    axes = figure.subplots(max(len(sensors), 1), 1, squeeze=False)[:, 0]
    for ax, node in zip(axes, sensors):
        first = steps[0] if steps else 1
        observed = np.where(
            predictions.mask[:windows, first - 1, node, 0], predictions.target[:windows, first - 1, node, 0], np.nan
        )
        ax.plot(predictions.timestamps(first)[:windows], observed, color="black", linewidth=1.2, label="observed")
        for step in steps:
            times = predictions.timestamps(step)[:windows]
            label = f"forecast {horizon_label(step, predictions.interval)} ahead"
            (line,) = ax.plot(times, predictions.prediction[:windows, step - 1, node, 0], linewidth=0.9, label=label)
            if predictions.lower is not None and predictions.upper is not None:
                ax.fill_between(
                    times,
                    predictions.lower[:windows, step - 1, node, 0],
                    predictions.upper[:windows, step - 1, node, 0],
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                    label=f"interval {horizon_label(step, predictions.interval)} ahead",
                )
        ax.set_title(f"sensor {predictions.sensor_ids[node]}", fontsize=9)
        ax.set_ylabel(f"{predictions.channels[0]}{f' ({units})' if units else ''}", fontsize=8)
        ax.tick_params(labelsize=7)
    if sensors:
        axes[0].legend(fontsize=7, loc="lower left")
    _save(figure, path)
    return figure


def plot_error_by_horizon(
    path: str | os.PathLike[str],
    metrics: HorizonMetrics,
    *,
    interval: pd.Timedelta | None = None,
    units: str = "",
    split: str = "test",
) -> Figure:
    """Masked MAE and RMSE (left axis) and MAPE in percent (right axis) at every lead time.

    Ticks read as lead times (``"5 min"`` ... ``"1 h"``, :func:`lead_time_label`); without an
    interval they are step counts. Returns the figure, already written to ``path``.
    """
    steps = np.arange(1, metrics.horizon + 1)
    figure = Figure(figsize=(6.4, 3.6))
    ax = figure.subplots()
    ax.plot(steps, metrics.mae, marker="o", label="MAE")
    ax.plot(steps, metrics.rmse, marker="s", label="RMSE")
    ax.set_xlabel("lead time" if interval is not None else "lead time (steps)")
    ax.set_ylabel(f"error{f' ({units})' if units else ''}")
    ax.set_xticks(steps, [lead_time_label(int(step), interval) for step in steps])
    if len(steps) > 8:  # twelve labels such as "45 min" collide when level
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    right = ax.twinx()
    right.plot(steps, 100 * metrics.mape, marker="^", color="tab:green", label="MAPE (%)")
    right.set_ylabel("MAPE (%)")
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="upper left")
    ax.set_title(f"{split} error by lead time", fontsize=10)
    _save(figure, path)
    return figure


def plot_sensor_map(path: str | os.PathLike[str], coordinates: np.ndarray, errors: np.ndarray, *, units: str = "") -> None:
    """Sensors at their latitude/longitude, coloured by their masked MAE.

    Shapes:
        coordinates: ``[nodes, 2]`` latitude, longitude in degrees; errors: ``[nodes]``.
    """
    coordinates = np.asarray(coordinates, dtype=float)
    figure = Figure(figsize=(6.4, 5.2))
    ax = figure.subplots()
    known = ~np.isnan(errors)
    if (~known).any():
        ax.scatter(coordinates[~known, 1], coordinates[~known, 0], s=12, c="lightgrey", label="never observed")
        ax.legend(fontsize=7)
    points = ax.scatter(coordinates[known, 1], coordinates[known, 0], s=18, c=errors[known], cmap="viridis")
    figure.colorbar(points, ax=ax, label=f"test MAE{f' ({units})' if units else ''}")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.xaxis.set_major_locator(MaxNLocator(5))  # long labels such as -118.45 collide otherwise
    mid = np.deg2rad(np.nanmean(coordinates[:, 0]))
    ax.set_aspect(1.0 / max(np.cos(mid), 1e-3))  # degrees of longitude are shorter away from the equator
    ax.set_title("test error by sensor", fontsize=10)
    _save(figure, path)
