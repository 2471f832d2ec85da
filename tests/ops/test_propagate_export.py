"""The traceable path of ``propagate`` (stgraph/ops/propagate.py): used only while tracing or
exporting, the same product as the backends, baked into a traced graph as constants."""

from __future__ import annotations

import importlib

import pytest
import torch

from stgraph.ops import Operator, export_mode, exporting, propagate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")

propagate_module = importlib.import_module("stgraph.ops.propagate")  # the name is shadowed by the function


def _operator() -> Operator:
    torch.manual_seed(0)
    dense = torch.rand(6, 6) * (torch.rand(6, 6) < 0.4)
    dense[5] = 0.0  # a sensor that receives nothing
    return Operator.from_dense(dense)


def test_export_mode_is_on_only_inside_the_block():
    assert not exporting()
    with export_mode():
        assert exporting()
        with export_mode():
            assert exporting()
        assert exporting()
    assert not exporting()


@pytest.mark.parametrize("dense_max_nodes", [2048, 2])  # dense GEMM; gather + index_add
def test_the_traceable_path_equals_the_reference_backend(dense_max_nodes, monkeypatch):
    monkeypatch.setattr(propagate_module, "EXPORT_DENSE_MAX_NODES", dense_max_nodes)
    operator = _operator()
    x = torch.randn(3, 4, 6, 5)
    expected = propagate(operator, x, backend="reference")
    with export_mode():
        actual = propagate(operator, x)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("dense_max_nodes", [2048, 2])
def test_a_traced_propagation_runs_at_another_batch_size(dense_max_nodes, monkeypatch):
    monkeypatch.setattr(propagate_module, "EXPORT_DENSE_MAX_NODES", dense_max_nodes)
    operator = _operator()

    def layer(x: torch.Tensor) -> torch.Tensor:
        return propagate(operator, x).relu()

    with export_mode():
        layer(torch.randn(2, 6, 3))  # forms built outside the tracer
    traced = torch.jit.trace(layer, (torch.randn(2, 6, 3),), check_trace=False)
    x = torch.randn(5, 6, 3)
    torch.testing.assert_close(traced(x), propagate(operator, x, backend="reference").relu())
