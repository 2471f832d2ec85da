"""Export a sensor adjacency to networkx and PyTorch Geometric."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    import torch

__all__ = ["to_edge_index", "to_networkx"]


def to_networkx(
    adjacency: sp.spmatrix, sensor_ids: list[str], coordinates: np.ndarray | None = None, name: str | None = None
) -> nx.DiGraph:
    """A ``networkx.DiGraph`` with node ``sensor_ids[i]`` and edge ``i -> j`` weighted
    ``adjacency[i, j]`` (attribute ``weight``); ``latitude``/``longitude`` node attributes
    when coordinates are given."""
    import networkx as nx

    graph = nx.DiGraph(name=name or "")
    for position, sensor in enumerate(sensor_ids):
        if coordinates is None:
            graph.add_node(sensor)
        else:
            graph.add_node(sensor, latitude=float(coordinates[position, 0]), longitude=float(coordinates[position, 1]))
    coo = sp.coo_matrix(adjacency)
    graph.add_weighted_edges_from(
        (sensor_ids[i], sensor_ids[j], float(w)) for i, j, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist())
    )
    return graph


def to_edge_index(adjacency: sp.spmatrix) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch Geometric's ``(edge_index, edge_weight)`` for ``adjacency``.

    ``edge_index[0]`` holds sources ``i`` and ``edge_index[1]`` targets ``j`` of each stored
    ``A[i, j]``, in row-major order: PyG's default ``flow="source_to_target"`` then sends
    messages along the edge direction, as :func:`stgraph.graph.operators.forward_transition`
    does.

    Shapes:
        edge_index: ``[2, edges]`` int64; edge_weight: ``[edges]`` float32.
    """
    import torch

    coo = sp.csr_matrix(adjacency).tocoo()
    edge_index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    edge_weight = torch.from_numpy(coo.data.astype(np.float32))
    return edge_index, edge_weight
