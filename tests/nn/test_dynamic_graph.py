"""graph_powers on a hand-worked 3-sensor graph; DynamicGraphLearner's rows, masks and errors."""

from __future__ import annotations

import math

import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import DynamicGraphLearner, graph_powers


def test_graph_powers_square_with_the_diagonal_then_drop_it():
    # A path 0 -> 1 -> 2 with self-loops: A^2 has 0 -> 2 (via 1) and keeps its own diagonal until dropped.
    a = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    hops = graph_powers(a, 2)
    torch.testing.assert_close(hops[0], torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]], dtype=torch.float64))
    # (A @ A)[0] = [0.25, 0.5, 0.25], (A @ A)[1] = [0, 0.25, 0.75]
    torch.testing.assert_close(hops[1], torch.tensor([[0.0, 0.5, 0.25], [0.0, 0.0, 0.75], [0.0, 0.0, 0.0]], dtype=torch.float64))
    assert graph_powers(a.expand(4, 3, 3), 3).shape == (4, 3, 3, 3)
    with pytest.raises(ShapeError, match=r"graph_powers expects \[..., nodes, nodes\]; got \[3, 2\]"):
        graph_powers(a[:, :2], 2)


def test_learned_graph_is_the_masked_attention_row_normalised():
    torch.manual_seed(0)
    learner = DynamicGraphLearner(lookback=4, hidden=6, embedding_dim=2, calendar_width=3, order=1).double().eval()
    batch, nodes = 2, 3
    readings = torch.randn(batch, 4, nodes, dtype=torch.float64)
    calendar = torch.randn(batch, nodes, 3, dtype=torch.float64)
    embedding = torch.randn(nodes, 2, dtype=torch.float64)
    mask = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.2, 0.0, 0.8]], dtype=torch.float64)
    graphs = learner(readings, calendar, [embedding], [mask])
    assert graphs.shape == (batch, 1, nodes, nodes)

    window = readings.transpose(1, 2).reshape(batch * nodes, 4)
    features = learner.window_outer(learner.window_norm(torch.relu(learner.window_inner(window)))).view(batch, nodes, 6)
    h = torch.cat([features, calendar, embedding.expand(batch, -1, -1)], dim=-1)
    attention = torch.softmax(learner.query(h) @ learner.key(h).mT / math.sqrt(6), dim=-1)
    weights = attention * (mask + 1e-7)
    expected = weights / weights.sum(-1, keepdim=True) * (1 - torch.eye(nodes, dtype=torch.float64))
    torch.testing.assert_close(graphs[:, 0], expected)


def test_one_embedding_per_mask_and_the_calendar_it_was_built_for():
    learner = DynamicGraphLearner(lookback=4, hidden=6, embedding_dim=2, calendar_width=3)
    calendar = torch.zeros(1, 3, 3)
    with pytest.raises(ValueError, match="one embedding per mask; got 1 and 2"):
        learner(torch.zeros(1, 4, 3), calendar, [torch.zeros(3, 2)], [torch.eye(3)] * 2)
    with pytest.raises(ShapeError, match=r"expects calendar as \[batch, nodes, 3\] = \[1, 3, 3\]; got None"):
        learner(torch.zeros(1, 4, 3), None, [torch.zeros(3, 2)], [torch.eye(3)])
    without = DynamicGraphLearner(lookback=4, hidden=6, embedding_dim=2, calendar_width=0)
    assert without(torch.zeros(1, 4, 3), None, [torch.zeros(3, 2)], [torch.eye(3)]).shape == (1, 2, 3, 3)
