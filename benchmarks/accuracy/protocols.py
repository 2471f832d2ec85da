r"""The two evaluation protocols: how each paper splits, scales, windows and scores.

**T-GCN protocol** (Zhao et al., IEEE T-ITS 2020; official code lehaifeng/T-GCN, ``main.py``
and ``input_data.py``, TensorFlow version that produced the paper's tables):

- speed only; divided by its **maximum over the whole series** (``data1 / np.max(data1)``;
  the one scalar comes from all steps, test included, as in the code);
- **80 % / 20 %** chronological split of the steps (``train_size = int(time_len * 0.8)``),
  no validation part;
- windows of ``seq_len = 12`` inputs and ``pre_len`` targets inside each part, starts
  ``0 .. len(part) - seq_len - pre_len - 1`` (``range(len(part) - seq_len - pre_len)``: the
  code leaves out the last window that would fit);
- Los-loop horizons 15 / 30 / 45 / 60 min are **separate models** with ``pre_len`` = 3, 6, 9, 12
  (T-GCN-TensorFlow README), and each is scored on **all its pre_len steps pooled**, not on the
  last step alone (``evaluation`` reshapes the labels to ``[-1, num_nodes]``);
- metrics: :func:`~benchmarks.accuracy.tgcn_metrics.tgcn_metrics`;
- the code tests after every epoch and reports the epoch with the **lowest test RMSE** (model
  selection on the test set). We report the last epoch, and that selection beside it.

**DCRNN protocol** (Li et al., ICLR 2018; also Graph WaveNet, STGCN re-runs): 70 / 10 / 20
chronological split, 12 -> 12, z-score scaler fitted on the training part, speed plus time of
day as inputs, masked MAE / RMSE / MAPE at horizon steps 3, 6, 12 and averaged over all 12,
model selected on validation MAE. Our split drops windows straddling a boundary
(:mod:`stgraph.data.splits`), and the scaler uses observed readings only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stgraph.data import SensorSeries, StandardScaler, WindowDataset, split_by_fraction
from stgraph.data.splits import Split
from stgraph.errors import SensorDataError

__all__ = ["TGCNWindows", "tgcn_windows", "DCRNNWindows", "dcrnn_windows", "TGCN_HORIZONS"]

#: T-GCN's Los-loop horizons: pre_len 3, 6, 9, 12 steps of 5 minutes.
TGCN_HORIZONS = (3, 6, 9, 12)


@dataclass
class TGCNWindows:
    """Train and test windows under the T-GCN protocol, on max-normalised speed.

    ``x`` and ``y`` are both divided by ``max_value``; multiply forecasts and targets by it to
    get mph.
    """

    train: WindowDataset
    test: WindowDataset
    max_value: float
    train_steps: int
    pre_len: int


def tgcn_windows(series: SensorSeries, pre_len: int, *, lookback: int = 12, train_rate: float = 0.8) -> TGCNWindows:
    """Cut ``series`` (first feature) as T-GCN's ``preprocess_data`` does, for one ``pre_len``."""
    values = series.values[:, :, :1].astype(np.float32)
    max_value = float(values.max())
    if not max_value > 0:
        raise SensorDataError(f"{series.source or 'series'}: the maximum reading is {max_value}; T-GCN's max scaling needs it > 0")
    scaled = values / max_value
    mask = series.mask[:, :, :1]
    num_steps = series.num_steps
    train_size = int(num_steps * train_rate)
    parts = {"train": (0, train_size), "test": (train_size, num_steps)}
    windows = {}
    for name, (begin, end) in parts.items():
        count = (end - begin) - lookback - pre_len
        if count < 1:
            raise SensorDataError(
                f"{series.source or 'series'}: the {name} part has {end - begin} steps; no window of {lookback} + {pre_len} fits"
            )
        starts = begin + np.arange(count)
        windows[name] = WindowDataset((scaled, mask), lookback=lookback, horizon=pre_len, starts=starts)
    return TGCNWindows(windows["train"], windows["test"], max_value, train_size, pre_len)


@dataclass
class DCRNNWindows:
    """Train, validation and test windows under the DCRNN protocol (x scaled, y in original units)."""

    train: WindowDataset
    val: WindowDataset
    test: WindowDataset
    scaler: StandardScaler
    split: Split

    def scale(self, y: torch.Tensor) -> torch.Tensor:
        """Targets into the model's scaled units."""
        return self.train.target_scaler.transform(y)

    def unscale(self, forecast: torch.Tensor) -> torch.Tensor:
        """Forecasts back to original units."""
        return self.train.target_scaler.inverse_transform(forecast)


def dcrnn_windows(
    series: SensorSeries,
    *,
    lookback: int = 12,
    horizon: int = 12,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    covariates: tuple[str, ...] = ("time_of_day",),
) -> DCRNNWindows:
    """70/10/20 split, scaler fitted on the training steps' observed readings, time-of-day input."""
    split = split_by_fraction(series.num_steps, lookback=lookback, horizon=horizon, fractions=fractions)
    empty = [part for part, size in split.sizes().items() if size == 0]
    if empty:
        raise SensorDataError(f"{series.source or 'series'}: {series.num_steps} steps leave no window for {', '.join(empty)}")
    scaler = StandardScaler().fit(series, steps=split.train_steps)
    parts = {
        part: WindowDataset(
            series, lookback=lookback, horizon=horizon, starts=split.starts(part), scaler=scaler, covariates=list(covariates)
        )
        for part in ("train", "val", "test")
    }
    return DCRNNWindows(parts["train"], parts["val"], parts["test"], scaler, split)
