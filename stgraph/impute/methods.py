"""The imputation baselines by name, over every feature of a ``[time, sensors, features]`` table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from stgraph.errors import ConfigError
from stgraph.impute.baselines import historical_average, linear_in_time, locf, neighbour_mean

__all__ = ["GRAPH_METHODS", "METHODS", "impute"]

#: ``stgraph impute --model`` names, in the order the benchmark reports them
METHODS = ("locf", "linear", "historical_average", "neighbour_mean")
#: the methods that need a sensor graph
GRAPH_METHODS = ("neighbour_mean",)


def impute(
    method: str,
    values: np.ndarray,
    mask: np.ndarray,
    *,
    timestamps: pd.DatetimeIndex | None = None,
    interval: pd.Timedelta | None = None,
    adjacency: sp.spmatrix | np.ndarray | None = None,
    sensor_ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Fill the missing cells of every feature with the baseline ``method`` (one of :data:`METHODS`).

    ``timestamps`` are needed by ``historical_average``, ``adjacency`` (in the sensors' order)
    by ``neighbour_mean``.

    Shapes:
        values, mask: ``[time, sensors, features]`` -> float64 ``[time, sensors, features]``
    """
    if method not in METHODS:
        raise ConfigError(f"unknown imputation method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "historical_average" and timestamps is None:
        raise ConfigError("historical_average needs the readings' timestamps")
    if method in GRAPH_METHODS and adjacency is None:
        raise ConfigError(f"{method} needs a sensor graph (an adjacency in the readings' sensor order)")
    values, mask = np.asarray(values), np.asarray(mask)
    filled = np.empty(values.shape, dtype=np.float64)
    for feature in range(values.shape[-1]):
        x, m = values[..., feature], mask[..., feature]
        if method == "locf":
            filled[..., feature] = locf(x, m, sensor_ids=sensor_ids)
        elif method == "linear":
            filled[..., feature] = linear_in_time(x, m, sensor_ids=sensor_ids)
        elif method == "historical_average":
            assert timestamps is not None  # checked above; narrows the type
            filled[..., feature] = historical_average(x, m, timestamps, interval=interval, sensor_ids=sensor_ids)
        else:
            assert adjacency is not None
            filled[..., feature] = neighbour_mean(x, m, adjacency, sensor_ids=sensor_ids)
    return filled
