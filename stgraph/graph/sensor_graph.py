"""SensorGraph: which sensors are connected, and how strongly."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from stgraph.errors import GraphError
from stgraph.graph.convert import to_edge_index, to_networkx
from stgraph.graph.operators import compute_operator
from stgraph.graph.report import BuildReport
from stgraph.graph.statistics import graph_statistics

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import torch

    from stgraph.ops import Operator

__all__ = ["SensorGraph"]


class SensorGraph:
    """A static, weighted, directed graph over traffic sensors.

    ``adjacency[i, j]`` is the weight of the edge from sensor ``sensor_ids[i]`` to sensor
    ``sensor_ids[j]`` (0 = no edge). The graph operators that layers need (GCN normalisation,
    scaled Laplacian, forward/backward transitions; see :mod:`stgraph.graph.operators`) are
    computed on first use and cached, once per graph, and once per device and dtype for their
    torch form.

    The constructor takes an adjacency already in memory. To build a graph from files (road
    distances, locations, matrix files, edge lists, a saved graph) use the functions of
    :mod:`stgraph.graph`: :func:`~stgraph.graph.from_distances`, :func:`~stgraph.graph.from_matrix`,
    :func:`~stgraph.graph.load_graph`, ...

    Args:
        adjacency: ``[sensors, sensors]`` weights: scipy sparse matrix or array-like.
        sensor_ids: one id per row; defaults to ``"0", "1", ...``. Stored as strings.
        coordinates: optional ``[sensors, 2]`` latitude, longitude in degrees.
        name: optional label used in messages and plots.
        source: where the graph came from (a path), used in error messages.
    """

    def __init__(
        self,
        adjacency: Any,
        sensor_ids: Sequence[Any] | None = None,
        *,
        coordinates: np.ndarray | None = None,
        name: str | None = None,
        source: str | os.PathLike[str] | None = None,
    ) -> None:
        where = f"{source}: " if source is not None else ""
        matrix = _as_csr(adjacency, where)
        n = matrix.shape[0]
        if sensor_ids is None:
            sensor_ids = [str(i) for i in range(n)]
        sensor_ids = [str(s) for s in sensor_ids]
        if len(sensor_ids) != n:
            raise GraphError(f"{where}adjacency is {n} x {n} but {len(sensor_ids)} sensor ids were given")
        seen: dict[str, int] = {}
        for position, sensor in enumerate(sensor_ids):
            if sensor in seen:
                raise GraphError(f"{where}sensor id {sensor!r} appears twice (positions {seen[sensor]} and {position})")
            seen[sensor] = position
        if coordinates is not None:
            coordinates = np.asarray(coordinates, dtype=np.float64)
            if coordinates.shape != (n, 2):
                raise GraphError(f"{where}coordinates must be [{n}, 2] (latitude, longitude), got {list(coordinates.shape)}")
        self._adjacency = matrix
        self._sensor_ids = sensor_ids
        self._index = seen
        self.coordinates = coordinates
        self.name = name
        self.source = None if source is None else str(source)
        self._operators: dict[str, sp.csr_matrix] = {}
        self._torch_operators: dict[tuple[str, str, torch.dtype], Operator] = {}
        # set by the builders in stgraph.graph (from_distances, ...): rows skipped, repeated,
        # isolated sensors, kernel sigma
        self.build_report: BuildReport | None = None

    # --- basic facts -------------------------------------------------------------------
    @property
    def adjacency(self) -> sp.csr_matrix:
        """Weighted adjacency, ``[sensors, sensors]`` float64 CSR (read-only by convention)."""
        return self._adjacency

    @property
    def sensor_ids(self) -> list[str]:
        return list(self._sensor_ids)

    @property
    def num_sensors(self) -> int:
        return int(self._adjacency.shape[0])

    @property
    def num_edges(self) -> int:
        """Stored non-zero weights, self-loops included."""
        return int(self._adjacency.nnz)

    def index_of(self, sensor_id: Any) -> int:
        """Row of ``sensor_id``; :class:`GraphError` naming it when absent."""
        try:
            return self._index[str(sensor_id)]
        except KeyError:
            raise GraphError(f"sensor {sensor_id!r} is not in the graph{self._where()}") from None

    def fingerprint(self) -> str:
        """sha256 over sensor ids and adjacency: equal graphs give equal fingerprints."""
        digest = hashlib.sha256()
        digest.update("\n".join(self._sensor_ids).encode())
        m = self._adjacency
        for part in (m.indptr.astype(np.int64), m.indices.astype(np.int64), m.data.astype(np.float64)):
            digest.update(np.ascontiguousarray(part).tobytes())
        return digest.hexdigest()

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return f"SensorGraph({label}sensors={self.num_sensors}, edges={self.num_edges})"

    def _where(self) -> str:
        return f" ({self.source})" if self.source else ""

    # --- conversions ---------------------------------------------------------------------
    def to_scipy(self) -> sp.csr_matrix:
        """A copy of the adjacency as float64 CSR."""
        return self._adjacency.copy()

    def to_networkx(self) -> nx.DiGraph:
        """A ``networkx.DiGraph``: nodes are sensor ids, edge ``i -> j`` carries ``weight``;
        nodes carry ``latitude``/``longitude`` when the graph has coordinates."""
        return to_networkx(self._adjacency, self._sensor_ids, self.coordinates, self.name)

    def to_pyg(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(edge_index [2, edges] int64, edge_weight [edges] float32)`` in PyTorch
        Geometric's convention: row 0 holds sources, row 1 targets of ``A[source, target]``."""
        return to_edge_index(self._adjacency)

    def statistics(self) -> dict[str, Any]:
        """Sensors, edges, self-loops, density, weak/strong components, isolated sensors,
        weight min/max/mean and symmetry; see :func:`stgraph.graph.statistics.graph_statistics`."""
        return graph_statistics(self._adjacency, self._sensor_ids)

    # --- operators -----------------------------------------------------------------------
    def operator(self, kind: str) -> sp.csr_matrix:
        """Graph operator ``kind`` as float64 CSR, computed once and cached.

        Kinds: ``"adjacency"``, ``"gcn"``, ``"gcn_added_self_loops"`` (T-GCN's code),
        ``"laplacian"``, ``"forward"``, ``"backward"``
        (see :mod:`stgraph.graph.operators` for each formula). Propagation is ``M @ x``
        along the node axis.
        """
        if kind not in self._operators:
            self._operators[kind] = compute_operator(self._adjacency, kind)
        return self._operators[kind]

    def torch_operator(self, kind: str, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Operator:
        """Operator ``kind`` prepared for :func:`stgraph.ops.propagate` on ``device``/``dtype``.

        Cached per ``(kind, device, dtype)``: a training loop moves the graph to the device once.
        """
        import torch

        from stgraph.ops import Operator

        device = torch.device(device if device is not None else "cpu")
        dtype = dtype or torch.get_default_dtype()
        key = (kind, str(device), dtype)
        if key not in self._torch_operators:
            m = self.operator(kind)
            self._torch_operators[key] = Operator.from_csr(
                torch.from_numpy(m.indptr.astype(np.int64)),
                torch.from_numpy(m.indices.astype(np.int64)),
                torch.from_numpy(m.data),
                num_nodes=m.shape[0],
            ).to(device=device, dtype=dtype)
        return self._torch_operators[key]

    # --- relabelling ----------------------------------------------------------------------
    def permute(self, order: Sequence[int] | np.ndarray) -> SensorGraph:
        """The same graph with sensors in a new order: new sensor ``k`` is old ``order[k]``.

        The build report is kept (a new order changes none of its counts); a subgraph has none.
        """
        positions = np.asarray(order, dtype=np.int64)
        if sorted(positions.tolist()) != list(range(self.num_sensors)):
            raise GraphError(f"order must be a permutation of 0..{self.num_sensors - 1}")
        permuted = self._take(positions)
        permuted.build_report = self.build_report
        return permuted

    def subgraph(self, sensor_ids: Sequence[Any]) -> SensorGraph:
        """The graph restricted to ``sensor_ids``, in that order."""
        return self._take([self.index_of(s) for s in sensor_ids])

    def _take(self, order: Sequence[int] | np.ndarray) -> SensorGraph:
        """New sensor ``k`` is old sensor ``order[k]``: rows, columns, ids and coordinates."""
        m = self._adjacency[order][:, order]
        coords = None if self.coordinates is None else self.coordinates[order]
        return SensorGraph(m, [self._sensor_ids[i] for i in order], coordinates=coords, name=self.name, source=self.source)

    def with_coordinates(self, coordinates: np.ndarray, sensor_ids: Sequence[Any] | None = None) -> SensorGraph:
        """The same graph with sensor locations attached.

        ``coordinates`` is ``[sensors, 2]`` latitude, longitude; row ``k`` belongs to
        ``sensor_ids[k]`` when given (any order, every graph sensor present), else to the
        graph's own ``k``-th sensor. The adjacency, the cached operators and the build report
        are shared with this graph.
        """
        coordinates = np.asarray(coordinates, dtype=np.float64)
        if sensor_ids is not None:
            position = {str(s): i for i, s in enumerate(sensor_ids)}
            missing = [s for s in self._sensor_ids if s not in position]
            if missing:
                raise GraphError(f"no location for sensor(s) {', '.join(missing[:10])}{self._where()}")
            coordinates = coordinates[[position[s] for s in self._sensor_ids]]
        located = SensorGraph(self._adjacency, self._sensor_ids, coordinates=coordinates, name=self.name, source=self.source)
        located.build_report = self.build_report
        located._operators = self._operators
        located._torch_operators = self._torch_operators
        return located

    @classmethod
    def coerce(cls, graph: Any) -> SensorGraph:
        """A SensorGraph from a SensorGraph (returned as is), a scipy sparse matrix, a numpy
        array or a dense/sparse torch tensor holding the adjacency.

        Models call this on the ``graph`` argument. Pass a SensorGraph to keep its cached
        operators between calls.
        """
        if isinstance(graph, SensorGraph):
            return graph
        try:
            import torch

            if isinstance(graph, torch.Tensor):
                graph = graph.detach().cpu()
                graph = graph.to_dense() if graph.layout != torch.strided else graph
                graph = graph.numpy()
        except ImportError:  # pragma: no cover
            pass
        return cls(graph)


def _as_csr(adjacency: Any, where: str) -> sp.csr_matrix:
    if sp.issparse(adjacency):
        matrix = sp.csr_matrix(adjacency, dtype=np.float64)
    else:
        array = np.asarray(adjacency)
        if array.ndim != 2:
            raise GraphError(f"{where}adjacency must be a 2-D [sensors, sensors] matrix, got shape {list(array.shape)}")
        if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
            raise GraphError(f"{where}adjacency must be numeric, got dtype {array.dtype}")
        matrix = sp.csr_matrix(array.astype(np.float64))
    if matrix.shape[0] != matrix.shape[1]:
        raise GraphError(f"{where}adjacency must be square [sensors, sensors], got {matrix.shape[0]} x {matrix.shape[1]}")
    bad = ~np.isfinite(matrix.data)
    if bad.any():
        row, column, _ = _first_entry(matrix, bad)
        raise GraphError(f"{where}adjacency has {int(bad.sum())} non-finite weights (first at row {row}, column {column})")
    negative = matrix.data < 0
    if negative.any():
        row, column, weight = _first_entry(matrix, negative)
        raise GraphError(f"{where}adjacency has negative weights (first at row {row}, column {column}: {weight})")
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _first_entry(matrix: sp.csr_matrix, mask: np.ndarray) -> tuple[int, int, float]:
    """Row, column and weight of the first stored entry of ``matrix`` (in storage order) where
    ``mask`` (``[stored entries]`` bool) holds."""
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    k = int(np.flatnonzero(mask)[0])
    return int(rows[k]), int(matrix.indices[k]), float(matrix.data[k])
