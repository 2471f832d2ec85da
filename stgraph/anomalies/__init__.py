"""Faulty sensors and anomalies: stuck readings, impossible zeros, readings outside physical
limits, and readings far from a trained run's one-step forecast.

:mod:`~stgraph.anomalies.detectors` holds the checks as pure functions over ``[time, sensors]``
arrays; :mod:`~stgraph.anomalies.reference` calibrates a run (residual thresholds, zero shares);
:mod:`~stgraph.anomalies.score` runs the checks and builds the table; :func:`find_anomalies`
does it all for a readings file (``stgraph anomalies``).
"""

from stgraph.anomalies.detectors import departure, out_of_range, spike, stuck, zero_share, zeros
from stgraph.anomalies.reference import Reference, load_reference, one_step_forecasts
from stgraph.anomalies.run import find_anomalies
from stgraph.anomalies.score import COLUMNS, KINDS, anomaly_table, detect, strongest
from stgraph.anomalies.settings import AnomalySettings

__all__ = [
    "COLUMNS",
    "KINDS",
    "AnomalySettings",
    "Reference",
    "anomaly_table",
    "departure",
    "detect",
    "find_anomalies",
    "load_reference",
    "one_step_forecasts",
    "out_of_range",
    "spike",
    "strongest",
    "stuck",
    "zero_share",
    "zeros",
]
