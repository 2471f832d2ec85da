"""ChebConv: the recurrence equals the explicit Chebyshev polynomials of the Laplacian;
``order`` K is the highest polynomial degree (K + 1 terms)."""

from __future__ import annotations

import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import ChebConv, chebyshev_terms
from stgraph.nn.chebyshev_conv import chebyshev_series
from stgraph.ops import Operator


def _scaled_laplacian(nodes: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(nodes, nodes, generator=generator, dtype=torch.float64)
    weights = (weights + weights.T) * (weights + weights.T > 1.0)
    weights.fill_diagonal_(0.0)
    degree = weights.sum(1).clamp_min(1e-12)
    laplacian = torch.eye(nodes, dtype=torch.float64) - weights / torch.sqrt(degree[:, None] * degree[None, :])
    return 2.0 * laplacian / torch.linalg.eigvalsh(laplacian).max() - torch.eye(nodes, dtype=torch.float64)


def test_terms_are_the_explicit_polynomials():
    lap = _scaled_laplacian(7, seed=0)
    eye = torch.eye(7, dtype=torch.float64)
    # T0 = I, T1 = L, T2 = 2L^2 - I, T3 = 4L^3 - 3L
    polynomials = [eye, lap, 2 * lap @ lap - eye, 4 * lap @ lap @ lap - 3 * lap]
    x = torch.randn(3, 7, 2, dtype=torch.float64)
    terms = chebyshev_terms(x, Operator.from_dense(lap), order=3)
    assert len(terms) == 4
    for term, polynomial in zip(terms, polynomials):
        torch.testing.assert_close(term, polynomial @ x)


def test_layer_sums_theta_k_times_each_term():
    lap = _scaled_laplacian(6, seed=1)
    eye = torch.eye(6, dtype=torch.float64)
    layer = ChebConv(3, 2, order=2).double()
    x = torch.randn(2, 4, 6, 3, dtype=torch.float64)
    theta = [layer.linear.weight[:, k * 3 : (k + 1) * 3].T for k in range(3)]  # Theta_k: [3, 2]
    expected = x @ theta[0] + lap @ x @ theta[1] + (2 * lap @ lap - eye) @ x @ theta[2] + layer.linear.bias
    torch.testing.assert_close(layer(x, Operator.from_dense(lap)), expected)


def test_order_zero_is_a_plain_linear_map():
    layer = ChebConv(3, 2, order=0).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x, torch.eye(4, dtype=torch.float64) * 7), layer.linear(x))


def test_relabelling_sensors_permutes_the_output():
    lap = _scaled_laplacian(8, seed=2).float()
    layer = ChebConv(2, 5, order=2)
    x = torch.randn(3, 2, 8, 2)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    out = layer(x, Operator.from_dense(lap))
    torch.testing.assert_close(layer(x[:, :, order], Operator.from_dense(lap[order][:, order])), out[:, :, order])


def test_parameter_count_matches_stgcn_layout():
    # STGCN's Chebyshev layer: a [Ks * c_in, c_out] weight plus a c_out bias, Ks = order + 1 terms.
    layer = ChebConv(16, 64)
    assert layer.order == 2 and layer.num_terms == 3
    assert sum(p.numel() for p in layer.parameters()) == 3 * 16 * 64 + 64


def test_bad_order_and_features_are_reported():
    with pytest.raises(ValueError, match=r"order \(highest polynomial degree\) must be >= 0, got -1"):
        ChebConv(2, 2, order=-1)
    with pytest.raises(ShapeError, match=r"ChebConv expects x as \[\.\.\., nodes, 2\], got \[4, 3\]"):
        ChebConv(2, 2)(torch.randn(4, 3), torch.eye(4))


@pytest.mark.parametrize("order", [0, 1, 2, 4])
def test_clenshaw_series_equals_the_sum_of_explicit_polynomials(order):
    lap = _scaled_laplacian(7, seed=4)
    projections = torch.randn(order + 1, 2, 7, 3, dtype=torch.float64)
    polynomials = [torch.eye(7, dtype=torch.float64), lap]
    while len(polynomials) < order + 1:
        polynomials.append(2 * lap @ polynomials[-1] - polynomials[-2])
    expected = sum(polynomials[k] @ projections[k] for k in range(order + 1))
    torch.testing.assert_close(chebyshev_series(projections, Operator.from_dense(lap)), expected)


@pytest.mark.parametrize("in_features, out_features", [(8, 3), (3, 8), (4, 4)])
def test_both_evaluation_orders_give_the_explicit_sum_and_its_gradients(in_features, out_features):
    # 8 -> 3 projects first (Clenshaw), 3 -> 8 and 4 -> 4 propagate first: same function.
    lap = _scaled_laplacian(6, seed=5)
    eye = torch.eye(6, dtype=torch.float64)
    layer = ChebConv(in_features, out_features, order=2).double()
    x = torch.randn(2, 3, 6, in_features, dtype=torch.float64, requires_grad=True)
    w = layer.linear.weight
    theta = [w[:, k * in_features : (k + 1) * in_features].T for k in range(3)]
    expected = x @ theta[0] + lap @ x @ theta[1] + (2 * lap @ lap - eye) @ x @ theta[2] + layer.linear.bias
    out = layer(x, Operator.from_dense(lap))
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(out)
    got = torch.autograd.grad(out, (x, w), grad)
    want = torch.autograd.grad(expected, (x, w), grad)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
