"""Runs of every model on the committed METR-LA sample (a subset of its sensors, random weights:
parity needs the real windows, not trained weights)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries
from stgraph.graph import SensorGraph, from_matrix
from stgraph.pipeline.calibration import Calibration, save_calibration
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig
from stgraph.pipeline.data import prepare_series
from stgraph.pipeline.model_file import save_model_file
from stgraph.pipeline.run_dir import build_model, run_metadata

SENSORS = 12
#: smaller sizes where export time grows with depth (the graph of ops, not the weights, is the cost)
OPTIONS: dict[str, dict[str, Any]] = {
    "agcrn": {"layers": 1, "hidden": 16},
    "d2stgnn": {"layers": 1, "hidden": 16},
    "dcrnn": {"num_layers": 1, "hidden": 16},
    "fc_lstm": {"num_layers": 1, "hidden": 32},
    "gman": {"layers": 1},
    "graph_wavenet": {"blocks": 2},
    "mtgnn": {"layers": 1},
}
FULL_WINDOW = {"lookback": 12, "horizon": 12}
#: with ``short=True``: shorter windows where the graph of ops is unrolled over time (recurrences, attention across steps)
WINDOW: dict[str, dict[str, int]] = {
    name: {"lookback": 6, "horizon": 3} for name in ("agcrn", "d2stgnn", "dcrnn", "fc_lstm", "gman", "tgcn")
}


@pytest.fixture(scope="session")
def sample(sample_dir: Path) -> tuple[SensorSeries, SensorGraph]:
    """The sample's first ``SENSORS`` sensors (a day and a half), with 3 % of readings missing."""
    full = load_series(sample_dir / "readings.csv.gz", null_value=0.0)
    steps = 432
    values = full.values[:steps, :SENSORS].copy()
    mask = full.mask[:steps, :SENSORS].copy()
    rng = np.random.default_rng(7)
    dropped = rng.random(mask.shape) < 0.03
    mask &= ~dropped
    values[~mask] = 0.0  # as load_series stores a missing reading
    ids = full.sensor_ids[:SENSORS]
    series = SensorSeries(values, mask, full.timestamps[:steps], ids, full.feature_names, source="sample")
    adjacency = sp.load_npz(sample_dir / "adjacency.npz").toarray()[:SENSORS, :SENSORS]
    return series, from_matrix(adjacency, ids)


RunFactory = Callable[..., Path]


@pytest.fixture(scope="session")
def make_run(sample: tuple[SensorSeries, SensorGraph], tmp_path_factory: pytest.TempPathFactory) -> RunFactory:
    """``make_run(name, covariates=..., quantiles=None, coverage=None, per_sensor=False, scaled=False, missing_inputs="zero", short=False)``: a run directory holding
    ``model.pt`` (seeded random weights) and, with ``coverage``, a ``calibration.npz``."""
    series, graph = sample

    def make(
        name: str,
        *,
        covariates: tuple[str, ...] = ("time_of_day", "day_of_week"),
        quantiles: list[float] | None = None,
        coverage: float | None = None,
        per_sensor: bool = False,
        scaled: bool = False,
        missing_inputs: str = "zero",
        short: bool = False,
    ) -> Path:
        data = prepare_series(
            series, graph, covariates=list(covariates), null_value=0.0, name="sample", units="mph", missing_inputs=missing_inputs
        )
        options = dict(OPTIONS.get(name, {}))
        window = WINDOW.get(name, FULL_WINDOW) if short else FULL_WINDOW
        if quantiles is not None:
            options["quantiles"] = quantiles
        config = ExperimentConfig(
            data=DataConfig(readings="readings.csv.gz", adjacency="adjacency.npz", **window, missing_inputs=missing_inputs),
            model=ModelConfig(name=name, options=options),
        )
        torch.manual_seed(0)
        model, kwargs = build_model(config, data)
        out = tmp_path_factory.mktemp(f"run-{name}")
        save_model_file(out / "model.pt", {**run_metadata(config, data, kwargs), "state_dict": model.state_dict()})
        if coverage is not None:
            rng = np.random.default_rng(1)
            margin = rng.uniform(1.0, 5.0, size=(12, SENSORS if per_sensor else 1, 1))
            margin[3, 0, 0] = np.inf  # a step with too few scores
            bounds = None if quantiles is None else (0, len(quantiles) - 1)
            # scaled: margins that follow the forecast step's hour of day and sensor (training.coverage_scale)
            scale = rng.uniform(0.5, 2.0, size=(12, 24, SENSORS, 1)) if scaled else None
            calibration = Calibration(
                coverage=coverage,
                margin=margin,
                bounds=bounds,
                windows=50,
                per_sensor=per_sensor,
                scale=scale,
                scale_kind="sensor_time_of_day" if scaled else "none",
            )
            save_calibration(out / "calibration.npz", calibration)
        return out

    return make
