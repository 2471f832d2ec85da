"""Sensor graphs: construction from distances, locations or matrices; cached operators."""

from stgraph.graph.sensor_graph import SensorGraph

__all__ = ["SensorGraph"]
