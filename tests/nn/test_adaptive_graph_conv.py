"""NodeAdaptiveGraphConv: AGCRN's AVWGCN written out with matrices, per-sensor weights,
the learned adjacency, gradients, shape errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import NodeAdaptiveGraphConv, embedding_adjacency


def _row_softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_adjacency_is_row_softmax_of_relu_of_the_embedding_gram_matrix():
    embedding = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    e = embedding.numpy()
    expected = _row_softmax(np.maximum(e @ e.T, 0.0))
    adjacency = embedding_adjacency(embedding)
    np.testing.assert_allclose(adjacency.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(adjacency.sum(1).numpy(), np.ones(5), rtol=1e-12)


@pytest.mark.parametrize("order", [0, 1, 2, 3])
def test_matches_the_authors_matrix_supports_and_per_sensor_weights(order):
    # LeiBAI/AGCRN AGCN.py, in NumPy: supports [I, A, 2A·T_1 - T_0, ...] as matrices, weights
    # W[n] = sum_d E[n, d] pool[d], output sum_k (T_k X)[n] W[n, k] + E[n] B.
    torch.manual_seed(order)
    layer = NodeAdaptiveGraphConv(2, 3, embedding_dim=4, order=order).double()
    embedding = torch.randn(5, 4, dtype=torch.float64)
    x = torch.randn(6, 5, 2, dtype=torch.float64)
    e = embedding.numpy()
    a = _row_softmax(np.maximum(e @ e.T, 0.0))
    supports = [np.eye(5), a]
    for _ in range(2, order + 1):
        supports.append(2 * a @ supports[-1] - supports[-2])
    pool = layer.weight_pool.detach().numpy()
    bias_pool = layer.bias_pool.detach().numpy()
    expected = np.zeros((6, 5, 3))
    for n in range(5):
        weights = np.tensordot(e[n], pool, axes=1)  # [K + 1, in, out]
        for k in range(order + 1):
            expected[:, n] += (supports[k] @ x.numpy())[:, n] @ weights[k]
        expected[:, n] += e[n] @ bias_pool
    out = layer(x, embedding, embedding_adjacency(embedding))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_sensors_with_equal_embeddings_share_weights_and_differ_otherwise():
    # Isolated sensors (adjacency I) with the same embedding map the same input to the same output.
    layer = NodeAdaptiveGraphConv(2, 3, embedding_dim=2, order=1).double()
    embedding = torch.tensor([[1.0, 0.5], [1.0, 0.5], [-0.3, 2.0]], dtype=torch.float64)
    x = torch.ones(1, 3, 2, dtype=torch.float64)
    out = layer(x, embedding, torch.eye(3, dtype=torch.float64))[0]
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], out[2])


def test_gradients_reach_pools_and_embedding_through_the_adjacency():
    layer = NodeAdaptiveGraphConv(2, 2, embedding_dim=3, order=2).double()
    embedding = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda e: layer(x, e, embedding_adjacency(e)), (embedding,))
    layer(x, embedding, embedding_adjacency(embedding)).square().sum().backward()
    assert layer.weight_pool.grad.abs().sum() > 0 and layer.bias_pool.grad.abs().sum() > 0


def test_shape_errors_and_bad_options():
    layer = NodeAdaptiveGraphConv(2, 3, embedding_dim=4)
    assert layer.weight_pool.shape == (4, 2, 2, 3) and layer.bias_pool.shape == (4, 3)
    embedding = torch.randn(5, 4)
    with pytest.raises(ShapeError, match=r"x as \[..., nodes, 2\], got \[6, 5, 3\]"):
        layer(torch.randn(6, 5, 3), embedding, torch.eye(5))
    with pytest.raises(ShapeError, match=r"embedding \[5, 4\] for x \[6, 5, 2\]; got \[5, 3\]"):
        layer(torch.randn(6, 5, 2), torch.randn(5, 3), torch.eye(5))
    with pytest.raises(ShapeError, match="embedding_adjacency expects an embedding"):
        embedding_adjacency(torch.randn(5))
    with pytest.raises(ValueError, match="order >= 0; got 2, 3, 4 and -1"):
        NodeAdaptiveGraphConv(2, 3, embedding_dim=4, order=-1)
