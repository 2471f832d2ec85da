"""MTGNN's graph learning layer against a hand computation, its top-k mask and tie noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph.nn import GraphLearner


def _learner(**kwargs) -> GraphLearner:
    torch.manual_seed(0)
    return GraphLearner(4, 2, **{"neighbors": 2, "saturation": 3.0, **kwargs})


def test_matches_a_hand_computation_on_four_sensors():
    learner = _learner().eval()
    e1 = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, -0.5], [-1.0, 0.2]])
    e2 = np.array([[0.0, 1.0], [1.0, 0.3], [-0.4, 0.8], [0.2, 0.2]])
    theta1, theta2 = np.array([[0.3, -0.2], [0.1, 0.4]]), np.array([[-0.5, 0.2], [0.3, 0.1]])
    bias1, bias2 = np.array([0.05, -0.1]), np.array([0.0, 0.2])
    with torch.no_grad():
        learner.source_embedding.weight.copy_(torch.tensor(e1))
        learner.target_embedding.weight.copy_(torch.tensor(e2))
        learner.source_linear.weight.copy_(torch.tensor(theta1))  # nn.Linear computes e @ W^T + b
        learner.target_linear.weight.copy_(torch.tensor(theta2))
        learner.source_linear.bias.copy_(torch.tensor(bias1))
        learner.target_linear.bias.copy_(torch.tensor(bias2))
    m1 = np.tanh(3.0 * (e1 @ theta1.T + bias1))
    m2 = np.tanh(3.0 * (e2 @ theta2.T + bias2))
    antisymmetric = m1 @ m2.T - m2 @ m1.T
    np.testing.assert_allclose(antisymmetric, -antisymmetric.T, atol=1e-12)
    full = np.maximum(np.tanh(3.0 * antisymmetric), 0.0)
    # Keep the 2 largest entries of each row (no ties in this example), zero the rest.
    expected = np.zeros_like(full)
    for row in range(4):
        keep = np.argsort(-full[row])[:2]
        expected[row, keep] = full[row, keep]
    np.testing.assert_allclose(learner.dense().detach().double().numpy(), full, rtol=1e-5, atol=1e-6)
    out = learner().detach().double().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert ((out > 0).sum(axis=1) <= 2).all()


def test_the_graph_is_one_directional_with_an_empty_diagonal():
    learner = GraphLearner(30, 8, neighbors=30).eval()
    adjacency = learner()
    assert torch.all(adjacency.diagonal() == 0)
    assert not torch.any((adjacency > 0) & (adjacency.T > 0))
    assert (adjacency > 0).any()


def test_top_k_keeps_neighbors_entries_per_row_and_passes_gradients():
    learner = GraphLearner(12, 6, neighbors=3).train()
    adjacency = learner()
    assert ((adjacency != 0).sum(dim=1) <= 3).all()
    adjacency.sum().backward()
    for name, param in learner.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_tie_noise_picks_among_ties_in_training_only():
    # A saturated tanh: many entries of a row equal 1.0, so only the noise decides the mask.
    learner = GraphLearner(40, 8, neighbors=5, saturation=20.0)
    learner.eval()
    assert torch.equal(learner(), learner())
    learner.train()
    masks = {tuple((learner() > 0).flatten().tolist()) for _ in range(5)}
    assert len(masks) > 1
    no_noise = GraphLearner(40, 8, neighbors=5, saturation=20.0, tie_noise=0.0).train()
    assert torch.equal(no_noise(), no_noise())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"neighbors": 5}, r"neighbors must be in 1..num_sensors \(4\), got 5"),
        ({"neighbors": 0}, r"neighbors must be in 1..num_sensors \(4\), got 0"),
        ({"tie_noise": -0.1}, "tie_noise must be >= 0"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _learner(**kwargs)
