"""Graph operators on a 4-sensor directed graph, worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from stgraph.graph import SensorGraph

# sensor 0 -> 1 (2), 1 -> 2 (1), 1 -> 3 (1), 2 -> 3 (4); sensor 3 has no outgoing edge
ADJACENCY = np.array(
    [
        [0.0, 2.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 4.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
)
KINDS = ("adjacency", "gcn", "gcn_added_self_loops", "laplacian", "forward", "backward")


@pytest.fixture
def graph() -> SensorGraph:
    return SensorGraph(ADJACENCY, ["a", "b", "c", "d"])


def test_forward_transition_sends_along_edge_direction(graph):
    # out-degrees 2, 2, 4, 0: P = D_out^-1 A; out[j] = sum_i P[i, j] x[i]
    expected = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],  # nobody feeds sensor 0
            [1.0, 0.0, 0.0, 0.0],  # 0 -> 1 with P = 2/2
            [0.0, 0.5, 0.0, 0.0],  # 1 -> 2 with P = 1/2
            [0.0, 0.5, 1.0, 0.0],  # 1 -> 3 (1/2), 2 -> 3 (4/4)
        ]
    )
    np.testing.assert_allclose(graph.operator("forward").toarray(), expected)
    x = np.array([1.0, 10.0, 100.0, 1000.0])
    np.testing.assert_allclose(graph.operator("forward") @ x, [0.0, 1.0, 5.0, 105.0])


def test_backward_transition_receives_from_downstream(graph):
    # in-degrees 0, 2, 1, 5: out[i] = sum_j A[i, j] / d_in(j) x[j]
    expected = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.2],
            [0.0, 0.0, 0.0, 0.8],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_allclose(graph.operator("backward").toarray(), expected)


def test_gcn_normalisation_symmetrises_and_adds_self_loops(graph):
    undirected_with_loops = np.array(
        [
            [1.0, 2.0, 0.0, 0.0],
            [2.0, 1.0, 1.0, 1.0],
            [0.0, 1.0, 1.0, 4.0],
            [0.0, 1.0, 4.0, 1.0],
        ]
    )
    degree = np.array([3.0, 5.0, 6.0, 6.0])
    expected = undirected_with_loops / np.sqrt(np.outer(degree, degree))
    np.testing.assert_allclose(graph.operator("gcn").toarray(), expected)


def test_gcn_does_not_double_existing_self_loops():
    with_loops = SensorGraph(ADJACENCY + np.eye(4))
    np.testing.assert_allclose(with_loops.operator("gcn").toarray(), SensorGraph(ADJACENCY).operator("gcn").toarray())


def test_gcn_added_self_loops_adds_identity_to_the_stored_diagonal_as_tgcn_code():
    # T-GCN's calculate_laplacian: A + I as stored (sensor 0's unit loop becomes 2), degrees
    # from row sums, D^-1/2 (A + I)^T D^-1/2, no symmetrisation.
    adjacency = ADJACENCY + np.diag([1.0, 0.0, 0.0, 0.0])
    with_loops = np.array(
        [
            [2.0, 2.0, 0.0, 0.0],
            [0.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 4.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    degree = np.array([4.0, 3.0, 5.0, 1.0])
    expected = with_loops.T / np.sqrt(np.outer(degree, degree))
    np.testing.assert_allclose(SensorGraph(adjacency).operator("gcn_added_self_loops").toarray(), expected)


def test_gcn_added_self_loops_is_gcn_for_a_symmetric_graph_without_loops():
    symmetric = SensorGraph(np.maximum(ADJACENCY, ADJACENCY.T))
    np.testing.assert_allclose(symmetric.operator("gcn_added_self_loops").toarray(), symmetric.operator("gcn").toarray())


def test_scaled_laplacian_has_spectrum_in_minus_one_one(graph):
    undirected = np.array(
        [
            [0.0, 2.0, 0.0, 0.0],
            [2.0, 0.0, 1.0, 1.0],
            [0.0, 1.0, 0.0, 4.0],
            [0.0, 1.0, 4.0, 0.0],
        ]
    )
    degree = np.array([2.0, 4.0, 5.0, 5.0])
    laplacian = np.eye(4) - undirected / np.sqrt(np.outer(degree, degree))
    lambda_max = np.linalg.eigvalsh(laplacian).max()
    expected = 2.0 * laplacian / lambda_max - np.eye(4)
    result = graph.operator("laplacian").toarray()
    np.testing.assert_allclose(result, expected, atol=1e-12)
    assert np.linalg.eigvalsh(result).max() == pytest.approx(1.0)
    assert np.linalg.eigvalsh(result).min() >= -1.0 - 1e-12


def test_operators_are_cached_per_graph(graph):
    assert graph.operator("gcn") is graph.operator("gcn")


@pytest.mark.parametrize("kind", KINDS)
def test_operator_of_permuted_graph_is_permuted_operator(graph, kind):
    order = [2, 0, 3, 1]
    permuted = graph.permute(order)
    assert permuted.sensor_ids == ["c", "a", "d", "b"]
    expected = graph.operator(kind).toarray()[np.ix_(order, order)]
    np.testing.assert_allclose(permuted.operator(kind).toarray(), expected, atol=1e-12)
