"""Graphs for the propagation benchmarks: the real METR-LA graph and synthetic kNN graphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from stgraph.graph import SensorGraph, from_matrix

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def metr_la() -> SensorGraph | None:
    """METR-LA's 207-sensor graph (DCRNN's adj_mx.pkl), or None when ../shared/data is absent."""
    path = SHARED_DATA / "metr-la-graph" / "adj_mx.pkl"
    if not path.is_file():
        return None
    graph = from_matrix(path)
    graph.name = "metr-la"
    return graph


def knn(sensors: int, k: int = 10, seed: int = 0) -> SensorGraph:
    """Sensors at uniform random points of a square, each linked to its ``k`` nearest with a
    Gaussian weight of distance (LargeST-like sizes: 2,000 and 8,600 sensors)."""
    rng = np.random.default_rng(seed)
    points = rng.random((sensors, 2))
    distance, index = cKDTree(points).query(points, k + 1)
    distance, index = distance[:, 1:], index[:, 1:]  # drop the sensor itself
    weights = np.exp(-((distance / distance.std()) ** 2))
    rows = np.repeat(np.arange(sensors), k)
    adjacency = sp.csr_matrix((weights.ravel(), (rows, index.ravel())), shape=(sensors, sensors))
    return SensorGraph(adjacency, name=f"knn-{sensors}")
