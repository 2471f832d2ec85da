"""Load a ready-made adjacency: matrix files, DCRNN pickles, edge lists and networkx graphs."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from stgraph.errors import GraphError
from stgraph.graph.build import (
    edge_adjacency,
    gaussian_kernel,
    index_edge_rows,
    kernel_graph,
    resolve_sensor_ids,
    threshold_linking_all,
)
from stgraph.graph.readers import DISTANCE_COLUMNS, WEIGHT_COLUMNS, EdgeRows, column_meaning, read_dense_csv, read_edge_rows
from stgraph.graph.report import BuildReport
from stgraph.graph.sensor_graph import SensorGraph
from stgraph.graph.storage import GRAPH_KEYS, load_graph
from stgraph.io.safe_pickle import UnsafePickleError, load_pickle

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx

__all__ = ["from_distance_matrix", "from_edge_list", "from_matrix", "from_networkx"]


def _is_saved_graph(path: Path) -> bool:
    if path.suffix.lower() != ".npz":
        return False
    with np.load(path, allow_pickle=False) as archive:
        return set(archive.files) >= GRAPH_KEYS


def _read_npz(path: Path) -> tuple[Any, list[str] | None]:
    with np.load(path, allow_pickle=False) as archive:
        keys = set(archive.files)
        if {"data", "indices", "indptr", "shape", "format"} <= keys:  # scipy.sparse.save_npz
            return sp.load_npz(path), None
        if len(keys) == 1:  # numpy.savez with one array
            return archive[next(iter(keys))], None
    raise GraphError(
        f"{path}: expected a scipy.sparse.save_npz matrix, a save_graph file or one array; got arrays {sorted(keys)}"
    )


def _read_dcrnn_pickle(path: Path) -> tuple[Any, list[str] | None]:
    try:
        content = load_pickle(path)
    except UnsafePickleError as error:
        raise GraphError(str(error)) from None
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise GraphError(f"{path}: not a readable pickle ({error})") from None
    if isinstance(content, np.ndarray):
        return content, None
    if not (isinstance(content, (tuple, list)) and len(content) == 3):
        raise GraphError(
            f"{path}: expected DCRNN's (sensor_ids, sensor_id_to_ind, adj_mx) or an array, got {type(content).__name__}"
        )
    ids, id_to_index, matrix = content
    ids = [sensor.decode() if isinstance(sensor, bytes) else str(sensor) for sensor in ids]
    if isinstance(id_to_index, dict):
        stated = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in id_to_index.items()}
        if stated != {sensor: i for i, sensor in enumerate(ids)}:
            raise GraphError(f"{path}: sensor_id_to_ind disagrees with the order of sensor_ids")
    return matrix, ids


def _read_matrix_file(path: Path) -> tuple[Any, list[str] | None]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return read_dense_csv(path)
    if suffix == ".npy":
        try:
            return np.load(path, allow_pickle=False), None
        except ValueError as error:
            raise GraphError(f"{path}: cannot read as a numeric .npy array ({error})") from None
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in (".pkl", ".pickle"):
        return _read_dcrnn_pickle(path)
    raise GraphError(f"{path}: unknown adjacency format {suffix!r}; expected .csv, .txt, .npy, .npz or .pkl")


def from_matrix(path_or_array: Any, sensor_ids: Sequence[Any] | str | os.PathLike[str] | None = None) -> SensorGraph:
    """A sensor graph from a ready-made ``[sensors, sensors]`` weighted adjacency.

    Args:
        path_or_array: a numpy array, scipy sparse matrix, or a file: ``.csv``/``.txt`` (dense,
            headerless or with a header row of sensor ids), ``.npy``, ``.npz``
            (``scipy.sparse.save_npz``, ``numpy.savez`` with one array, or
            :func:`~stgraph.graph.storage.save_graph`), ``.pkl`` (DCRNN's ``(sensor_ids,
            sensor_id_to_ind, adj_mx)``, read by :func:`stgraph.io.safe_pickle.load_pickle`,
            which refuses anything but numpy arrays and builtins).
        sensor_ids: list or id file. When the file names its sensors, the graph is restricted
            and reordered to these; otherwise they label the rows in order.

    Raises:
        GraphError: non-square, non-numeric, NaN or negative weights, unknown format, an
        unsafe pickle, naming the file (and line for CSV).
    """
    wanted = resolve_sensor_ids(sensor_ids)
    if isinstance(path_or_array, (str, os.PathLike)):
        path = Path(path_or_array)
        if not path.is_file():
            raise FileNotFoundError(f"adjacency file not found: {path}")
        if _is_saved_graph(path):  # keeps coordinates and name
            graph = load_graph(path)
            return graph if wanted is None else graph.subgraph(wanted)
        matrix, file_ids = _read_matrix_file(path)
        source, name = path, path.stem
    else:
        matrix, file_ids, source, name = path_or_array, None, None, None
    if file_ids is None or wanted is None:
        return SensorGraph(matrix, wanted if file_ids is None else file_ids, name=name, source=source)
    return SensorGraph(matrix, file_ids, name=name, source=source).subgraph(wanted)


def from_distance_matrix(
    path_or_array: Any,
    sensor_ids: Sequence[Any] | str | os.PathLike[str] | None = None,
    threshold: float = 0.1,
    *,
    sigma: float | None = None,
    self_loops: bool = True,
) -> SensorGraph:
    r"""A sensor graph from a dense ``[sensors, sensors]`` distance matrix by the Gaussian kernel.

    For PeMSD7(M)'s ``W_228.csv`` (STGCN; Yu et al., IJCAI 2018) and other complete distance
    tables. :math:`w_{ij} = \exp(-(d_{ij}/\sigma)^2)`, zero below ``threshold``;
    :math:`\sigma` defaults to the population standard deviation of all entries, the zero
    diagonal included (the rule of :func:`stgraph.graph.build.from_distances` applied to a
    complete table). With the defaults, ``W_228.csv`` gives exactly the adjacency
    that ``hazdzz/STGCN`` publishes as ``pemsd7-m/adj.npz``. STGCN's own reference code instead
    divides distances by 10 000 and uses :math:`\sigma^2 = 0.1`, :math:`\epsilon = 0.5` and no
    self-loops: ``sigma=1000 * 10 ** 0.5, threshold=0.5, self_loops=False``.

    Args:
        path_or_array: array, or a file read as in :func:`from_matrix` (CSV, ``.npy``, ``.npz``).
        sensor_ids: as in :func:`from_matrix`.
        threshold: weights below it become 0.
        sigma: kernel width in the matrix's unit.
        self_loops: keep the diagonal (weight 1 at distance 0) or zero it.

    Raises:
        GraphError: non-square matrix, NaN or negative distances, naming the file.
    """
    distances = from_matrix(path_or_array, sensor_ids)
    where = f"{distances.source}: " if distances.source else ""
    matrix = distances.adjacency.toarray()
    if sigma is None:
        sigma = float(matrix.std())
        if sigma <= 0:
            raise GraphError(f"{where}all distances are equal; pass sigma explicitly")
    weights = gaussian_kernel(matrix, sigma, threshold)
    if not self_loops:
        np.fill_diagonal(weights, 0.0)
    graph = SensorGraph(weights, distances.sensor_ids, name=distances.name, source=distances.source)
    n = len(matrix)
    off_diagonal = ~np.eye(n, dtype=bool)
    report = BuildReport(
        source=None if distances.source is None else str(distances.source),
        rows=n,
        rows_used=n,
        sigma=sigma,
        threshold=threshold,
        kind="distance_matrix",
        links=n * (n - 1),
        links_kept=int(np.count_nonzero(weights[off_diagonal])),
        suggested_threshold=threshold_linking_all(matrix, sigma),
    )
    report.links_dropped = report.links - report.links_kept
    report.measure(graph.adjacency, graph.sensor_ids)
    report.log()
    graph.build_report = report
    return graph


_ITERABLE = "edge rows"  # the source of rows given as an iterable, in messages


def _rows_from_iterable(rows: Iterable[Sequence[Any]]) -> EdgeRows:
    sources, targets, values = [], [], []
    width = None
    for number, row in enumerate(rows):
        row = tuple(row)
        width = len(row) if width is None else width
        if len(row) not in (2, 3) or len(row) != width:
            raise GraphError(f"edge row {number}: expected (from, to) or (from, to, weight) like the rows before it, got {row!r}")
        sources.append(str(row[0]).strip())
        targets.append(str(row[1]).strip())
        if width == 3:
            try:
                value = float(row[2])
            except (TypeError, ValueError):
                raise GraphError(f"edge row {number}: weight {row[2]!r} is not a number") from None
            if not np.isfinite(value) or value < 0:
                raise GraphError(f"edge row {number}: weight must be a finite non-negative number, got {value}")
            values.append(value)
    if width is None:
        raise GraphError("no edge rows given")
    lines = np.arange(len(sources), dtype=np.int64)
    return EdgeRows(_ITERABLE, sources, targets, np.asarray(values) if width == 3 else None, lines)


def from_edge_list(
    path_or_rows: str | os.PathLike[str] | Iterable[Sequence[Any]],
    sensor_ids: Sequence[Any] | str | os.PathLike[str] | None = None,
    *,
    weighted: bool = True,
    directed: bool = True,
    threshold: float = 0.1,
    sigma: float | None = None,
) -> SensorGraph:
    """A sensor graph from edge rows ``from, to[, value]``; the file's header says what the value is.

    * third column headed as a distance (``distance``, ``cost``, ``length``, ``km``,
      ``time``, ...; :data:`~stgraph.graph.readers.DISTANCE_COLUMNS`): the thresholded Gaussian
      kernel, exactly as :func:`stgraph.graph.build.from_distances` builds it (``threshold``,
      ``sigma``);
    * headed as a weight (``weight``, ``w``, ``strength``, ``adjacency``): the weights as given;
    * no header, an unknown header, or rows from an iterable: the weights as given, and for a
      file the build report's ``notes`` say so (naming an unknown header).

    ``weighted=False`` gives every listed edge weight 1 (the binary connectivity ASTGCN builds
    from the PEMS0x ``from,to,cost`` lists).

    Args:
        path_or_rows: CSV file (optional header) or an iterable of ``(from, to[, weight])``.
        sensor_ids: list or id file; rows naming other sensors are skipped and counted in
            ``graph.build_report``. Default: every id, numeric ascending if all are integers,
            else by first appearance.
        weighted: use the third column (default) or 1 for every edge.
        directed: keep ``i -> j`` as listed, or ``max(A, A^T)`` when False.
        threshold, sigma: the kernel's, when the third column is a distance.
    """
    if not isinstance(path_or_rows, (str, os.PathLike)):
        return _weight_graph(_rows_from_iterable(path_or_rows), sensor_ids, weighted=weighted, directed=directed, note=None)
    rows = read_edge_rows(path_or_rows, value_name="weight", require_value=False)
    name = Path(path_or_rows).name
    header = rows.value_column
    if rows.values is None:
        note = f"{name}: two columns; every listed link weighs 1"
    elif not weighted:
        note = f"{name}: third column ignored (weighted=False); every listed link weighs 1"
    elif column_meaning(header) == "distance":
        return kernel_graph(rows, sensor_ids, threshold, sigma=sigma, directed=directed, kind="edge_distances")
    elif column_meaning(header) == "weight":
        note = f"{name}: third column {header!r} read as edge weights as given"
    elif header is None:
        note = (
            f"{name}: no header; third column read as edge weights as given "
            '(head it "distance" for the Gaussian kernel of distances, "weight" to silence this)'
        )
    else:
        note = (
            f"{name}: third column {header!r} is neither a distance ({', '.join(DISTANCE_COLUMNS)}) "
            f"nor a weight ({', '.join(WEIGHT_COLUMNS)}); read as edge weights as given"
        )
    return _weight_graph(rows, sensor_ids, weighted=weighted, directed=directed, note=note)


def _weight_graph(
    rows: EdgeRows,
    sensor_ids: Sequence[Any] | str | os.PathLike[str] | None,
    *,
    weighted: bool,
    directed: bool,
    note: str | None,
) -> SensorGraph:
    """Edge rows whose third column (if any, and ``weighted``) is the weight, as it stands;
    ``note`` (how the file was read) goes into the build report."""
    ids, sources, targets, row_numbers, report = index_edge_rows(rows, resolve_sensor_ids(sensor_ids))
    if weighted and rows.values is not None:
        weights = rows.values[row_numbers]
    else:
        weights = np.ones(len(row_numbers))
    adjacency = edge_adjacency(sources, targets, weights, len(ids), directed=directed)
    between = sources != targets
    report.kind = "edge_weights"
    report.links, report.links_kept = int(between.sum()), int((between & (weights > 0)).sum())
    report.notes = [] if note is None else [note]
    from_file = rows.source != _ITERABLE
    graph = SensorGraph(
        adjacency,
        ids,
        name=Path(rows.source).stem if from_file else None,
        source=rows.source if from_file else None,
    )
    report.measure(graph.adjacency, ids)
    report.log()
    graph.build_report = report
    return graph


def from_networkx(graph: nx.Graph, weight: str = "weight") -> SensorGraph:
    """A sensor graph from a networkx graph, sensors in ``graph.nodes`` order.

    Edges without the ``weight`` attribute weigh 1; an undirected graph gives a symmetric
    adjacency. When every node has ``latitude`` and ``longitude`` attributes they become the
    coordinates (the attributes :meth:`SensorGraph.to_networkx` writes).
    """
    import networkx as nx

    nodes = list(graph.nodes)
    for u, v, value in graph.edges(data=weight, default=1.0):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GraphError(f"networkx graph: edge {u} -> {v} has non-numeric {weight!r} {value!r}") from None
        if np.isnan(number):
            raise GraphError(f"networkx graph: edge {u} -> {v} has NaN {weight!r}")
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=nodes, weight=weight, dtype=np.float64, format="csr")
    attributes = [graph.nodes[node] for node in nodes]
    coordinates = None
    if nodes and all("latitude" in a and "longitude" in a for a in attributes):
        coordinates = np.asarray([(a["latitude"], a["longitude"]) for a in attributes], dtype=np.float64)
    return SensorGraph(sp.csr_matrix(adjacency), nodes, coordinates=coordinates, name=graph.graph.get("name") or None)
