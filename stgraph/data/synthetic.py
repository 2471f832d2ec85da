"""A synthetic sensor network of any size: to try stgraph at LargeST scale without the data.

:func:`synthetic_network` places ``sensors`` detectors in a state-sized box (California's, by
default), clustered around metropolitan centres as freeway detectors are, links each to its
nearest neighbours (then joins any disconnected piece to its nearest sensor, so the graph is
one component), and generates ``steps`` readings of speed with

- a free-flow speed per sensor (55 to 70 mph);
- weekday morning and evening rush-hour dips (8:00 and 17:30) whose depth varies by sensor and
  is shared by neighbours (the sensor's metropolitan centre), about a third as deep at weekends:
  daily and weekly periodicity for the calendar inputs to learn;
- AR(1) noise (correlated over about an hour) and ``missing`` of the readings masked, at random
  and in outages of a few hours.

The values are in memory (``[steps, sensors, 1]`` float32: 1.2 GB for 8,600 sensors x 35,000
steps) and are generated in time order, one step of noise at a time, without temporaries of the
series' size.

Example:
    >>> series, graph = synthetic_network(50, 288, seed=0)
    >>> series.values.shape, graph.num_sensors
    ((288, 50, 1), 50)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from stgraph.data.series import SensorSeries
from stgraph.errors import SensorDataError
from stgraph.graph import SensorGraph

__all__ = ["CALIFORNIA", "synthetic_network"]

#: latitude and longitude bounds (degrees) of California: south, north, west, east
CALIFORNIA = (32.5, 42.0, -124.4, -114.1)

_RUSH_HOURS = ((8.0, 1.2), (17.5, 1.5))  # centre and width (hours) of the daily dips
_WEEKEND_DEPTH = 0.3
_NOISE_MPH, _NOISE_MEMORY = 3.0, 0.92  # AR(1): standard deviation, coefficient per step at 5 min


def synthetic_network(
    sensors: int,
    steps: int,
    *,
    interval: str = "15min",
    start: str = "2019-01-01 00:00",
    box: tuple[float, float, float, float] = CALIFORNIA,
    neighbors: int = 8,
    centres: int | None = None,
    missing: float = 0.02,
    seed: int = 0,
) -> tuple[SensorSeries, SensorGraph]:
    """Readings and graph of a synthetic network (module docstring): the same ``seed``, the same
    network, bit for bit.

    Args:
        sensors, steps: size of the series ``[steps, sensors, 1]`` (feature ``speed``, mph).
        interval, start: the time grid.
        box: south, north, west, east bounds of the sensor coordinates (degrees).
        neighbors: each sensor is linked to this many nearest (both directions, Gaussian weights
            of distance); the graph is then made connected.
        centres: metropolitan centres the sensors cluster around (default ``sensors // 100 + 3``).
        missing: share of readings masked (half at random, half in outages).
        seed: random seed.

    Returns:
        ``(series, graph)``, sensors ``"s0", "s1", ...`` in the same order in both; the graph
        carries the coordinates.
    """
    if sensors < 2 or steps < 2:
        raise SensorDataError(f"a synthetic network needs at least 2 sensors and 2 steps, got {sensors} x {steps}")
    if not 0 <= missing < 1:
        raise SensorDataError(f"missing must be a share in [0, 1), got {missing}")
    rng = np.random.default_rng(seed)
    coordinates, centre_of = _layout(rng, sensors, box, centres or sensors // 100 + 3)
    ids = [f"s{i}" for i in range(sensors)]
    graph = SensorGraph(
        _knn_adjacency(coordinates, min(neighbors, sensors - 1)),
        ids,
        coordinates=coordinates,
        name=f"synthetic-{sensors}",
    )
    timestamps = pd.date_range(start, periods=steps, freq=interval)
    values = _speeds(rng, timestamps, centre_of)
    mask = _observed(rng, steps, sensors, missing, pd.Timedelta(interval))
    values[~mask] = 0.0
    series = SensorSeries(values[:, :, None], mask[:, :, None], timestamps, ids, ["speed"], source=f"synthetic-{sensors}")
    return series, graph


def _layout(
    rng: np.random.Generator, sensors: int, box: tuple[float, float, float, float], centres: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``[sensors, 2]`` clustered around ``centres`` random points, and each sensor's centre."""
    south, north, west, east = box
    middle = np.column_stack([rng.uniform(south, north, centres), rng.uniform(west, east, centres)])
    size = rng.pareto(1.5, centres) + 1  # a few large metropolitan areas, many small towns
    centre_of = rng.choice(centres, size=sensors, p=size / size.sum())
    spread = 0.05 + 0.1 * np.sqrt(size[centre_of] / size.max())  # degrees
    points = middle[centre_of] + rng.normal(size=(sensors, 2)) * spread[:, None]
    points[:, 0] = points[:, 0].clip(south, north)
    points[:, 1] = points[:, 1].clip(west, east)
    return points, centre_of


def _knn_adjacency(coordinates: np.ndarray, k: int) -> sp.csr_matrix:
    """Symmetric k-nearest-neighbour graph with Gaussian weights, joined into one component."""
    # equirectangular projection: distances in kilometres near enough for choosing neighbours
    scale = np.array([111.0, 111.0 * np.cos(np.deg2rad(coordinates[:, 0].mean()))])
    points = coordinates * scale
    tree = cKDTree(points)
    distance, index = tree.query(points, k + 1)
    distance, index = distance[:, 1:], index[:, 1:]  # the sensor itself comes first
    sigma = float(distance.std()) or 1.0
    n = len(points)
    rows = np.repeat(np.arange(n), k)
    matrix = sp.coo_matrix((np.exp(-((distance.ravel() / sigma) ** 2)), (rows, index.ravel())), shape=(n, n)).tocsr()
    matrix = matrix.maximum(matrix.T).tolil()
    count, label = connected_components(matrix, directed=False)
    while count > 1:  # link the smallest piece to the nearest sensor outside it, until one is left
        smallest = int(np.argmin(np.bincount(label)))
        inside, outside = np.flatnonzero(label == smallest), np.flatnonzero(label != smallest)
        gap, nearest = cKDTree(points[outside]).query(points[inside])
        j = int(np.argmin(gap))
        a, b = int(inside[j]), int(outside[nearest[j]])
        weight = float(np.exp(-((gap[j] / sigma) ** 2))) or 1e-6
        matrix[a, b] = matrix[b, a] = weight
        count, label = connected_components(matrix, directed=False)
    return matrix.tocsr().astype(np.float32)


def _speeds(rng: np.random.Generator, timestamps: pd.DatetimeIndex, centre_of: np.ndarray) -> np.ndarray:
    """``[steps, sensors]`` speeds: free flow minus rush-hour dips, plus AR(1) noise."""
    sensors = len(centre_of)
    free = rng.uniform(55.0, 70.0, sensors).astype(np.float32)
    centre_depth = rng.uniform(10.0, 35.0, centre_of.max() + 1)
    depth = (centre_depth[centre_of] * rng.uniform(0.6, 1.2, sensors)).astype(np.float32)
    hours = np.asarray(timestamps.hour + timestamps.minute / 60.0, dtype=np.float64)
    profile = sum(np.exp(-(((hours - centre) / width) ** 2)) for centre, width in _RUSH_HOURS)
    profile = profile * np.where(np.asarray(timestamps.day_of_week) >= 5, _WEEKEND_DEPTH, 1.0)
    steps_per_5min = (timestamps[1] - timestamps[0]) / pd.Timedelta("5min")
    memory = np.float32(_NOISE_MEMORY**steps_per_5min)
    innovation = np.float32(_NOISE_MPH * np.sqrt(1 - memory**2))
    values = np.empty((len(timestamps), sensors), dtype=np.float32)
    noise = rng.standard_normal(sensors, dtype=np.float32) * np.float32(_NOISE_MPH)
    for t in range(len(timestamps)):
        noise *= memory
        noise += innovation * rng.standard_normal(sensors, dtype=np.float32)
        np.subtract(free, depth * np.float32(profile[t]), out=values[t])
        values[t] += noise
    np.clip(values, 3.0, 85.0, out=values)
    return values


def _observed(rng: np.random.Generator, steps: int, sensors: int, missing: float, interval: pd.Timedelta) -> np.ndarray:
    """``[steps, sensors]`` mask: about ``missing / 2`` of readings dropped at random and as much in outages."""
    mask = np.empty((steps, sensors), dtype=bool)
    for chunk in range(0, steps, 4096):  # no float temporary of the series' size
        rows = min(4096, steps - chunk)
        mask[chunk : chunk + rows] = rng.random((rows, sensors), dtype=np.float32) >= missing / 2
    outage = max(1, int(pd.Timedelta(hours=3) / interval))
    count = int(missing / 2 * steps * sensors / outage)
    begin = rng.integers(0, max(1, steps - outage), count)
    who = rng.integers(0, sensors, count)
    for b, s in zip(begin.tolist(), who.tolist()):
        mask[b : b + outage, s] = False
    return mask
