r"""Build sensor graphs from road distances or sensor locations (thresholded Gaussian kernel).

The thresholded Gaussian kernel of DCRNN (Li et al., ICLR 2018; after Shuman et al., IEEE Signal
Processing Magazine 2013), also used by STGCN (Yu et al., IJCAI 2018):

.. math::
    w_{ij} = \exp\!\left(-\frac{d_{ij}^2}{\sigma^2}\right) \text{ if that is } \ge \kappa,
    \text{ else } 0

with :math:`\sigma` the standard deviation of the distances and :math:`\kappa` the threshold
(0.1). As in DCRNN's ``gen_adj_mx.py``, :math:`\sigma` is the population standard deviation
(``ddof=0``) of every finite distance between two *listed* sensors that the file gives,
self-pairs at distance 0 included; pairs the file does not list are unconnected
(:math:`d = \infty`); when a pair is listed twice the last row wins. With these rules PEMS-BAY's
``distances_bay_2017.csv`` reproduces DCRNN's ``adj_mx_bay.pkl`` (we compute in float64 where
DCRNN used float32; the weights agree to 1e-7).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from stgraph.errors import GraphError
from stgraph.graph.readers import (
    EdgeRows,
    column_meaning,
    order_sensor_ids,
    read_edge_rows,
    read_locations,
    read_sensor_ids,
)
from stgraph.graph.report import BuildReport, name_sensors, short_number, threshold_keeping
from stgraph.graph.sensor_graph import SensorGraph

__all__ = [
    "EARTH_RADIUS_M",
    "edge_adjacency",
    "from_distances",
    "from_locations",
    "gaussian_kernel",
    "haversine_distances",
    "index_edge_rows",
    "kernel_graph",
    "resolve_sensor_ids",
    "threshold_linking_all",
]

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG) in metres, for great-circle distances."""


def gaussian_kernel(distances: np.ndarray, sigma: float, threshold: float = 0.1) -> np.ndarray:
    r"""Weights :math:`\exp(-(d/\sigma)^2)`, set to 0 where below ``threshold``.

    Shapes:
        distances: any shape, non-negative, ``inf`` = unconnected -> same shape.
    """
    if not np.isfinite(sigma) or sigma <= 0:
        raise GraphError(f"kernel width sigma must be a positive number, got {sigma!r}")
    if not 0.0 <= threshold <= 1.0:
        raise GraphError(f"threshold must lie in [0, 1] (weights do), got {threshold!r}")
    weights = np.exp(-np.square(np.asarray(distances, dtype=np.float64) / sigma))
    weights[weights < threshold] = 0.0
    return weights


def haversine_distances(coordinates: np.ndarray, radius: float = EARTH_RADIUS_M) -> np.ndarray:
    r"""Great-circle distances in metres between every pair of sensors (haversine formula).

    .. math::
        d_{ij} = 2R\arcsin\sqrt{\sin^2\frac{\phi_j-\phi_i}{2}
            + \cos\phi_i\cos\phi_j\sin^2\frac{\lambda_j-\lambda_i}{2}}

    Shapes:
        coordinates: ``[sensors, 2]`` latitude, longitude in degrees -> ``[sensors, sensors]``.
    """
    radians = np.radians(np.asarray(coordinates, dtype=np.float64))
    latitude, longitude = radians[:, 0], radians[:, 1]
    half_dlat = (latitude[None, :] - latitude[:, None]) / 2.0
    half_dlon = (longitude[None, :] - longitude[:, None]) / 2.0
    h = np.sin(half_dlat) ** 2 + np.cos(latitude)[:, None] * np.cos(latitude)[None, :] * np.sin(half_dlon) ** 2
    distances: np.ndarray = 2.0 * radius * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return distances


def resolve_sensor_ids(sensor_ids: Sequence[Any] | str | os.PathLike[str] | None) -> list[str] | None:
    """``sensor_ids`` as a list of strings: a path is read with :func:`read_sensor_ids`."""
    if sensor_ids is None:
        return None
    if isinstance(sensor_ids, (str, os.PathLike)):
        return read_sensor_ids(sensor_ids)
    return [str(sensor).strip() for sensor in sensor_ids]


def index_edge_rows(
    rows: EdgeRows, sensor_ids: list[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, BuildReport]:
    """Map edge rows onto sensor positions, dropping rows outside the list and repeats.

    Returns:
        ``(sensor_ids, sources, targets, row_numbers, report)``: the ids (given, or ordered by
        :func:`order_sensor_ids`), the positions of each kept edge's ends and the index of the
        row each edge came from in ``rows`` (for picking its value). Of repeated (from, to)
        pairs only the last row is kept, as DCRNN's ``gen_adj_mx.py`` overwrites. The report
        counts rows; the builder records the finished graph in it (:meth:`BuildReport.measure`).
    """
    if sensor_ids is None:
        sensor_ids = order_sensor_ids(rows.sources + rows.targets)
    position = {sensor: i for i, sensor in enumerate(sensor_ids)}
    if len(position) != len(sensor_ids):
        duplicated = next(s for s in sensor_ids if sensor_ids.count(s) > 1)
        raise GraphError(f"sensor id {duplicated!r} is listed twice in sensor_ids")
    sources = np.fromiter((position.get(s, -1) for s in rows.sources), dtype=np.int64, count=len(rows.sources))
    targets = np.fromiter((position.get(s, -1) for s in rows.targets), dtype=np.int64, count=len(rows.targets))
    inside = (sources >= 0) & (targets >= 0)
    unknown = {s for s, i in zip(rows.sources, sources) if i < 0} | {s for s, i in zip(rows.targets, targets) if i < 0}
    kept = np.flatnonzero(inside)
    n = len(sensor_ids)
    pair = sources[kept] * n + targets[kept]
    # last occurrence of each pair: first occurrence in the reversed order
    _, first_in_reversed = np.unique(pair[::-1], return_index=True)
    last = np.sort(len(pair) - 1 - first_in_reversed)
    row_numbers = kept[last]
    sources, targets = sources[row_numbers], targets[row_numbers]
    report = BuildReport(
        source=rows.source,
        rows=len(rows.sources),
        rows_used=len(row_numbers),
        rows_skipped=int((~inside).sum()),
        unknown_sensors=len(unknown),
        duplicate_rows=int(len(kept) - len(row_numbers)),
    )
    return sensor_ids, sources, targets, row_numbers, report


def edge_adjacency(
    sources: np.ndarray, targets: np.ndarray, weights: np.ndarray, sensors: int, *, directed: bool
) -> sp.csr_matrix:
    """``[sensors, sensors]`` CSR with ``A[sources[e], targets[e]] = weights[e]``; ``max(A, A^T)``
    when not ``directed``.

    Shapes:
        sources, targets, weights: ``[edges]`` (positions, positions, weights).
    """
    adjacency = sp.csr_matrix((weights, (sources, targets)), shape=(sensors, sensors))
    return adjacency if directed else adjacency.maximum(adjacency.T).tocsr()


def from_distances(
    path: str | os.PathLike[str],
    sensor_ids: Sequence[Any] | str | os.PathLike[str] | None = None,
    threshold: float = 0.1,
    *,
    sigma: float | None = None,
    directed: bool = True,
) -> SensorGraph:
    r"""A sensor graph from road distances ``from,to,cost`` (DCRNN layout) by the Gaussian kernel.

    Reads DCRNN's ``distances_*.csv`` (with or without header) and the PEMS0x edge lists
    (``from,to,cost`` with 0-based indices; PEMS03's ``from,to,distance`` with station ids,
    whose order is ``PEMS03.txt``: pass it as ``sensor_ids``). See the module docstring for the
    kernel and for which distances enter :math:`\sigma`.

    Args:
        path: the distance CSV; distances in any unit (the kernel is scale-free when
            ``sigma`` is None).
        sensor_ids: the sensors, in node order: a list, or a path to an id file
            (comma-separated like ``graph_sensor_ids.txt``, or one per line). Rows naming
            other sensors are skipped and counted in ``graph.build_report``. Default: every
            id in the file, numeric ascending if all are integers, else by first appearance.
        threshold: weights below it become 0 (DCRNN's ``normalized_k``, 0.1).
        sigma: kernel width in the file's unit; default the standard deviation above.
        directed: keep ``A[i, j]`` from the row ``i,j`` only (as published). False gives
            ``max(A, A^T)``, i.e. the shorter of the two directions.

    Returns:
        SensorGraph whose ``build_report`` (:class:`BuildReport`) counts skipped and repeated
        rows, the links the threshold dropped, isolated sensors and components, and holds
        ``sigma``; :func:`~stgraph.graph.report.graph_diagnostics` words what was lost.

    Raises:
        GraphError: malformed rows (file and line), no distance between listed sensors, a
        zero spread of distances, or a third column headed as a weight (``weight``, ``w``, ...).
    """
    rows = read_edge_rows(path, value_name="distance")
    if column_meaning(rows.value_column) == "weight":
        raise GraphError(
            f"{path}: the third column is headed {rows.value_column!r}, so it holds edge weights, not distances; "
            f"read it with --edges {path} (stgraph.graph.from_edge_list), which takes weights as given"
        )
    return kernel_graph(rows, sensor_ids, threshold, sigma=sigma, directed=directed, kind="distances")


def kernel_graph(
    rows: EdgeRows,
    sensor_ids: Sequence[Any] | str | os.PathLike[str] | None,
    threshold: float = 0.1,
    *,
    sigma: float | None = None,
    directed: bool = True,
    kind: str = "distances",
) -> SensorGraph:
    """The thresholded Gaussian kernel graph of distance rows, as :func:`from_distances` builds it.

    ``kind`` is recorded in the build report (``"distances"``, or ``"edge_distances"`` for
    :func:`~stgraph.graph.loaders.from_edge_list`): it picks the remedy its warnings suggest.
    """
    path = rows.source
    if rows.values is None:  # not reached: read_edge_rows requires the third column by default
        raise GraphError(f"{path}: expected from,to,distance rows, got no distance column")
    ids, sources, targets, row_numbers, report = index_edge_rows(rows, resolve_sensor_ids(sensor_ids))
    distances = rows.values[row_numbers]
    finite = np.isfinite(distances)
    if not finite.any():
        raise GraphError(
            f"{path}: no finite distance between two listed sensors ({report.rows_skipped} of {report.rows} rows name other sensors)"
        )
    if sigma is None:
        sigma = float(distances[finite].std())
        if sigma <= 0:
            raise GraphError(f"{path}: all {int(finite.sum())} distances between listed sensors are equal; pass sigma explicitly")
    weights = gaussian_kernel(distances, sigma, threshold)
    adjacency = edge_adjacency(sources, targets, weights, len(ids), directed=directed)
    between = sources != targets
    dropped = between & (weights == 0)
    report.sigma, report.threshold, report.kind = sigma, threshold, kind
    if kind == "edge_distances":
        report.notes = [
            f"{Path(path).name}: third column {rows.value_column!r} read as a distance "
            f"(Gaussian kernel, sigma {short_number(sigma)}, threshold {threshold:g})"
        ]
    report.links, report.links_kept = int(between.sum()), int((between & (weights > 0)).sum())
    report.links_dropped = int(dropped.sum())
    report.suggested_threshold = threshold_keeping(np.exp(-np.square(distances[dropped] / sigma)))
    graph = SensorGraph(adjacency, ids, name=Path(path).stem, source=path)
    report.measure(graph.adjacency, ids)
    report.log()
    graph.build_report = report
    return graph


def threshold_linking_all(distances: np.ndarray, sigma: float) -> float | None:
    """A threshold (a power of ten) at which every sensor of a complete distance table keeps a
    link: the smallest over sensors of the kernel weight to its nearest other sensor.

    Shapes:
        distances: ``[sensors, sensors]``, finite.
    """
    others = distances + np.diag(np.full(len(distances), np.inf))
    return threshold_keeping(np.exp(-np.square(others.min(axis=1) / sigma)))


def from_locations(
    path: str | os.PathLike[str],
    sensor_ids: Sequence[Any] | str | os.PathLike[str] | None = None,
    *,
    threshold: float = 0.1,
    sigma: float | None = None,
    k: int | None = None,
) -> SensorGraph:
    r"""A sensor graph from sensor locations: great-circle distances, then the Gaussian kernel.

    Distances :math:`d_{ij}` are haversine distances in metres (:func:`haversine_distances`),
    and :math:`\sigma` defaults to their population standard deviation over all ordered pairs
    (the self-pairs at 0 included, as a complete distance table would give them).

    * ``k`` None: thresholded kernel as in :func:`from_distances`; symmetric, with unit
      self-loops (:math:`d_{ii} = 0`), like DCRNN's matrices.
    * ``k`` given: each sensor ``i`` gets edges ``i -> j`` to its ``k`` nearest other sensors
      (ties broken by position), weighted by the kernel without threshold and with no
      self-loop. Directed: ``j`` being among ``i``'s nearest does not make ``i`` among ``j``'s.

    Straight-line distance ignores the road network (direction of travel, interchanges), so
    this is a fallback when no road distances are published.

    Args:
        path: CSV with sensor id, latitude, longitude (METR-LA, PEMS-BAY and PeMSD7(M)
            layouts; see :func:`stgraph.graph.readers.read_locations`).
        sensor_ids: sensors to keep, in node order (list or id file); other rows are skipped
            and counted. Default: every row, in file order.
        threshold: kernel threshold (ignored when ``k`` is given).
        sigma: kernel width in metres.
        k: number of nearest neighbours per sensor.

    Returns:
        SensorGraph with ``coordinates`` and ``build_report``.
    """
    file_ids, coordinates = read_locations(path)
    wanted = resolve_sensor_ids(sensor_ids)
    rows = len(file_ids)
    if wanted is not None:
        position = {sensor: i for i, sensor in enumerate(file_ids)}
        missing = [sensor for sensor in wanted if sensor not in position]
        if missing:
            raise GraphError(f"{path}: no location for {len(missing)} listed sensors: {name_sensors(missing)}")
        coordinates = coordinates[[position[sensor] for sensor in wanted]]
        file_ids = wanted
    n = len(file_ids)
    distances = haversine_distances(coordinates)
    if sigma is None:
        sigma = float(distances.std())
        if sigma <= 0:
            raise GraphError(f"{path}: all {n} sensors are at the same location; pass sigma explicitly")
    kept_threshold: float | None = threshold
    if k is None:
        weights = gaussian_kernel(distances, sigma, threshold)
    else:
        if not 1 <= k < n:
            raise GraphError(f"{path}: k must be between 1 and {n - 1} (sensors - 1), got {k}")
        others = distances + np.diag(np.full(n, np.inf))
        nearest = np.argsort(others, axis=1, kind="stable")[:, :k]
        rows_index = np.repeat(np.arange(n), k)
        weights = np.zeros((n, n))
        weights[rows_index, nearest.ravel()] = gaussian_kernel(distances[rows_index, nearest.ravel()], sigma, 0.0)
        kept_threshold = None  # the k nearest keep their kernel weight, however small
    adjacency = sp.csr_matrix(weights)
    report = BuildReport(
        source=str(path),
        rows=rows,
        rows_used=n,
        rows_skipped=rows - n,
        unknown_sensors=rows - n,
        sigma=sigma,
        threshold=kept_threshold,
        kind="locations" if k is None else "neighbors",
        links=n * (n - 1) if k is None else n * k,
        links_kept=int(np.count_nonzero(weights)) - int(np.count_nonzero(np.diag(weights))),
    )
    if k is None:
        report.links_dropped = report.links - report.links_kept
        report.suggested_threshold = threshold_linking_all(distances, sigma)
    graph = SensorGraph(adjacency, file_ids, coordinates=coordinates, name=Path(path).stem, source=path)
    report.measure(graph.adjacency, file_ids)
    report.log()
    graph.build_report = report
    return graph
