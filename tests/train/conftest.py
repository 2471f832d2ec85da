"""A 3-sensor toy dataset and a tiny T-GCN configuration: a real training run in about a second."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.data.series import SensorSeries
from stgraph.graph import from_matrix
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig, TrainingConfig
from stgraph.pipeline.data import PreparedData, prepare_series

LOOKBACK, HORIZON, BATCH = 4, 2, 8


def toy_data(steps: int = 60, test_share: float = 0.2) -> PreparedData:
    """A daily-looking sine per sensor plus seeded noise, a few readings missing.

    With 60 steps and shares (0.6, 0.2, 0.2): 31 training windows (4 batches of 8), 7
    validation windows, 7 test windows.
    """
    rng = np.random.default_rng(0)
    t = np.arange(steps)[:, None]
    values = 50 + 10 * np.sin(2 * np.pi * t / 12 + np.arange(3)) + rng.normal(0, 1, size=(steps, 3))
    values = values.astype(np.float32)[:, :, None]
    mask = rng.random(values.shape) > 0.05
    series = SensorSeries(
        values=np.where(mask, values, 0.0).astype(np.float32),
        mask=mask,
        timestamps=pd.date_range("2024-01-01", periods=steps, freq="5min"),
        sensor_ids=["a", "b", "c"],
        feature_names=["speed"],
    )
    adjacency = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.3], [0.0, 0.3, 1.0]])
    fractions = (0.6, 0.4 - test_share, test_share)
    graph = from_matrix(adjacency, series.sensor_ids)
    return prepare_series(series, graph, lookback=LOOKBACK, horizon=HORIZON, fractions=fractions, name="toy", units="km/h")


def toy_config(**training) -> ExperimentConfig:
    """T-GCN with 4 hidden units on :func:`toy_data`; ``training`` overrides the training section."""
    options = {"epochs": 2, "lr": 0.01, "accelerator": "cpu", "devices": 1, "progress_bar": False, "threads": 1, **training}
    return ExperimentConfig(
        data=DataConfig(
            readings="toy.csv", adjacency="toy.npz", lookback=LOOKBACK, horizon=HORIZON, batch_size=BATCH, covariates=[]
        ),
        model=ModelConfig(name="tgcn", options={"hidden": 4}),
        training=TrainingConfig(**options),
    )


@pytest.fixture
def data() -> PreparedData:
    """:func:`toy_data`: 31 training windows (4 batches of 8), 7 validation and 7 test windows."""
    return toy_data()


@pytest.fixture
def make_data():
    """:func:`toy_data` itself, for other lengths or splits."""
    return toy_data


@pytest.fixture
def make_config():
    """:func:`toy_config` itself: ``make_config(epochs=3, max_steps=2)``."""
    return toy_config
