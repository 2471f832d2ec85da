"""The imputers by name (the four baselines and the learned one), over every feature of a
``[time, sensors, features]`` table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from stgraph.errors import ConfigError
from stgraph.impute.baselines import historical_average, linear_in_time, locf, neighbour_mean

if TYPE_CHECKING:
    from stgraph.impute.learned import ImputerSettings

__all__ = ["GRAPH_METHODS", "METHODS", "impute"]

#: ``stgraph impute --model`` names, in the order the benchmark reports them
METHODS = ("locf", "linear", "historical_average", "neighbour_mean", "learned")
#: the methods that need a sensor graph
GRAPH_METHODS = ("neighbour_mean", "learned")


def impute(
    method: str,
    values: np.ndarray,
    mask: np.ndarray,
    *,
    timestamps: pd.DatetimeIndex | None = None,
    interval: pd.Timedelta | None = None,
    adjacency: sp.spmatrix | np.ndarray | None = None,
    sensor_ids: Sequence[str] | None = None,
    settings: ImputerSettings | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> np.ndarray:
    """Fill the missing cells of every feature with ``method`` (one of :data:`METHODS`).

    ``timestamps`` are needed by ``historical_average``, ``adjacency`` (in the sensors' order)
    by ``neighbour_mean`` and ``learned``, which also needs ``interval`` and is trained on
    the observed readings of each feature with ``settings`` (default
    :data:`~stgraph.impute.learned.DEFAULT_SETTINGS`; :mod:`stgraph.impute.learned`, imported
    only then, so that the baselines need no torch); ``on_step(step, loss)`` follows its training.

    Shapes:
        values, mask: ``[time, sensors, features]`` -> float64 ``[time, sensors, features]``
    """
    if method not in METHODS:
        raise ConfigError(f"unknown imputation method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "historical_average" and timestamps is None:
        raise ConfigError("historical_average needs the readings' timestamps")
    if method == "learned" and interval is None:
        raise ConfigError("the learned imputer needs the readings' interval (its block masks are 1-4 hours long)")
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
        elif method == "neighbour_mean":
            assert adjacency is not None
            filled[..., feature] = neighbour_mean(x, m, adjacency, sensor_ids=sensor_ids)
        else:
            from stgraph.impute.learned import DEFAULT_SETTINGS, learned_impute

            assert adjacency is not None and interval is not None
            settings = settings or DEFAULT_SETTINGS
            filled[..., feature] = learned_impute(
                x, m, adjacency, interval, settings=settings, sensor_ids=sensor_ids, on_step=on_step
            )
    return filled
