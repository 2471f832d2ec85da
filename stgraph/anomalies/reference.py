r"""What the checks compare readings with, learnt from a trained run: one-step forecasts, each
sensor's residual threshold and its zero share by time of day.

The run's data are rebuilt from its ``config.yaml`` and scaled with the statistics in
``model.pt`` (as :func:`stgraph.pipeline.evaluate.evaluate_run` does). Then

- the **one-step-ahead forecast** of step :math:`t` is the first forecast step of the window
  :math:`[t - L, t)`, :math:`\hat y_t = f(X_{t-L:t})_1`, for every :math:`t \ge L`;
- the **spike threshold** of sensor :math:`n` is :math:`q_n = m_n \hat q`: its validation
  mean absolute one-step residual :math:`m_n = \operatorname{mean}_t |y_{t,n} - \hat y_{t,n}|`
  times the split-conformal quantile :math:`\hat q`
  (:func:`stgraph.metrics.conformal.conformal_quantile`) of the departures
  (:func:`stgraph.anomalies.detectors.departure`: the forecast residual that the next reading
  confirms) divided by :math:`m_n`, pooled over every sensor's validation steps (observed
  readings only). Pooling is what makes a high coverage possible: a validation part of a few
  hundred steps per sensor holds too few scores for a per-sensor quantile at 0.999, the
  whole network holds plenty; dividing by :math:`m_n` keeps quiet and busy sensors on one scale;
- the **zero share** of sensor :math:`n` at time-of-day slot :math:`s` is counted over the
  training steps (:func:`stgraph.anomalies.detectors.zero_share`).

Only the run's first target feature (speed, or flow for PEMS0x) is checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from stgraph.anomalies.detectors import departure, time_of_day_slots, zero_share
from stgraph.data.scaling import StandardScaler
from stgraph.data.series import SensorSeries
from stgraph.data.windows import WindowDataset
from stgraph.metrics.conformal import conformal_quantile
from stgraph.pipeline.evaluate import forecast_windows, load_run_data
from stgraph.pipeline.model_file import RunModel

__all__ = ["CHUNK_STEPS", "Reference", "load_reference", "one_step_forecasts", "slots_per_day"]


def slots_per_day(interval: pd.Timedelta) -> int:
    """Time-of-day slots at ``interval`` (288 at 5 minutes)."""
    return int(-(-pd.Timedelta(days=1) // interval))


#: target steps forecast per call of :func:`~stgraph.pipeline.evaluate.forecast_windows` (one progress update each)
CHUNK_STEPS = 4096


@torch.no_grad()
def one_step_forecasts(
    run: RunModel,
    series: SensorSeries,
    *,
    batch_size: int = 256,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """The run's one-step-ahead forecast of every step of ``series`` (first target, original units).

    ``series`` must hold the run's sensors in its order, at its interval. The first
    ``lookback`` steps have no forecast (NaN). The steps are forecast in chunks of
    :data:`CHUNK_STEPS` (each scaled on its own, so memory stays that of one chunk); after each,
    ``progress(done, total)`` is called with the steps forecast so far and in all.

    Shapes:
        -> ``[time, nodes]`` float64
    """
    data = run.state["data"]
    lookback, features = int(data["lookback"]), list(data["features"])
    target = str(data["targets"][0])
    scaler = StandardScaler.from_state_dict(run.state["scaler"]).subset(features)
    inputs = series.select_features(features)
    forecast = np.full((series.num_steps, series.num_sensors), np.nan)
    for first in range(lookback, series.num_steps, CHUNK_STEPS):
        last = min(first + CHUNK_STEPS, series.num_steps)
        windows = WindowDataset(
            inputs.slice_time(first - lookback, last),
            lookback=lookback,
            horizon=1,
            input_features=features,
            target_features=[target],
            scaler=scaler,
            covariates=list(data["covariates"]) or None,
            missing_inputs=str(data.get("missing_inputs", "zero")),  # absent in older model.pt: "zero"
        )
        predicted, _, _ = forecast_windows(run.model, run.graph, windows, batch_size=batch_size, device=device)
        forecast[first:last] = predicted[:, 0, :, 0]
        if progress is not None:
            progress(last - lookback, series.num_steps - lookback)
    return forecast


@dataclass
class Reference:
    """A run's model with each sensor's spike threshold and historical zero share.

    Attributes:
        run: the loaded model file.
        threshold: ``[sensors]`` spike threshold (departures) at ``coverage``; NaN for a sensor without
            observed validation readings or without validation error (never flagged ``spike``).
        zero_share: ``[slots_per_day, sensors]`` share of zero (or missing) training readings.
        coverage: the split-conformal coverage of ``threshold``.
    """

    run: RunModel
    threshold: np.ndarray
    zero_share: np.ndarray
    coverage: float

    @property
    def target(self) -> str:
        """The feature that is checked: the run's first target."""
        return str(self.run.state["data"]["targets"][0])


def load_reference(run_dir: str | os.PathLike[str], *, coverage: float, batch_size: int = 256, device: str = "cpu") -> Reference:
    """Load the run in ``run_dir`` and calibrate it on its own training and validation steps.

    Raises:
        GraphError: the run's data files changed since training (another graph).
        RunError, SensorDataError: a damaged run or missing data files (naming them).
    """
    run, data = load_run_data(run_dir)
    series = data.series
    (f,) = series.feature_index([str(run.state["data"]["targets"][0])])
    values, observed = series.values[..., f], series.mask[..., f]

    train = data.split.steps("train")
    slots = time_of_day_slots(series.timestamps[train], series.interval)
    share = zero_share(values[train], observed[train], slots, slots_per_day(series.interval))

    val = data.split.steps("val")
    lookback = int(run.state["data"]["lookback"])
    begin = max(val.start - lookback, 0)
    # one step past the validation part too: a departure looks at the next reading
    end = min(val.stop + 1, series.num_steps)
    forecast = one_step_forecasts(run, series.slice_time(begin, end), batch_size=batch_size, device=device)
    inside = slice(val.start - begin, val.stop - begin)  # the validation steps within the slice
    scores = departure(values[begin:end], observed[begin:end], forecast)[inside]
    residual = np.where(observed[val], np.abs(values[val] - forecast[inside]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.nanmean(residual, axis=0)  # m_n, [sensors]; NaN: no observed validation reading
        scale = np.where(scale > 0, scale, np.nan)  # a sensor forecast without error has no scale
        pooled = conformal_quantile(scores / scale[None, :], coverage)
    threshold = scale * pooled
    return Reference(run=run, threshold=threshold, zero_share=share, coverage=coverage)
