"""The benchmark graphs by name: METR-LA (207) and PEMS-BAY (325) real graphs, kNN graphs.

Real graphs are DCRNN's adjacency pickles, read from ``$STGRAPH_BENCH_GRAPHS`` (a folder holding
``metr-la-graph/adj_mx.pkl`` and ``pems-bay-graph/adj_mx_bay.pkl``; how the GPU machine, which
gets only the repository, finds them) or from ``../shared/data`` beside the checkout
(:data:`benchmarks.data_root.SHARED_DATA`). ``knn-<n>``: ``n`` sensors at random points, each
linked to its 10 nearest (:func:`knn`).

:func:`load_graph` gives the sensors in the order the trainer gives them
(:func:`stgraph.graph.ordering.ordered_for_locality`: reverse Cuthill-McKee from 1,000 sensors
up, so the kNN graphs are renumbered and the real ones are not), so the models are timed as
``stgraph train`` runs them; :func:`propagation_graph` gives them as built, for the
propagation benchmarks that time both orders.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from benchmarks.data_root import SHARED_DATA
from stgraph.errors import GraphError
from stgraph.graph import SensorGraph, from_matrix
from stgraph.graph.ordering import ordered_for_locality

__all__ = ["REAL_GRAPHS", "knn", "load_graph", "propagation_graph", "real_graph"]

REAL_GRAPHS = {"metr-la": "metr-la-graph/adj_mx.pkl", "pems-bay": "pems-bay-graph/adj_mx_bay.pkl"}


def _roots() -> list[Path]:
    env = os.environ.get("STGRAPH_BENCH_GRAPHS")
    return ([Path(env)] if env else []) + [SHARED_DATA]


def knn(sensors: int, k: int = 10, seed: int = 0) -> SensorGraph:
    """Sensors at uniform random points of a square, each linked to its ``k`` nearest with a
    Gaussian weight of distance (LargeST-like sizes: 2,000 and 8,600 sensors), in random order."""
    rng = np.random.default_rng(seed)
    points = rng.random((sensors, 2))
    distance, index = cKDTree(points).query(points, k + 1)
    distance, index = distance[:, 1:], index[:, 1:]  # drop the sensor itself
    weights = np.exp(-((distance / distance.std()) ** 2))
    rows = np.repeat(np.arange(sensors), k)
    adjacency = sp.csr_matrix((weights.ravel(), (rows, index.ravel())), shape=(sensors, sensors))
    return SensorGraph(adjacency, name=f"knn-{sensors}")


def real_graph(name: str) -> SensorGraph:
    """``"metr-la"`` or ``"pems-bay"`` in the file's sensor order; GraphError when no root holds it."""
    if name not in REAL_GRAPHS:
        raise GraphError(f"unknown benchmark graph {name!r}; expected one of {sorted(REAL_GRAPHS)} or knn-<sensors>")
    for root in _roots():
        path = root / REAL_GRAPHS[name]
        if path.is_file():
            graph = from_matrix(path)
            graph.name = name
            return graph
    raise GraphError(f"{name}: {REAL_GRAPHS[name]} not found under {', '.join(str(r) for r in _roots())}")


def load_graph(name: str) -> SensorGraph:
    """``"metr-la"``, ``"pems-bay"`` or ``"knn-<sensors>"`` -> SensorGraph, in the trainer's sensor order."""
    if name.startswith("knn-"):
        try:
            sensors = int(name[4:])
        except ValueError:
            raise GraphError(f"graph {name!r}: expected knn-<sensors>, e.g. knn-2000") from None
        return ordered_for_locality(knn(sensors))
    return ordered_for_locality(real_graph(name))


def propagation_graph(sensors: int) -> SensorGraph:
    """What the propagation benchmarks time for ``sensors``, as built: METR-LA's real graph for
    207 when its file is found, else a kNN graph of ``sensors``."""
    if sensors == 207:
        try:
            return real_graph("metr-la")
        except GraphError:
            pass  # no real data here: a kNN graph of the same size
    return knn(sensors)
