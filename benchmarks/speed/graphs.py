"""The benchmark graphs by name: METR-LA (207) and PEMS-BAY (325) real graphs, kNN graphs.

Real graphs are DCRNN's adjacency pickles, read from ``../shared/data`` beside the checkout, or
from ``$STGRAPH_BENCH_GRAPHS`` (a folder holding ``metr-la-graph/adj_mx.pkl`` and
``pems-bay-graph/adj_mx_bay.pkl``; how the GPU machine, which gets only the repository, finds
them). ``knn-<n>``: ``n`` sensors at random points, each linked to its 10 nearest
(:func:`benchmarks.speed._graphs.knn`).

Sensors come in the order the trainer gives them (:func:`stgraph.graph.ordering.ordered_for_locality`:
reverse Cuthill-McKee from 1,000 sensors up, so the kNN graphs are renumbered and the real ones
are not), so the models are timed as ``stgraph train`` runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.speed._graphs import SHARED_DATA, knn
from stgraph.errors import GraphError
from stgraph.graph import SensorGraph, from_matrix
from stgraph.graph.ordering import ordered_for_locality

__all__ = ["load_graph", "REAL_GRAPHS"]

REAL_GRAPHS = {"metr-la": "metr-la-graph/adj_mx.pkl", "pems-bay": "pems-bay-graph/adj_mx_bay.pkl"}


def _roots() -> list[Path]:
    env = os.environ.get("STGRAPH_BENCH_GRAPHS")
    return ([Path(env)] if env else []) + [SHARED_DATA]


def load_graph(name: str) -> SensorGraph:
    """``"metr-la"``, ``"pems-bay"`` or ``"knn-<sensors>"`` -> SensorGraph."""
    if name.startswith("knn-"):
        try:
            sensors = int(name[4:])
        except ValueError:
            raise GraphError(f"graph {name!r}: expected knn-<sensors>, e.g. knn-2000") from None
        return ordered_for_locality(knn(sensors))
    if name not in REAL_GRAPHS:
        raise GraphError(f"unknown benchmark graph {name!r}; expected one of {sorted(REAL_GRAPHS)} or knn-<sensors>")
    for root in _roots():
        path = root / REAL_GRAPHS[name]
        if path.is_file():
            graph = from_matrix(path)
            graph.name = name
            return ordered_for_locality(graph)
    raise GraphError(f"{name}: {REAL_GRAPHS[name]} not found under {', '.join(str(r) for r in _roots())}")
