"""Connected sensor subgraphs: the region, its seeds, its operators, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.sparse import csgraph

from stgraph.errors import GraphError
from stgraph.graph import SensorGraph
from stgraph.graph.operators import compute_operator
from stgraph.graph.sampling import SensorSubgraph, SubgraphSampler
from stgraph.ops import propagate


def grid(rows: int, columns: int) -> SensorGraph:
    """A directed ``rows x columns`` grid: each sensor links to its right and lower neighbours,
    weights growing with the sensor's index so that degrees differ."""
    n = rows * columns
    adjacency = sp.lil_matrix((n, n))
    for i in range(n):
        r, c = divmod(i, columns)
        if c + 1 < columns:
            adjacency[i, i + 1] = 1.0 + 0.1 * i
        if r + 1 < rows:
            adjacency[i, i + columns] = 0.5 + 0.05 * i
    return SensorGraph(adjacency.tocsr(), [f"s{i}" for i in range(n)])


def hop_distances(graph: SensorGraph) -> np.ndarray:
    """``[sensors, sensors]`` hop counts over the undirected structure."""
    pattern = (graph.adjacency + graph.adjacency.T) > 0
    return csgraph.shortest_path(pattern.astype(float), unweighted=True, directed=False)


def test_the_region_is_connected_the_right_size_and_its_seeds_keep_their_neighbourhood():
    graph = grid(8, 8)
    distances = hop_distances(graph)
    sampler = SubgraphSampler(graph, sensors=30, hops=2, seed=3)
    for step in range(5):
        sub = sampler.sample(step)
        assert sub.num_sensors == 30 and sub.parent_sensors == 64
        assert len(set(sub.positions.tolist())) == 30
        components, _ = csgraph.connected_components(sub.adjacency, directed=False)
        assert components == 1
        inside = np.zeros(64, dtype=bool)
        inside[sub.positions] = True
        # a seed is exactly a region sensor whose every sensor within 2 hops is in the region
        expected = [k for k, row in enumerate(sub.positions) if inside[distances[row] <= 2].all()]
        assert sub.seeds.tolist() == expected
        assert len(expected) > 0


def test_the_subgraph_is_the_induced_one_and_its_operators_are_renormalised_on_it():
    # a path 0 -> 1 -> 2 -> 3 with weights 1, 2, 4; a region of 3 sensors from sensor 0 is {0, 1, 2}
    adjacency = sp.csr_matrix(np.array([[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 4], [0, 0, 0, 0]], dtype=float))
    graph = SensorGraph(adjacency, ["a", "b", "c", "d"])
    sub = SensorSubgraph(graph, np.array([0, 1, 2]), np.array([0]))
    assert sub.sensor_ids == ["a", "b", "c"]
    np.testing.assert_array_equal(sub.adjacency.toarray(), [[0, 1, 0], [0, 0, 2], [0, 0, 0]])
    # backward transition A D_in^-1 on the induced graph: in-degrees 0, 1, 2 (4 from d is cut)
    np.testing.assert_allclose(sub.operator("backward").toarray(), [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    # the full graph's gives sensor c's in-edge weight 2/2 as well, but d's column exists there only
    np.testing.assert_allclose(graph.operator("backward").toarray()[:3, :3], [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    for kind in ("gcn", "laplacian", "forward", "backward", "gcn_added_self_loops"):
        np.testing.assert_allclose(sub.operator(kind).toarray(), compute_operator(graph.adjacency[:3][:, :3], kind).toarray())


@pytest.mark.parametrize("kind", ["forward", "backward"])
def test_seeds_see_the_full_graph_operator_within_hops_minus_one(kind):
    """With hops >= K + 1, K steps of a transition give every seed its full-graph value."""
    graph = grid(9, 9)
    x = torch.randn(81, 3, dtype=torch.float64)
    full = graph.torch_operator(kind, dtype=torch.float64)
    order = 2
    sub = SubgraphSampler(graph, sensors=40, hops=order + 1, seed=0).sample(0)
    part = sub.torch_operator(kind, dtype=torch.float64)
    expected, got = x, x[torch.from_numpy(sub.positions)]
    for _ in range(order):
        expected, got = propagate(full, expected), propagate(part, got)
    seeds = torch.from_numpy(sub.seeds)
    assert seeds.numel() > 0
    torch.testing.assert_close(got[seeds], expected[torch.from_numpy(sub.positions)][seeds], rtol=0, atol=1e-12)


def test_the_same_seed_and_step_draw_the_same_subgraph():
    graph = grid(10, 10)
    a = SubgraphSampler(graph, sensors=25, hops=1, seed=7)
    b = SubgraphSampler(graph, sensors=25, hops=1, seed=7)
    later_first = b.sample(4)
    np.testing.assert_array_equal(a.sample(4).positions, later_first.positions)  # whatever was drawn before
    np.testing.assert_array_equal(a.sample(0).seeds, b.sample(0).seeds)
    draws = {tuple(a.sample(step).positions[:1]) for step in range(10)}
    assert len(draws) > 1  # the root moves from step to step
    other = SubgraphSampler(graph, sensors=25, hops=1, seed=8)
    assert any(not np.array_equal(a.sample(s).positions, other.sample(s).positions) for s in range(5))


def test_small_components_are_taken_whole_and_the_search_goes_on():
    # two components: a triangle {0, 1, 2} and a path 3 - 4 - 5 - 6
    edges = [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 6)]
    adjacency = sp.lil_matrix((7, 7))
    for i, j in edges:
        adjacency[i, j] = 1.0
    graph = SensorGraph(adjacency.tocsr())
    components = [{0, 1, 2}, {3, 4, 5, 6}]
    sampler = SubgraphSampler(graph, sensors=5, hops=1, seed=0)
    roots = set()
    for step in range(12):
        sub = sampler.sample(step)
        assert sub.num_sensors == 5
        first, second = components if int(sub.positions[0]) in components[0] else components[::-1]
        roots.add(min(first))
        # the root's component whole, then a connected part of the other one
        assert set(sub.positions[: len(first)].tolist()) == first
        rest = sub.positions[len(first) :]
        assert set(rest.tolist()) <= second
        assert csgraph.connected_components(graph.adjacency[rest][:, rest], directed=False)[0] == 1
        # the whole first component keeps its neighbourhood: all of it are seeds
        assert set(range(len(first))) <= set(sub.seeds.tolist())
    assert roots == {0, 3}


def test_a_region_too_thin_for_its_hops_keeps_the_root_as_its_seed():
    sub = SubgraphSampler(grid(1, 20), sensors=3, hops=5, seed=0).sample(0)
    assert sub.seeds.tolist() == [0]


def test_the_whole_graph_makes_every_sensor_a_seed():
    sub = SubgraphSampler(grid(4, 4), sensors=100, hops=3, seed=0).sample(0)
    assert sorted(sub.positions.tolist()) == list(range(16))
    assert sub.seeds.tolist() == list(range(16))


def test_positions_as_tensors_are_cached_per_device():
    sub = SubgraphSampler(grid(4, 4), sensors=6, hops=1, seed=0).sample(0)
    assert sub.torch_positions() is sub.torch_positions("cpu")
    assert sub.torch_positions(seeds=True).tolist() == sub.seeds.tolist()
    assert sub.torch_positions().dtype == torch.int64
    assert repr(sub).startswith("SensorSubgraph(sensors=6 of 16")


@pytest.mark.parametrize(("sensors", "hops"), [(0, 1), (5, -1)])
def test_bad_sizes_are_refused(sensors, hops):
    with pytest.raises(GraphError, match=r"sensors >= 1 and hops >= 0"):
        SubgraphSampler(grid(3, 3), sensors=sensors, hops=hops)
