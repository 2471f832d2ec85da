r"""Sensor order for memory locality: neighbours of a sensor get nearby indices.

A graph convolution computes, for every sensor ``i``, a weighted sum of the feature rows of
its neighbours ``j``. The rows are read from memory in the order of the sensors, so when the
neighbours of consecutive sensors have scattered indices, every row is fetched from far
away: on a 8,600-sensor graph a batch slice's ``[sensors, 64]`` float table is 2.2 MB, more than
a core's 2 MiB L2 cache, and the CPU propagation ran about 2x slower in random order than in
the order below (``benchmarks/RESULTS.md``). Sensor IDs of real networks are often assigned
by district or corridor, but not always, and synthetic or merged networks have no order.

The reverse Cuthill-McKee order (George and Liu, *Computer Solution of Large Sparse Positive
Definite Systems*, 1981) renumbers the sensors breadth-first from a peripheral one, which
keeps every edge ``(i, j)`` close to the diagonal: it minimises, heuristically, the bandwidth
``max |i - j|`` over edges. The models are equivariant to the sensor order (relabelling
sensors permutes their outputs), so the order changes speed, not forecasts; everything the
trainer writes is labelled by sensor ID.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import reverse_cuthill_mckee

from stgraph.graph.sensor_graph import SensorGraph

__all__ = ["LOCALITY_MIN_SENSORS", "bandwidth", "locality_order", "ordered_for_locality"]

#: Below this many sensors one batch slice's features fit in a core's L2 cache in any order.
LOCALITY_MIN_SENSORS = 1000


def locality_order(graph: SensorGraph) -> np.ndarray:
    """The reverse Cuthill-McKee order of ``graph``'s sensors (edges taken as undirected).

    Returns:
        ``[sensors]`` int64: new sensor ``k`` is old sensor ``order[k]`` (as :meth:`SensorGraph.permute` takes it).
    """
    adjacency = graph.adjacency
    pattern = (adjacency + adjacency.T).tocsr()
    return np.asarray(reverse_cuthill_mckee(pattern, symmetric_mode=True), dtype=np.int64)


def bandwidth(graph: SensorGraph) -> int:
    """``max |i - j|`` over the graph's edges (0 without edges)."""
    coo = graph.adjacency.tocoo()
    return int(np.abs(coo.row - coo.col).max()) if coo.nnz else 0


def ordered_for_locality(graph: SensorGraph, min_sensors: int = LOCALITY_MIN_SENSORS) -> SensorGraph:
    """``graph`` renumbered by :func:`locality_order` when it has ``min_sensors`` or more, else ``graph``."""
    if graph.num_sensors < min_sensors:
        return graph
    return graph.permute(locality_order(graph))
