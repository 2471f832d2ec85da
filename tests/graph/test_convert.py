"""Export to networkx and PyTorch Geometric (stgraph/graph/convert.py), from plain sparse matrices."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from stgraph.graph.convert import to_edge_index, to_networkx


def test_networkx_without_coordinates_has_bare_nodes_and_weighted_edges():
    adjacency = sp.csr_matrix(np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]]))
    graph = to_networkx(adjacency, ["x", "y", "z"])
    assert graph.is_directed() and graph.name == ""
    assert list(graph.nodes(data=True)) == [("x", {}), ("y", {}), ("z", {})]
    assert sorted(graph.edges(data="weight")) == [("x", "y", 0.5), ("y", "z", 2.0), ("z", "x", 1.0)]


def test_networkx_coordinates_become_latitude_and_longitude():
    graph = to_networkx(sp.eye(2, format="csr"), ["p", "q"], coordinates=np.array([[34.1, -118.2], [37.7, -122.4]]), name="la")
    assert graph.name == "la" and graph.nodes["q"] == {"latitude": 37.7, "longitude": -122.4}
    assert sorted(graph.edges(data="weight")) == [("p", "p", 1.0), ("q", "q", 1.0)]


def test_edge_index_is_row_major_with_duplicates_summed():
    # entries given out of order, (2, 0) twice: PyG gets one edge per stored A[i, j], sources first
    rows, cols, weights = [2, 0, 2, 1], [0, 1, 0, 2], [0.25, 0.5, 0.5, 3.0]
    edge_index, edge_weight = to_edge_index(sp.coo_matrix((weights, (rows, cols)), shape=(3, 3)))
    assert edge_index.tolist() == [[0, 1, 2], [1, 2, 0]]
    assert edge_index.dtype == torch.int64 and edge_weight.dtype == torch.float32
    assert edge_weight.tolist() == [0.5, 3.0, 0.75]


def test_empty_adjacency_gives_no_edges():
    edge_index, edge_weight = to_edge_index(sp.csr_matrix((4, 4)))
    assert edge_index.shape == (2, 0) and edge_weight.shape == (0,)
