"""AdaptiveAdjacency: softmax(relu(E1 E2^T)) with rows summing to one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import AdaptiveAdjacency, DiffusionConv


def test_matches_numpy_row_softmax():
    torch.manual_seed(0)
    module = AdaptiveAdjacency(6, embedding_dim=3)
    e1 = module.source_embedding.detach().numpy()
    e2 = module.target_embedding.detach().numpy()
    scores = np.maximum(e1 @ e2.T, 0.0)
    expected = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    out = module()
    assert out.shape == (6, 6)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(out.sum(1).detach().numpy(), np.ones(6), rtol=1e-6)


def test_gradient_reaches_both_embeddings_through_a_layer():
    torch.manual_seed(1)
    module = AdaptiveAdjacency(5, embedding_dim=2)
    layer = DiffusionConv(2, 3, order=2, num_transitions=1, variant="power")
    layer(torch.randn(4, 5, 2), [module()]).square().sum().backward()
    assert module.source_embedding.grad.abs().sum() > 0
    assert module.target_embedding.grad.abs().sum() > 0


def test_svd_initialisation_reproduces_a_low_rank_adjacency():
    torch.manual_seed(2)
    left, right = torch.rand(8, 2), torch.rand(8, 2)
    adjacency = left @ right.T  # rank 2
    module = AdaptiveAdjacency(8, embedding_dim=2)
    module.init_from_adjacency(adjacency)
    product = module.source_embedding @ module.target_embedding.T
    torch.testing.assert_close(product, adjacency, rtol=1e-4, atol=1e-5)
    with pytest.raises(ShapeError, match=r"expects \[8, 8\], got \[7, 7\]"):
        module.init_from_adjacency(torch.rand(7, 7))
