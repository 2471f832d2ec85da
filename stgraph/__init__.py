"""stgraph: graph spatio-temporal traffic forecasting.

Data flows one way: raw files -> :class:`SensorGraph` + :class:`SensorSeries` -> windowed,
scaled, masked samples -> model -> forecasts -> masked metrics, plots and exports.
"""

from stgraph.data import SensorSeries, load_series
from stgraph.errors import GraphError, SensorDataError, ShapeError
from stgraph.graph import SensorGraph

__version__ = "0.1.0"

__all__ = ["GraphError", "SensorDataError", "SensorGraph", "SensorSeries", "ShapeError", "__version__", "load_series"]
