"""MTGNN's mix-hop propagation against a dense NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph.nn import MixHopPropagation, self_loop_row_normalized
from stgraph.ops import Operator


def test_self_loop_row_normalisation_by_hand():
    adjacency = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.25, 0.75], [0.0, 0.0, 1.0]], dtype=torch.float64)
    torch.testing.assert_close(self_loop_row_normalized(adjacency), expected)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_matches_a_dense_computation(order):
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    sensors, features, out_features, beta = 5, 3, 4, 0.05
    adjacency = rng.uniform(0, 1, (sensors, sensors)) * (rng.random((sensors, sensors)) < 0.5)
    layer = MixHopPropagation(features, out_features, order=order, retain=beta).double()
    x = torch.randn(2, 6, sensors, features, dtype=torch.float64)

    transition = (adjacency + np.eye(sensors)) / (adjacency + np.eye(sensors)).sum(axis=1, keepdims=True)
    xn = x.numpy()
    hops, hidden = [xn], xn
    for _ in range(order):
        hidden = beta * xn + (1 - beta) * np.einsum("vw,btwc->btvc", transition, hidden)
        hops.append(hidden)
    weight, bias = layer.linear.weight.detach().numpy(), layer.linear.bias.detach().numpy()
    expected = np.concatenate(hops, axis=-1) @ weight.T + bias

    operator = self_loop_row_normalized(torch.tensor(adjacency))
    np.testing.assert_allclose(layer(x, operator).detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    # A static graph as an Operator (the sparse path) computes the same.
    sparse = Operator.from_dense(operator)
    np.testing.assert_allclose(layer(x, sparse).detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="order must be >= 1, got 0"):
        MixHopPropagation(2, 2, order=0)
    with pytest.raises(ValueError, match=r"retain must be in \[0, 1\], got 1.5"):
        MixHopPropagation(2, 2, retain=1.5)
