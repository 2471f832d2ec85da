"""propagate: every backend equals a float64 dense product, in values and gradients."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph import SensorGraph
from stgraph.errors import ShapeError
from stgraph.ops import Operator, propagate, select_backend

CPU_BACKENDS = ["reference", "dense", "cpu"]


def _random_matrix(nodes: int, density: float, seed: int) -> torch.Tensor:
    """Random non-negative float64 matrix with an empty row and a self-loop."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.rand(nodes, nodes, generator=generator) < density
    matrix = torch.rand(nodes, nodes, generator=generator, dtype=torch.float64) * mask
    if nodes > 2:
        matrix[1] = 0.0
        matrix[2, 2] = 0.7
    return matrix


def _relative_error(out: torch.Tensor, expected: torch.Tensor) -> float:
    return float((out.double() - expected).norm() / expected.norm())


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("shape", [(23, 5), (3, 23, 4), (2, 3, 23, 7), (4, 1, 23, 130)])
def test_backend_matches_float64_dense_product(backend, shape):
    matrix = _random_matrix(23, 0.2, seed=len(shape))
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    expected = matrix @ x.double()
    op = Operator.from_dense(matrix).to(dtype=torch.float32)
    out = propagate(op, x, backend=backend)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert _relative_error(out, expected) < 1e-5
    assert torch.all(out[..., 1, :] == 0)  # the empty row receives nothing


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_many_slices_in_one_call(backend):
    matrix = _random_matrix(40, 0.1, seed=3)
    x = torch.randn(600, 40, 16, generator=torch.Generator().manual_seed(2))
    out = propagate(Operator.from_dense(matrix).to(dtype=torch.float32), x, backend=backend)
    assert _relative_error(out, matrix @ x.double()) < 1e-5


def test_cpu_backend_splits_large_products_into_groups_and_grows_its_cached_index(monkeypatch):
    from stgraph.ops import _cpu

    matrix = _random_matrix(40, 0.1, seed=3)
    op = Operator.from_dense(matrix).to(dtype=torch.float32)
    monkeypatch.setattr(_cpu, "MAX_ENTRIES_PER_CALL", 7 * op.num_edges)  # groups of 7 slices
    generator = torch.Generator().manual_seed(2)
    for slices in (3, 50, 600):  # one partial group, then 8 and 86 groups (the last partial)
        x = torch.randn(slices, 40, 16, generator=generator)
        out = propagate(op, x, backend="cpu")
        assert _relative_error(out, matrix @ x.double()) < 1e-5
    group, (cols, offsets, values) = op.cached(_cpu._CACHE_KEY, None)
    assert group == 7  # built for 3 slices, grown once to a full group, never beyond
    assert cols.dtype == offsets.dtype == torch.int32
    assert cols.numel() == values.numel() == 7 * op.num_edges and offsets.numel() == 7 * 40 + 1


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gradient_passes_gradcheck(backend):
    op = Operator.from_dense(_random_matrix(6, 0.4, seed=4))
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: propagate(op, t, backend=backend), (x,))
    assert torch.autograd.gradgradcheck(lambda t: propagate(op, t, backend=backend), (x,))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_backward_applies_the_transpose(backend):
    matrix = _random_matrix(9, 0.3, seed=5)
    x = torch.randn(4, 9, 2, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(4, 9, 2, dtype=torch.float64)
    propagate(Operator.from_dense(matrix), x, backend=backend).backward(grad)
    torch.testing.assert_close(x.grad, matrix.T @ grad)


def test_dense_tensor_operator_is_differentiable_in_both_operands():
    matrix = torch.softmax(torch.randn(5, 5, dtype=torch.float64), dim=1).requires_grad_()
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(propagate, (matrix, x))


def test_torch_sparse_operator_matches_dense():
    matrix = _random_matrix(8, 0.3, seed=6)
    x = torch.randn(3, 8, 2, dtype=torch.float64)
    torch.testing.assert_close(propagate(matrix.to_sparse(), x), matrix @ x)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("shape", [(0, 5, 3), (2, 5, 0)])
def test_zero_slices_or_features_give_empty_output(backend, shape):
    op = Operator.from_dense(_random_matrix(5, 0.5, seed=7))
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    out = propagate(op, x, backend=backend)
    assert out.shape == shape
    out.sum().backward()
    assert x.grad.shape == shape


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_single_sensor_graph(backend):
    op = Operator.from_dense(torch.tensor([[0.5]], dtype=torch.float64))
    x = torch.randn(3, 1, 2, dtype=torch.float64)
    torch.testing.assert_close(propagate(op, x, backend=backend), 0.5 * x)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_graph_without_edges_gives_zeros(backend):
    op = Operator.from_csr(torch.zeros(5, dtype=torch.int64), torch.zeros(0, dtype=torch.int64), torch.zeros(0), 4)
    out = propagate(op, torch.randn(2, 4, 3), backend=backend)
    assert torch.equal(out, torch.zeros(2, 4, 3))


def test_sensor_graph_operator_matches_scipy():
    adjacency = sp.random(30, 30, density=0.15, random_state=0, format="csr")
    graph = SensorGraph(adjacency)
    x = np.random.default_rng(0).standard_normal((2, 30, 4))
    expected = np.einsum("ij,bjf->bif", graph.operator("forward").toarray(), x)
    out = propagate(graph.torch_operator("forward", dtype=torch.float64), torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_node_count_mismatch_names_both_shapes():
    op = Operator.from_dense(torch.eye(4))
    with pytest.raises(ShapeError, match=r"4 nodes but x \[2, 5, 3\] has 5"):
        propagate(op, torch.randn(2, 5, 3))
    with pytest.raises(ShapeError, match=r"\[\.\.\., nodes, features\], got shape \[4\]"):
        propagate(op, torch.randn(4))
    with pytest.raises(ShapeError, match=r"operator \[4, 4\] does not match x \[5, 2\]"):
        propagate(torch.eye(4), torch.randn(5, 2))


def test_backend_argument_overrides_environment(monkeypatch):
    op = Operator.from_dense(torch.eye(3))
    monkeypatch.setenv("STGRAPH_BACKEND", "no-such-backend")
    with pytest.raises(ValueError, match="'no-such-backend'"):
        propagate(op, torch.randn(3, 2))
    torch.testing.assert_close(propagate(op, torch.ones(3, 2), backend="cpu"), torch.ones(3, 2))


def test_automatic_choice_follows_density_device_and_triton(monkeypatch):
    dense = Operator.from_dense(torch.rand(20, 20) + 0.1)
    sparse_small = Operator.from_dense(torch.eye(20))
    rows = torch.arange(2000)
    large = Operator.from_csr(torch.arange(2001), (rows + 1) % 2000, torch.ones(2000), 2000)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")  # choosing touches no device
    assert select_backend(dense, cpu) == "dense"
    assert select_backend(sparse_small, cpu) == "cpu"
    assert select_backend(large, cpu) == "cpu"
    module = importlib.import_module("stgraph.ops.propagate")  # the module, not the function stgraph.ops exports
    monkeypatch.setattr(module, "triton_available", lambda: True)
    assert select_backend(dense, cuda) == "dense"  # a GEMM above DENSE_MIN_DENSITY, Triton or not
    assert select_backend(sparse_small, cuda) == "triton"
    assert select_backend(large, cuda) == "triton"
    monkeypatch.setattr(module, "triton_available", lambda: False)
    assert select_backend(sparse_small, cuda) == "dense"  # without Triton: a GEMM up to DENSE_MAX_NODES_CUDA sensors,
    assert select_backend(large, cuda) == "reference"  # torch.sparse above
