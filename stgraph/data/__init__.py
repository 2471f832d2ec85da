"""Traffic series, covariates, chronological splits, scaling and windows.

raw files -> :func:`load_series` -> :class:`SensorSeries` -> :func:`split_by_fraction` /
:func:`split_by_dates` -> :class:`StandardScaler` fitted on the training steps (or :class:`MaxScaler`) ->
:class:`WindowDataset` per part.
"""

from stgraph.data.covariates import add_time_covariates, day_of_week, time_covariates, time_of_day
from stgraph.data.load import load_series
from stgraph.data.scaling import MaxScaler, StandardScaler
from stgraph.data.series import SensorSeries
from stgraph.data.splits import Split, split_by_dates, split_by_fraction
from stgraph.data.windows import WindowDataset

__all__ = [
    "MaxScaler",
    "SensorSeries",
    "Split",
    "StandardScaler",
    "WindowDataset",
    "add_time_covariates",
    "day_of_week",
    "load_series",
    "split_by_dates",
    "split_by_fraction",
    "time_covariates",
    "time_of_day",
]
