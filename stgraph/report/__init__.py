"""Forecast exports (``.npz``, CSV, Parquet with sensor ids and timestamps) and plots.

The exports need only NumPy and pandas. The plots (:mod:`stgraph.report.plots`) need
matplotlib (the ``train`` extra) and are imported from that module, so that reading or writing
forecasts never imports matplotlib.
"""

from stgraph.report.export import Predictions, forecast_frame, load_predictions, save_predictions, write_table

__all__ = ["Predictions", "forecast_frame", "load_predictions", "save_predictions", "write_table"]
