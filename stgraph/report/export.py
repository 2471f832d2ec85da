"""Forecasts as files: test-split predictions (``.npz``) and forecast tables (CSV or Parquet).

Every export carries the sensor ids and real timestamps, so a forecast can be joined back to
the readings it came from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stgraph.errors import ShapeError
from stgraph.io.atomic import atomic_path

__all__ = [
    "TABLE_FORMATS",
    "Predictions",
    "forecast_frame",
    "interval_frame",
    "load_predictions",
    "save_predictions",
    "write_table",
]

TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class Predictions:
    """Forecasts for a set of windows, in original units.

    Attributes:
        prediction: float32 ``[windows, horizon, nodes, channels]``.
        target: float32, same shape; the observed readings (0 where not observed).
        mask: bool, same shape; ``True`` = observed.
        first_step: ``[windows]`` timestamp of each window's first forecast step; step ``h``
            (from 1) of window ``w`` is at ``first_step[w] + (h - 1) * interval``.
        interval: sampling interval.
        sensor_ids: ``[nodes]``; channels: ``[channels]`` feature names.
        lower, upper: float32, the prediction's shape: a calibrated interval around it
            (:mod:`stgraph.pipeline.calibration`), or None (both) when the run has none.
        quantiles: float32 ``[windows, horizon, nodes, channels, levels]`` of a quantile model
            (whose median is ``prediction``), with its ``levels``; None (both) otherwise.
    """

    prediction: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    first_step: pd.DatetimeIndex
    interval: pd.Timedelta
    sensor_ids: list[str]
    channels: list[str]
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    quantiles: np.ndarray | None = None
    levels: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        shape = self.prediction.shape
        if self.prediction.ndim != 4 or self.target.shape != shape or self.mask.shape != shape:
            raise ShapeError(
                "prediction, target and mask must share one [windows, horizon, nodes, channels] shape; got "
                f"{list(shape)}, {list(self.target.shape)}, {list(self.mask.shape)}"
            )
        if len(self.first_step) != shape[0] or len(self.sensor_ids) != shape[2] or len(self.channels) != shape[3]:
            raise ShapeError(
                f"{shape[0]} windows, {shape[2]} sensors and {shape[3]} channels need as many first_step, "
                f"sensor_ids and channels; got {len(self.first_step)}, {len(self.sensor_ids)}, {len(self.channels)}"
            )
        if (self.lower is None) != (self.upper is None):
            raise ShapeError("give both lower and upper, or neither")
        for name, bound in (("lower", self.lower), ("upper", self.upper)):
            if bound is not None and bound.shape != shape:
                raise ShapeError(f"{name} must have the prediction's shape {list(shape)}; got {list(bound.shape)}")
        if (self.quantiles is None) != (self.levels is None):
            raise ShapeError("give both quantiles and levels, or neither")
        if self.quantiles is not None and self.levels is not None and self.quantiles.shape != (*shape, len(self.levels)):
            raise ShapeError(
                f"quantiles must be the prediction's shape {list(shape)} plus {len(self.levels)} levels; "
                f"got {list(self.quantiles.shape)}"
            )

    def timestamps(self, step: int) -> pd.DatetimeIndex:
        """Timestamps of horizon step ``step`` (from 1) of every window."""
        return self.first_step + (step - 1) * self.interval


def save_predictions(path: str | os.PathLike[str], predictions: Predictions) -> None:
    """Write ``predictions`` to a ``.npz`` (no pickled objects: loads with ``allow_pickle=False``);
    ``lower`` and ``upper``, ``quantiles`` and ``levels`` are stored when the predictions carry them."""
    arrays: dict[str, Any] = {
        "prediction": np.asarray(predictions.prediction, dtype=np.float32),  # no copy when float32 already
        "target": np.asarray(predictions.target, dtype=np.float32),
        "mask": np.asarray(predictions.mask, dtype=bool),
        "first_step": predictions.first_step.as_unit("ns").values.astype("datetime64[ns]"),
        "interval_ns": np.asarray(predictions.interval.value, dtype=np.int64),
        "sensor_ids": np.asarray(predictions.sensor_ids, dtype=str),
        "channels": np.asarray(predictions.channels, dtype=str),
    }
    if predictions.lower is not None and predictions.upper is not None:
        arrays.update(
            lower=np.asarray(predictions.lower, dtype=np.float32), upper=np.asarray(predictions.upper, dtype=np.float32)
        )
    if predictions.quantiles is not None and predictions.levels is not None:
        arrays.update(quantiles=np.asarray(predictions.quantiles, dtype=np.float32), levels=np.asarray(predictions.levels))
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)


def load_predictions(path: str | os.PathLike[str], *, bands: bool = True) -> Predictions:
    """Read a file written by :func:`save_predictions`; without ``bands``, not its ``lower``,
    ``upper`` and ``quantiles`` (for a reader of the point forecasts of a large split)."""
    with np.load(path, allow_pickle=False) as data:
        return Predictions(
            prediction=data["prediction"],
            target=data["target"],
            mask=data["mask"],
            first_step=pd.DatetimeIndex(data["first_step"]),
            interval=pd.Timedelta(int(data["interval_ns"]), unit="ns"),
            sensor_ids=[str(s) for s in data["sensor_ids"]],
            channels=[str(c) for c in data["channels"]],
            lower=data.get("lower") if bands else None,
            upper=data.get("upper") if bands else None,
            quantiles=data.get("quantiles") if bands else None,
            levels=tuple(float(level) for level in data["levels"]) if bands and "levels" in data else None,
        )


def forecast_frame(
    forecast: np.ndarray,
    *,
    first_step: pd.Timestamp,
    interval: pd.Timedelta,
    sensor_ids: Sequence[str],
    channels: Sequence[str],
) -> pd.DataFrame:
    """One forecast as a table with real timestamps.

    One channel: a wide table (index ``timestamp``, one column per sensor, the layout readings
    files use). Several channels: a long table ``timestamp, sensor, <channel>...``.

    Shapes:
        forecast: ``[horizon, nodes, channels]``.
    """
    forecast = np.asarray(forecast)
    if forecast.ndim != 3 or forecast.shape[1] != len(sensor_ids) or forecast.shape[2] != len(channels):
        raise ShapeError(
            f"forecast must be [horizon, nodes={len(sensor_ids)}, channels={len(channels)}], got {list(forecast.shape)}"
        )
    horizon = forecast.shape[0]
    index = pd.DatetimeIndex([pd.Timestamp(first_step) + h * pd.Timedelta(interval) for h in range(horizon)], name="timestamp")
    if len(channels) == 1:
        return pd.DataFrame(forecast[..., 0], index=index, columns=list(sensor_ids))
    long = pd.DataFrame(
        forecast.reshape(horizon * len(sensor_ids), len(channels)),
        columns=list(channels),
        index=pd.MultiIndex.from_product([index, list(sensor_ids)], names=["timestamp", "sensor"]),
    )
    return long


def interval_frame(
    forecast: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    first_step: pd.Timestamp,
    interval: pd.Timedelta,
    sensor_ids: Sequence[str],
    channels: Sequence[str],
    quantiles: np.ndarray | None = None,
    levels: Sequence[float] | None = None,
) -> pd.DataFrame:
    """One forecast with its interval as a long table ``timestamp, sensor, <channel>,
    <channel>_lower, <channel>_upper`` (for each channel), with real timestamps; a quantile
    forecast's levels follow each channel's bounds as ``<channel>_q0.05`` ....

    Shapes:
        forecast, lower, upper: ``[horizon, nodes, channels]``; quantiles: the same plus ``[levels]``.
    """
    forecast, lower, upper = (np.asarray(a) for a in (forecast, lower, upper))
    if forecast.ndim != 3 or len(channels) != forecast.shape[2]:
        raise ShapeError(f"forecast must be [horizon, nodes, channels={len(channels)}], got {list(forecast.shape)}")
    if lower.shape != forecast.shape or upper.shape != forecast.shape:
        raise ShapeError(
            f"lower and upper must have the forecast's shape {list(forecast.shape)}; got {list(lower.shape)}, {list(upper.shape)}"
        )
    named = [np.stack([forecast, lower, upper], axis=-1)]  # [horizon, nodes, channels, 3]
    suffixes = ["", "_lower", "_upper"]
    if quantiles is not None and levels is not None:
        if np.shape(quantiles) != (*forecast.shape, len(levels)):
            raise ShapeError(
                f"quantiles must be the forecast's shape {list(forecast.shape)} plus {len(levels)} levels; "
                f"got {list(np.shape(quantiles))}"
            )
        named.append(np.asarray(quantiles))
        suffixes += [f"_q{level:g}" for level in levels]
    columns = [f"{channel}{suffix}" for channel in channels for suffix in suffixes]
    # [horizon, nodes, channels, columns per channel] -> [horizon, nodes, all columns]: each channel beside its bounds
    stacked = np.concatenate(named, axis=-1).reshape(*forecast.shape[:2], -1)
    return forecast_frame(stacked, first_step=first_step, interval=interval, sensor_ids=sensor_ids, channels=columns)


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> str:
    """Write ``frame`` (index included) as CSV or Parquet, chosen by the file extension; atomic.

    Returns the format written. Raises ValueError for another extension.
    """
    path = Path(path)
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown output format {path.suffix!r}; use .csv or .parquet")
    with atomic_path(path, suffix=path.suffix) as tmp:
        if kind == "csv":
            frame.to_csv(tmp, date_format="%Y-%m-%d %H:%M:%S", float_format="%.4f")
        else:
            frame.to_parquet(tmp)
    return kind
