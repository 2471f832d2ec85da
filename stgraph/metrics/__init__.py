"""Masked forecast metrics (DCRNN / Graph WaveNet convention) and their tables.

``masked_mae``, ``masked_rmse`` and ``masked_mape`` take NumPy arrays or torch tensors;
``horizon_metrics`` scores each horizon step; ``conformal_quantile`` is the split-conformal
threshold that intervals and anomaly scores are calibrated with; ``pinball_loss`` and
``interval_metrics`` score quantile and interval forecasts (coverage, width, Winkler score, CRPS);
``metrics_table`` and ``intervals_table`` print steps 3/6/12 and the average. This package imports torch, NumPy and pandas only (no training framework).
"""

from stgraph.metrics.conformal import conformal_quantile
from stgraph.metrics.intervals import IntervalMetrics, check_coverage, check_quantiles, interval_metrics, pinball_loss
from stgraph.metrics.masked import (
    HorizonMetrics,
    horizon_metrics,
    masked_mae,
    masked_mape,
    masked_mse,
    masked_rmse,
    observed_mask,
    sensor_metrics,
)
from stgraph.metrics.report import REPORT_STEPS, horizon_label, intervals_table, metrics_table

__all__ = [
    "REPORT_STEPS",
    "HorizonMetrics",
    "IntervalMetrics",
    "check_coverage",
    "check_quantiles",
    "conformal_quantile",
    "horizon_label",
    "horizon_metrics",
    "interval_metrics",
    "intervals_table",
    "masked_mae",
    "masked_mape",
    "masked_mse",
    "masked_rmse",
    "metrics_table",
    "observed_mask",
    "pinball_loss",
    "sensor_metrics",
]
