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
- metrics: :func:`~benchmarks.accuracy.tgcn_metrics.tgcn_metrics`, computed in mph (the code
  computes them on normalised values and multiplies RMSE and MAE by the maximum: the same numbers);
- the code tests after every epoch and reports the epoch with the **lowest test RMSE** (model
  selection on the test set). We report the last epoch, and that selection beside it.

**DCRNN protocol** (Li et al., ICLR 2018; also Graph WaveNet, STGCN re-runs): 70 / 10 / 20
chronological split, 12 -> 12, z-score scaler fitted on the training part, speed plus time of
day as inputs, masked MAE / RMSE / MAPE at horizon steps 3, 6, 12 and averaged over all 12,
model selected on validation MAE. Our split drops windows straddling a boundary
(:mod:`stgraph.data.splits`), and the scaler uses observed readings only.

Both come out of the library's pipeline as a :class:`~stgraph.pipeline.data.PreparedData`:
the DCRNN protocol is :func:`~stgraph.pipeline.data.prepare_data` with its data section; the
T-GCN protocol reads the same files and swaps in its split and a
:class:`~stgraph.data.scaling.MaxScaler`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from stgraph.data import MaxScaler, SensorSeries
from stgraph.data.splits import Split
from stgraph.errors import SensorDataError
from stgraph.graph import SensorGraph
from stgraph.pipeline import DataConfig, PreparedData, prepare_data

__all__ = ["TGCN_HORIZONS", "dcrnn_data", "tgcn_data"]

#: T-GCN's Los-loop horizons: pre_len 3, 6, 9, 12 steps of 5 minutes.
TGCN_HORIZONS = (3, 6, 9, 12)


def tgcn_data(
    series: SensorSeries, graph: SensorGraph, pre_len: int, *, name: str, lookback: int = 12, train_rate: float = 0.8
) -> PreparedData:
    """``series`` cut as T-GCN's ``preprocess_data`` does, for one ``pre_len``.

    The first feature only (speed), divided by its maximum over the whole series; train is the
    first ``int(steps * train_rate)`` steps, test the rest, no validation windows; inside each
    part the windows start at ``0 .. len(part) - lookback - pre_len - 1``.
    """
    train_size = int(series.num_steps * train_rate)
    starts = {}
    for part, (begin, end) in {"train": (0, train_size), "test": (train_size, series.num_steps)}.items():
        count = (end - begin) - lookback - pre_len  # range(len(part) - seq_len - pre_len): one less than fits
        if count < 1:
            raise SensorDataError(
                f"{series.source or 'series'}: the {part} part has {end - begin} steps; no window of {lookback} + {pre_len} fits"
            )
        starts[part] = begin + np.arange(count, dtype=np.int64)
    split = Split(
        train=starts["train"],
        val=np.zeros(0, dtype=np.int64),
        test=starts["test"],
        boundaries=(train_size, train_size),
        num_steps=series.num_steps,
        lookback=lookback,
        horizon=pre_len,
    )
    speed = [series.feature_names[0]]
    return PreparedData(
        series=series,
        graph=graph,
        split=split,
        scaler=MaxScaler().fit(series),
        input_features=speed,
        target_features=speed,
        covariates=[],
        null_value=None,
        name=name,
    )


def dcrnn_data(
    dataset: str, root: str | os.PathLike | None = None, *, covariates: Sequence[str] = ("time_of_day",)
) -> PreparedData:
    """Catalog dataset ``dataset`` from ``root`` under the DCRNN protocol: 70/10/20, 12 -> 12,
    speed and ``covariates`` (the protocol's: time of day), z-score fitted on the training steps
    (the pipeline's defaults). The split and the scaling do not depend on ``covariates``."""
    config = DataConfig(dataset=dataset, covariates=list(covariates), lookback=12, horizon=12, split=[0.7, 0.1, 0.2])
    config.validate()
    return prepare_data(config, root=root)
