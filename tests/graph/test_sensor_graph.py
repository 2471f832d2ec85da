"""Exports (networkx, scipy, PyG), statistics, and the .npz save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph.errors import GraphError
from stgraph.graph import SensorGraph, from_matrix, from_networkx, load_graph, save_graph

# weak components {a, b, c}, {d, e, f}, {g}; strong ones {a, b, c} (a -> b -> c -> a),
# {d, e} (d <-> e), {f} (e -> f, no way back), {g}; g has only a self-loop: isolated
ADJACENCY = np.zeros((7, 7))
ADJACENCY[0, 1], ADJACENCY[1, 2], ADJACENCY[2, 0] = 0.5, 0.25, 1.0
ADJACENCY[3, 4], ADJACENCY[4, 3], ADJACENCY[4, 5] = 0.75, 0.75, 0.5
ADJACENCY[6, 6] = 1.0
IDS = ["a", "b", "c", "d", "e", "f", "g"]
COORDS = np.array([[34.0 + i / 100, -118.0] for i in range(7)])


@pytest.fixture
def graph() -> SensorGraph:
    return SensorGraph(ADJACENCY, IDS, coordinates=COORDS, name="toy")


def test_statistics(graph):
    stats = graph.statistics()
    assert stats["sensors"] == 7
    assert stats["edges"] == 7 and stats["self_loops"] == 1
    assert stats["density"] == pytest.approx(6 / 42)
    assert (stats["weak_components"], stats["strong_components"]) == (3, 4)
    assert stats["largest_weak_component"] == 3
    assert stats["isolated_sensors"] == 1 and stats["isolated_sensor_ids"] == ["g"]
    assert (stats["weight_min"], stats["weight_max"]) == (0.25, 1.0)
    assert stats["weight_mean"] == pytest.approx(4.75 / 7)
    assert stats["symmetric"] is False
    assert SensorGraph(ADJACENCY + ADJACENCY.T).statistics()["symmetric"] is True


def test_networkx_round_trip(graph):
    g = graph.to_networkx()
    assert list(g.nodes) == IDS
    assert g["c"]["a"]["weight"] == 1.0 and not g.has_edge("a", "c")
    assert g.nodes["b"]["latitude"] == pytest.approx(34.01)
    back = from_networkx(g)
    assert back.fingerprint() == graph.fingerprint()
    np.testing.assert_allclose(back.coordinates, COORDS)


def test_to_scipy_is_a_copy(graph):
    matrix = graph.to_scipy()
    matrix[0, 1] = 9.0
    assert graph.adjacency[0, 1] == 0.5


def test_pyg_edge_index_sources_then_targets(graph):
    edge_index, edge_weight = graph.to_pyg()
    assert edge_index.dtype == torch.int64 and edge_index.shape == (2, 7)
    assert edge_weight.dtype == torch.float32
    pairs = {(IDS[i], IDS[j]): w for (i, j), w in zip(edge_index.T.tolist(), edge_weight.tolist())}
    assert pairs[("a", "b")] == 0.5 and ("b", "a") not in pairs


def test_pyg_round_trip(graph):
    utils = pytest.importorskip("torch_geometric.utils")
    edge_index, edge_weight = graph.to_pyg()
    back = utils.to_scipy_sparse_matrix(edge_index, edge_weight, num_nodes=graph.num_sensors)
    np.testing.assert_allclose(back.toarray(), ADJACENCY)


def test_save_load_round_trip(graph, tmp_path):
    path = tmp_path / "graph.npz"
    save_graph(graph, path)
    with np.load(path, allow_pickle=False) as archive:  # no pickled objects inside
        assert archive["sensor_ids"].tolist() == IDS
    back = load_graph(path)
    assert back.fingerprint() == graph.fingerprint()
    assert back.name == "toy"
    np.testing.assert_array_equal(back.coordinates, COORDS)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it
    subset = from_matrix(path, ["c", "a"])
    assert subset.adjacency.toarray().tolist() == [[0.0, 1.0], [0.0, 0.0]]
    np.testing.assert_array_equal(subset.coordinates, COORDS[[2, 0]])


def test_load_rejects_other_npz(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, adjacency=ADJACENCY)
    with pytest.raises(GraphError, match=r"other\.npz: not a SensorGraph file, missing arrays"):
        load_graph(path)
