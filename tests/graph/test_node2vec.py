"""node2vec walks and skip-gram (stgraph/graph/node2vec.py) on small graphs worked out by hand.

How the default ``epochs=1`` (and ``lr=0.01``) was chosen, 2026-12-01: METR-LA's 207-sensor
graph (Los-loop ``los_adj.csv``), GMAN's walks (100 per sensor, 80 long, p = 2, q = 1, seed 0:
17,298,197 pairs an epoch), batches of 4,096 pairs, one torch thread on a shared 2-core VM.
Loss: mean negative SGNS objective over 866,156 held-out pairs (5 walks per sensor, seed 99)
with 5 fixed noise draws each, after training with the rate's full linear decay:

    trained on          lr 0.01   lr 0.025
    0.1 epoch           1.3618
    0.25 epoch          1.3557
    0.5 epoch           1.3534
    1 epoch             1.3524    1.3535
    2 epochs            1.3516    1.3523
    4 epochs            1.3518

(a fraction of an epoch: the first share of the walks). Summing word2vec's per-pair SGD steps
over a batch instead of Adam diverged (NaN at 16,384 pairs a step on this graph).
``node2vec_embedding(los_adj)`` with every default: 14.9 s (walks about 2 s), one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from stgraph.errors import GraphError
from stgraph.graph.node2vec import (
    _sgns_gradients,
    _sgns_loss,
    _train_sgns,
    _window_pairs,
    node2vec_embedding,
    node2vec_walks,
    skip_gram,
)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread, as in tests/models/conftest.py: OpenMP threads waiting on a busy core
    make these small tensor operations an order of magnitude slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


LOS_ADJ = Path("/work/shared/data/los-loop/los_adj.csv")

# a directed 5-sensor graph: 0 -> 1 (2), 1 -> 2 (1), 1 -> 3 (1), 2 -> 0 (4), 3 -> 3 (1), 2 -> 4 (1);
# sensor 4 has no out-edge (walks stop there), 3 only a self-loop
DIRECTED = np.array(
    [
        [0.0, 2.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 1.0, 0.0],
        [4.0, 0.0, 0.0, 0.0, 1.0],
        [0.0, 0.0, 0.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)

# triangle 0-1-2 plus the pendant 3 on sensor 2, symmetric: w01 = 1, w02 = 2, w12 = 1, w23 = 3
TRIANGLE_PENDANT = np.array(
    [
        [0.0, 1.0, 2.0, 0.0],
        [1.0, 0.0, 1.0, 0.0],
        [2.0, 1.0, 0.0, 3.0],
        [0.0, 0.0, 3.0, 0.0],
    ]
)


def _two_cliques(size: int) -> np.ndarray:
    """Two complete graphs of ``size`` sensors (weights 1), joined by the one edge 0 -- size."""
    adjacency = np.zeros((2 * size, 2 * size))
    adjacency[:size, :size] = 1.0
    adjacency[size:, size:] = 1.0
    np.fill_diagonal(adjacency, 0.0)
    adjacency[0, size] = adjacency[size, 0] = 1.0
    return adjacency


def test_walks_follow_edges_and_start_at_every_sensor():
    walks = node2vec_walks(DIRECTED, walks_per_node=30, walk_length=12, p=0.5, q=2.0, seed=1)
    assert walks.shape == (5 * 30, 12)
    assert walks.dtype == np.int64
    np.testing.assert_array_equal(walks[:, 0], np.tile(np.arange(5), 30))
    for source, target in zip(walks[:, :-1].ravel(), walks[:, 1:].ravel()):
        if target >= 0:
            assert DIRECTED[source, target] > 0, f"step {source} -> {target} is not an edge"
    # a walk stops only at sensor 4 (no out-edge), and once stopped stays stopped
    stopped = walks[:, 1:] < 0
    assert np.all(walks[:, :-1][stopped & (walks[:, :-1] >= 0)] == 4)
    assert np.all(stopped[:, 1:] >= stopped[:, :-1])
    np.testing.assert_array_equal(walks[walks[:, 0] == 4, 1:], -1)
    # sensor 3 only loops on itself; sensor 2 reaches both 0 and 4
    assert np.all(walks[walks[:, 0] == 3] == 3)
    assert set(walks[walks[:, 0] == 2, 1]) == {0, 4}


def test_walks_are_reproducible_for_a_seed():
    first = node2vec_walks(DIRECTED, walks_per_node=10, walk_length=8, p=2.0, q=1.0, seed=3)
    np.testing.assert_array_equal(first, node2vec_walks(DIRECTED, walks_per_node=10, walk_length=8, p=2.0, q=1.0, seed=3))
    assert not np.array_equal(first, node2vec_walks(DIRECTED, walks_per_node=10, walk_length=8, p=2.0, q=1.0, seed=4))


def _frequencies(walks: np.ndarray, previous: int, current: int, options: list[int]) -> tuple[np.ndarray, int]:
    arrived = walks[(walks[:, 0] == previous) & (walks[:, 1] == current)]
    return np.array([(arrived[:, 2] == x).mean() for x in options]), len(arrived)


def test_second_step_frequencies_match_the_biased_transition_probabilities():
    # p = 2, q = 0.5: alpha = 1/p = 0.5 back to t, 1 to a neighbour of t, 1/q = 2 elsewhere.
    # t = 0, v = 2: 0 (w 2 * 0.5 = 1), 1 (w 1, edge 1 -> 0: * 1 = 1), 3 (w 3 * 2 = 6); sum 8
    # t = 3, v = 2: 0 (w 2 * 2 = 4), 1 (w 1 * 2 = 2), 3 (w 3 * 0.5 = 1.5); sum 7.5
    # t = 1, v = 0: 1 (w 1 * 0.5 = 0.5), 2 (w 2, edge 2 -> 1: * 1 = 2); sum 2.5
    # First-order walks would give 2/6, 1/6, 3/6 from sensor 2: the bias is what is tested.
    walks = node2vec_walks(TRIANGLE_PENDANT, walks_per_node=20_000, walk_length=3, p=2.0, q=0.5, seed=0)
    cases = [
        (0, 2, [0, 1, 3], [1 / 8, 1 / 8, 6 / 8]),
        (3, 2, [0, 1, 3], [4 / 7.5, 2 / 7.5, 1.5 / 7.5]),
        (1, 0, [1, 2], [0.5 / 2.5, 2 / 2.5]),
    ]
    for previous, current, options, exact in cases:
        observed, count = _frequencies(walks, previous, current, options)
        assert count > 5_000
        # each frequency is a binomial proportion: 5 standard errors leave a false alarm
        # probability below 1e-6 per cell, while the first-order alternative is >= 15 errors off
        tolerance = 5 * np.sqrt(np.asarray(exact) * (1 - np.asarray(exact)) / count)
        np.testing.assert_array_less(np.abs(observed - exact), tolerance)
        np.testing.assert_allclose(observed.sum(), 1.0)


def test_first_step_is_weighted_by_edge_weight_only():
    walks = node2vec_walks(TRIANGLE_PENDANT, walks_per_node=20_000, walk_length=2, p=2.0, q=0.5, seed=0)
    first = walks[walks[:, 0] == 2, 1]
    exact = np.array([2, 1, 3]) / 6
    observed = np.array([(first == x).mean() for x in (0, 1, 3)])
    np.testing.assert_array_less(np.abs(observed - exact), 5 * np.sqrt(exact * (1 - exact) / first.size))


def test_neighbour_of_previous_means_an_edge_back_to_it():
    # directed: 0 -> 1, 1 -> 2, 1 -> 3, 2 -> 0 (so 2 is a "neighbour" of 0, 3 is not), weights 1.
    # From t = 0, v = 1 with q = 0.25: 2 weighs 1, 3 weighs 4 -> P(2) = 0.2
    adjacency = np.zeros((4, 4))
    adjacency[0, 1] = adjacency[1, 2] = adjacency[1, 3] = adjacency[2, 0] = 1.0
    walks = node2vec_walks(adjacency, walks_per_node=20_000, walk_length=3, p=1.0, q=0.25, seed=0)
    observed, count = _frequencies(walks, 0, 1, [2, 3])
    np.testing.assert_array_less(np.abs(observed - [0.2, 0.8]), 5 * np.sqrt(0.16 / count))


def test_window_pairs_lie_within_the_window_and_skip_stopped_positions():
    walks = np.array([[0, 1, 2, 3, 4, -1, -1]])
    centre, context = _window_pairs(walks, 1, np.random.default_rng(0))
    assert sorted(zip(centre.tolist(), context.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 4), (4, 3)]
    centre, context = _window_pairs(np.arange(40)[None, :], 3, np.random.default_rng(0))
    gap = np.abs(centre - context)
    assert gap.min() == 1 and gap.max() == 3
    # the shrunk window: offset 1 always, offset 3 only for a third of the centres
    assert (gap == 1).sum() == 2 * 39 and 0 < (gap == 3).sum() < (gap == 1).sum()


def test_skip_gram_lowers_the_sgns_loss():
    torch.manual_seed(0)
    walks = node2vec_walks(_two_cliques(5), walks_per_node=10, walk_length=20, p=1.0, q=1.0, seed=0)
    centre, context = (torch.from_numpy(a) for a in _window_pairs(walks, 5, np.random.default_rng(1)))
    noise = torch.randint(0, 10, (centre.numel(), 5), generator=torch.Generator().manual_seed(2))
    inputs, outputs, _ = _train_sgns(walks, 10, 8, 5, 5, 1, 0.025, 256, 0)
    # untrained: output vectors are zero, every score is 0 and the loss is 6 log 2
    assert _sgns_loss((inputs, torch.zeros_like(outputs)), centre, context, noise) == pytest.approx(6 * np.log(2), rel=1e-6)
    assert _sgns_loss((inputs, outputs), centre, context, noise) < 0.8 * 6 * np.log(2)


def test_dense_and_gathered_gradients_agree_with_autograd():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(7, 5, dtype=torch.float64, generator=generator)
    outputs = torch.randn(7, 5, dtype=torch.float64, generator=generator)
    centre = torch.tensor([0, 1, 1, 3, 6, 6, 6, 2])
    context = torch.tensor([1, 0, 2, 3, 5, 4, 5, 1])
    noise = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 0.0], dtype=torch.float64)
    gathered = _sgns_gradients(inputs, outputs, centre, context, noise, 3, torch.Generator().manual_seed(1), dense=False)
    dense = _sgns_gradients(inputs, outputs, centre, context, noise, 3, torch.Generator().manual_seed(1), dense=True)
    # the same noise draws, through autograd on the loss they define
    draws = torch.multinomial(noise, 8 * 3, replacement=True, generator=torch.Generator().manual_seed(1)).view(8, 3)
    u, v = inputs.clone().requires_grad_(), outputs.clone().requires_grad_()
    positive = torch.nn.functional.logsigmoid((u[centre] * v[context]).sum(-1))
    scores = torch.einsum("bd,bkd->bk", u[centre], v[draws])
    negative = (torch.nn.functional.logsigmoid(-scores) * (draws != context[:, None])).sum(-1)
    (-(positive + negative).mean()).backward()
    for path in (gathered, dense):
        torch.testing.assert_close(path[0], u.grad)
        torch.testing.assert_close(path[1], v.grad)


def test_embedding_separates_two_clusters_joined_by_one_edge():
    size = 6
    embedding = node2vec_embedding(
        _two_cliques(size), 16, walks_per_node=20, walk_length=20, window=5, epochs=3, batch_size=256, seed=0
    )
    assert embedding.shape == (2 * size, 16)
    assert embedding.dtype == np.float64
    unit = embedding / np.linalg.norm(embedding, axis=1, keepdims=True)
    cosine = unit @ unit.T
    cluster = np.arange(2 * size) // size
    same = cluster[:, None] == cluster[None, :]
    off_diagonal = ~np.eye(2 * size, dtype=bool)
    within, across = cosine[same & off_diagonal].mean(), cosine[~same].mean()
    assert within > 0.5
    assert within - across > 0.5, (within, across)


def test_embedding_is_deterministic_for_a_seed():
    kwargs = {"walks_per_node": 5, "walk_length": 10, "window": 3, "epochs": 1}
    first = node2vec_embedding(TRIANGLE_PENDANT, 8, seed=5, **kwargs)
    np.testing.assert_array_equal(first, node2vec_embedding(TRIANGLE_PENDANT, 8, seed=5, **kwargs))
    assert not np.array_equal(first, node2vec_embedding(TRIANGLE_PENDANT, 8, seed=6, **kwargs))


def test_fewer_sensors_than_dim_and_an_isolated_sensor():
    adjacency = np.zeros((5, 5))
    adjacency[:4, :4] = TRIANGLE_PENDANT  # sensor 4 has no edge at all
    embedding = node2vec_embedding(adjacency, 64, walks_per_node=5, walk_length=10, window=3, epochs=1)
    assert embedding.shape == (5, 64)
    assert np.all(np.isfinite(embedding))
    np.testing.assert_array_equal(embedding[4], 0.0)
    assert np.all(np.linalg.norm(embedding[:4], axis=1) > 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"walks_per_node": 0}, "walks_per_node must be a positive integer"),
        ({"walk_length": 2.5}, "walk_length must be a positive integer"),
        ({"p": 0.0}, "p must be a positive finite number"),
        ({"q": float("inf")}, "q must be a positive finite number"),
        ({"dim": 0}, "dim must be a positive integer"),
        ({"window": -1}, "window must be a positive integer"),
        ({"negatives": -1}, "negatives must be a non-negative integer"),
        ({"epochs": 0}, "epochs must be a positive integer"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        node2vec_embedding(TRIANGLE_PENDANT, **{"dim": 4, "walks_per_node": 2, "walk_length": 4, "epochs": 1, **kwargs})


@pytest.mark.parametrize(
    ("adjacency", "match"),
    [
        (np.ones((3, 4)), r"square \[sensors, sensors\] matrix, got \[3, 4\]"),
        (np.array([[0.0, -1.0], [1.0, 0.0]]), "1 negative weights"),
        (np.array([[0.0, np.nan], [1.0, 0.0]]), "1 non-finite weights"),
    ],
)
def test_bad_adjacency_says_what_is_wrong(adjacency, match):
    with pytest.raises(GraphError, match=match):
        node2vec_walks(adjacency, walks_per_node=1, walk_length=2, p=1.0, q=1.0, seed=0)


def test_bad_walks_are_rejected():
    with pytest.raises(ValueError, match=r"walks must hold sensor indices 0\.\.2"):
        skip_gram(np.array([[0, 3]]), 3, 4, window=1, negatives=1, epochs=1)
    with pytest.raises(ValueError, match="walks must be a 2-D integer array"):
        skip_gram(np.array([0.0, 1.0]), 3, 4, window=1, negatives=1, epochs=1)


@pytest.mark.skipif(not LOS_ADJ.exists(), reason=f"{LOS_ADJ} is not on this machine")
def test_walks_on_the_los_loop_graph_follow_its_edges():
    adjacency = np.loadtxt(LOS_ADJ, delimiter=",")
    walks = node2vec_walks(adjacency, walks_per_node=2, walk_length=80, p=2.0, q=1.0, seed=0)
    assert walks.shape == (414, 80)
    assert np.all(walks >= 0)  # every sensor has out-edges (a unit diagonal): no walk stops
    assert np.all(adjacency[walks[:, :-1], walks[:, 1:]] > 0)
