"""Sensor graphs: which sensors are connected, and how strongly; cached graph operators.

The way to build a graph is one of these functions; each returns a :class:`SensorGraph`:

* :func:`from_distances`: road distances ``from,to,cost`` (DCRNN's ``distances_*.csv``, the
  PEMS0x edge lists) through the thresholded Gaussian kernel.
* :func:`from_locations`: sensor id, latitude, longitude CSV; great-circle distances through
  the Gaussian kernel, or ``k`` nearest neighbours.
* :func:`from_matrix`: a ready-made ``[sensors, sensors]`` adjacency: an array, or a
  ``.csv``/``.txt``, ``.npy``, ``.npz`` or DCRNN ``.pkl`` file.
* :func:`from_distance_matrix`: a dense ``[sensors, sensors]`` distance matrix (PeMSD7(M)'s
  ``W_228.csv``) through the Gaussian kernel.
* :func:`from_edge_list`: edge rows ``from, to[, value]`` from a CSV file or an iterable; the
  header says whether the value is a distance (Gaussian kernel) or a weight (as it stands).
* :func:`from_networkx`: a networkx graph, sensors in node order.
* :func:`load_graph`: a ``.npz`` written by :func:`save_graph`, which writes one.

:func:`graph_diagnostics` says how a graph's file was read and what its builder lost (links
dropped by the threshold, isolated sensors, components), with the remedy.

``SensorGraph(adjacency, sensor_ids, coordinates=..., name=..., source=...)`` is for an
adjacency already in memory.
"""

from stgraph.graph.build import from_distances, from_locations, gaussian_kernel, haversine_distances
from stgraph.graph.diagnostics import graph_diagnostics
from stgraph.graph.loaders import from_distance_matrix, from_edge_list, from_matrix, from_networkx
from stgraph.graph.node2vec import node2vec_embedding, node2vec_walks, skip_gram
from stgraph.graph.ordering import locality_order, ordered_for_locality
from stgraph.graph.readers import read_sensor_ids
from stgraph.graph.report import BuildReport
from stgraph.graph.sensor_graph import SensorGraph
from stgraph.graph.storage import load_graph, save_graph

__all__ = [
    "BuildReport",
    "SensorGraph",
    "from_distance_matrix",
    "from_distances",
    "from_edge_list",
    "from_locations",
    "from_matrix",
    "from_networkx",
    "gaussian_kernel",
    "graph_diagnostics",
    "haversine_distances",
    "load_graph",
    "locality_order",
    "node2vec_embedding",
    "node2vec_walks",
    "ordered_for_locality",
    "read_sensor_ids",
    "save_graph",
    "skip_gram",
]
