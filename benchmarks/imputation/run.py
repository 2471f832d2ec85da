r"""Score imputers on readings hidden by the GRIN / SPIN protocols (:mod:`stgraph.impute.masking`).

For each dataset, pattern (``point``: 25 % of the observed readings; ``block``: blocks of 1-4 h
per sensor plus 5 % of points) and seed, the hidden readings are removed from the mask, each
method fills the series from what is left (the learned imputer, :mod:`stgraph.impute.learned`,
is trained on what is left, with its default settings), and it is scored on the hidden readings
only:

.. math::
    \mathrm{MAE} = \frac{1}{|H|}\sum_{(t,n) \in H} |\hat x_{t,n} - x_{t,n}|, \quad
    \mathrm{RMSE} = \sqrt{\frac{1}{|H|}\sum_{(t,n) \in H} (\hat x_{t,n} - x_{t,n})^2}

Readings missing in the file itself (the raw METR-LA slice's zeros) are neither inputs nor scored.

Datasets, from the data root (:func:`benchmarks.data_root.default_data_root`), each skipped with
a line when its files are absent:

* ``los-loop``: the catalog entry (``los-loop/los_speed.csv``, T-GCN's ``los_adj.csv``);
* ``metr-la-sample100``: ``metr-la-sample100/METRLA.json``, the first 100 raw METR-LA steps
  (0 = missing), with DCRNN's graph ``metr-la-graph/adj_mx.pkl``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries
from stgraph.graph import from_matrix, read_sensor_ids
from stgraph.impute import METHODS, block_missing, impute, point_missing
from stgraph.pipeline.config import DataConfig
from stgraph.pipeline.data import load_readings_and_graph

__all__ = ["DATASETS", "PATTERNS", "Benchmark", "load_dataset", "score", "score_dataset"]

PATTERNS: dict[str, Callable[[SensorSeries, int], np.ndarray]] = {
    "point": lambda series, seed: point_missing(series.mask[..., 0], seed=seed),
    "block": lambda series, seed: block_missing(series.mask[..., 0], series.interval, seed=seed),
}


@dataclass
class Benchmark:
    """One dataset: its readings (one feature) and the adjacency in the readings' sensor order."""

    name: str
    series: SensorSeries
    adjacency: sp.csr_matrix


def _los_loop(root: Path) -> Benchmark | None:
    if not (root / "los-loop" / "los_speed.csv").is_file():
        return None
    series, graph, *_ = load_readings_and_graph(DataConfig(dataset="los-loop"), root=root)
    return Benchmark("los-loop", series, graph.adjacency)


def _metr_la_sample100(root: Path) -> Benchmark | None:
    readings, graph_folder = root / "metr-la-sample100" / "METRLA.json", root / "metr-la-graph"
    if not (readings.is_file() and (graph_folder / "adj_mx.pkl").is_file()):
        return None
    ids = read_sensor_ids(graph_folder / "graph_sensor_ids.txt")
    series = load_series(readings, start="2012-03-01 00:00", interval="5min", null_value=0.0, sensor_ids=ids)
    graph = from_matrix(graph_folder / "adj_mx.pkl", series.sensor_ids)
    return Benchmark("metr-la-sample100", series, graph.adjacency)


#: dataset name -> loader from the data root (None when its files are absent)
DATASETS: dict[str, Callable[[Path], Benchmark | None]] = {"los-loop": _los_loop, "metr-la-sample100": _metr_la_sample100}


def load_dataset(name: str, root: Path) -> Benchmark | None:
    """Dataset ``name`` from ``root``, or None when its files are not there."""
    return DATASETS[name](root)


def score(filled: np.ndarray, truth: np.ndarray, hidden: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of ``filled`` against ``truth`` on the ``hidden`` cells only.

    Shapes:
        filled, truth, hidden: ``[time, sensors]``
    """
    error = (filled - truth)[hidden]
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean()))}


def score_dataset(benchmark: Benchmark, pattern: str, seed: int, methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    """Hide readings of ``benchmark`` by ``pattern`` and ``seed``, fill with each method, score."""
    series = benchmark.series
    truth = series.values[..., 0].astype(np.float64)
    hidden = PATTERNS[pattern](series, seed)
    left = series.mask[..., 0] & ~hidden
    rows = {}
    for method in methods:
        filled = impute(
            method,
            truth[..., None],
            left[..., None],
            timestamps=series.timestamps,
            interval=series.interval,
            adjacency=benchmark.adjacency,
            sensor_ids=series.sensor_ids,
        )[..., 0]
        rows[method] = score(filled, truth, hidden)
    return {
        "dataset": benchmark.name,
        "pattern": pattern,
        "seed": seed,
        "hidden": int(hidden.sum()),
        "observed": int(series.mask[..., 0].sum()),
        "methods": rows,
    }
