"""Tiny synthetic datasets for the benchmark smoke tests (seconds, CPU)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from benchmarks.accuracy.data import LoadedDataset
from stgraph import SensorGraph
from stgraph.data import SensorSeries
from stgraph.data.catalog import get_dataset


@pytest.fixture
def tiny_loop() -> LoadedDataset:
    """Los-loop's catalog entry with 5 sensors on a ring and 400 five-minute steps of speeds."""
    rng = np.random.default_rng(0)
    steps, sensors = 400, 5
    time = np.arange(steps)[:, None]
    values = (50 + 10 * np.sin(2 * np.pi * time / 288 + np.arange(sensors)) + rng.normal(0, 1, (steps, sensors)))
    series = SensorSeries(
        values=values[:, :, None].astype(np.float32),
        mask=np.ones((steps, sensors, 1), dtype=bool),
        timestamps=pd.date_range("2012-03-01", periods=steps, freq="5min"),
        sensor_ids=[f"s{i}" for i in range(sensors)],
        feature_names=["speed"],
        interval=pd.Timedelta("5min"),
        source="tiny.csv",
    )
    ring = sp.csr_matrix((np.ones(sensors), (np.arange(sensors), (np.arange(sensors) + 1) % sensors)), shape=(sensors, sensors))
    graph = SensorGraph(ring + ring.T, series.sensor_ids, name="tiny")
    return LoadedDataset(info=get_dataset("los-loop"), series=series, graph=graph, folder=None)
