"""Forecast exports (``.npz``, CSV, Parquet with sensor ids and timestamps) and plots."""

from stgraph.report.export import Predictions, forecast_frame, load_predictions, save_predictions, write_table
from stgraph.report.plots import plot_error_by_horizon, plot_forecasts, plot_sensor_map, sensor_mae

__all__ = [
    "Predictions",
    "forecast_frame",
    "load_predictions",
    "plot_error_by_horizon",
    "plot_forecasts",
    "plot_sensor_map",
    "save_predictions",
    "sensor_mae",
    "write_table",
]
