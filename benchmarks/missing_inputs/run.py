r"""Train the same model with ``data.missing_inputs: zero`` and ``mask`` and score both on test
windows whose inputs lose readings (:func:`stgraph.data.windows.fill_missing_inputs`).

Three versions of the test windows, with the targets unchanged and scored only where really
observed (masked MAE in original units):

* ``as is``: the test windows as they are;
* ``points``: :data:`POINT_RATE` of the observed *input* readings hidden at random
  (:func:`hide_points`);
* ``blocks``: one block of :data:`BLOCK` (1 hour) per sensor and window, placed at a uniform
  random start so that it overlaps the input window (:func:`hide_blocks`): as a one-hour outage
  of each sensor at a random time looks from a window, 1 to ``lookback`` steps of a sensor hidden
  (with a one-hour lookback, 6.5 steps on average, and about 1 sensor in 12 wholly blank).

Hidden readings are marked missing as the files mark them: the mask turns False and the value
becomes the data's missing value (0). Each window is hidden on its own: the same step may be
hidden as an input of one window and scored as a target of another, which hiding in the
series itself would not allow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from stgraph.data.covariates import time_covariates
from stgraph.data.windows import WindowDataset
from stgraph.metrics.masked import horizon_metrics
from stgraph.metrics.report import REPORT_STEPS
from stgraph.pipeline.data import PreparedData
from stgraph.pipeline.evaluate import forecast_windows

__all__ = ["BLOCK", "PATTERNS", "POINT_RATE", "hidden_windows", "hide_blocks", "hide_points", "score_model"]

#: share of the observed input readings hidden by ``points``
POINT_RATE = 0.25
#: length of the outage hidden by ``blocks``, per sensor and window
BLOCK = pd.Timedelta("1h")


def hide_points(observed: np.ndarray, seed: int, rate: float = POINT_RATE) -> np.ndarray:
    """Each observed reading hidden with probability ``rate``, independently.

    Shapes:
        observed: ``[windows, lookback, sensors, features]`` bool -> hidden, the same (a subset of ``observed``)
    """
    rng = np.random.default_rng(seed)
    hidden: np.ndarray = observed & (rng.random(observed.shape) < rate)
    return hidden


def hide_blocks(observed: np.ndarray, seed: int, block_steps: int) -> np.ndarray:
    """One run of ``block_steps`` consecutive steps per window and sensor (all features), starting
    uniformly at random among the starts that overlap the window (``1 - block_steps .. lookback - 1``);
    the part inside the window is hidden.

    Shapes:
        observed: ``[windows, lookback, sensors, features]`` bool -> hidden, the same (a subset of ``observed``)
    """
    windows, lookback, sensors = observed.shape[:3]
    rng = np.random.default_rng(seed)
    start = rng.integers(1 - block_steps, lookback, size=(windows, 1, sensors))
    step = np.arange(lookback)[None, :, None]
    inside = (step >= start) & (step < start + block_steps)
    hidden: np.ndarray = observed & inside[..., None]
    return hidden


def _blocks(observed: np.ndarray, seed: int, interval: pd.Timedelta) -> np.ndarray:
    return hide_blocks(observed, seed, max(1, int(BLOCK // interval)))


#: pattern -> hiding function ``(observed, seed, interval) -> hidden``
PATTERNS: dict[str, Callable[[np.ndarray, int, pd.Timedelta], np.ndarray] | None] = {
    "as is": None,
    "points": lambda observed, seed, interval: hide_points(observed, seed),
    "blocks": _blocks,
}


def hidden_windows(data: PreparedData, part: str, pattern: str, seed: int) -> tuple[WindowDataset, float]:
    """The windows of ``part`` with input readings hidden by ``pattern``, and the share of the input
    readings then missing.

    The windows are laid end to end as one series of ``windows × (lookback + horizon)`` steps
    (with each window's own calendar), so that they go through :class:`WindowDataset` and the
    run's ``missing_inputs`` exactly as in training.
    """
    lookback, horizon = data.split.lookback, data.split.horizon
    span = lookback + horizon
    starts = np.asarray(data.split.starts(part))
    steps = starts[:, None] + np.arange(span)
    values = data.series.values[steps].copy()  # [windows, span, sensors, features]
    mask = data.series.mask[steps].copy()
    hide = PATTERNS[pattern]
    if hide is not None:
        hidden = hide(mask[:, :lookback], seed, data.series.interval)
        values[:, :lookback][hidden] = 0.0
        mask[:, :lookback][hidden] = False
    missing = float(1.0 - mask[:, :lookback].mean())
    shape = (len(starts) * span, *values.shape[2:])
    covariates = time_covariates(data.series.timestamps[steps.ravel()], data.covariates) if data.covariates else None
    windows = WindowDataset(
        (values.reshape(shape), mask.reshape(shape)),
        lookback=lookback,
        horizon=horizon,
        starts=np.arange(len(starts)) * span,
        input_features=data.series.feature_index(data.input_features),
        target_features=data.series.feature_index(data.target_features),
        scaler=data.scaler,
        covariates=covariates,
        missing_inputs=data.missing_inputs,
    )
    return windows, missing


def score_model(model: Any, data: PreparedData, seed: int) -> dict[str, dict[str, float]]:
    """Masked test MAE at horizons 3, 6, 12 and on average, for each pattern."""
    rows = {}
    for pattern in PATTERNS:
        windows, missing = hidden_windows(data, "test", pattern, seed)
        forecast, target, mask = forecast_windows(model, data.graph, windows)
        metrics = horizon_metrics(forecast, target, mask=mask)
        row = {str(step): metrics.at(step)["mae"] for step in REPORT_STEPS if step <= metrics.horizon}
        rows[pattern] = {**row, "average": metrics.average()["mae"], "missing_inputs_share": missing}
    return rows
