"""Sensor graphs: construction from distances, locations or matrices; cached operators."""

from stgraph.graph.build import BuildReport, from_distances, from_locations, gaussian_kernel, haversine_distances
from stgraph.graph.loaders import from_distance_matrix, from_edge_list, from_matrix, from_networkx
from stgraph.graph.ordering import locality_order, ordered_for_locality
from stgraph.graph.readers import read_sensor_ids
from stgraph.graph.sensor_graph import SensorGraph
from stgraph.graph.storage import load_graph, save_graph

__all__ = [
    "SensorGraph",
    "BuildReport",
    "from_distances",
    "from_locations",
    "from_matrix",
    "from_distance_matrix",
    "from_edge_list",
    "from_networkx",
    "gaussian_kernel",
    "haversine_distances",
    "read_sensor_ids",
    "save_graph",
    "load_graph",
    "locality_order",
    "ordered_for_locality",
]
