"""GCNConv: H = A X W + b, computed on the narrower side."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph import SensorGraph
from stgraph.errors import ShapeError
from stgraph.nn import GCNConv


@pytest.mark.parametrize("in_features, out_features", [(3, 5), (5, 2)])
def test_matches_numpy_formula(in_features, out_features):
    adjacency = sp.random(9, 9, density=0.3, random_state=1, format="csr")
    graph = SensorGraph(adjacency)
    layer = GCNConv(in_features, out_features).double()
    with torch.no_grad():
        layer.bias.copy_(torch.arange(out_features, dtype=torch.float64))
    x = np.random.default_rng(0).standard_normal((2, 4, 9, in_features))
    a_hat = graph.operator("gcn").toarray()
    weight = layer.linear.weight.detach().numpy().T
    expected = np.einsum("ij,btjf->btif", a_hat, x) @ weight + np.arange(out_features)
    out = layer(torch.from_numpy(x), graph.torch_operator("gcn", dtype=torch.float64))
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_relabelling_sensors_permutes_the_output():
    torch.manual_seed(0)
    matrix = torch.rand(7, 7) * (torch.rand(7, 7) < 0.4)
    layer = GCNConv(4, 3)
    x = torch.randn(2, 7, 4)
    order = torch.tensor([6, 0, 5, 1, 4, 2, 3])
    out = layer(x, matrix)
    torch.testing.assert_close(layer(x[:, order], matrix[order][:, order]), out[:, order])


def test_without_bias_zero_input_gives_zero():
    layer = GCNConv(3, 2, bias=False)
    assert layer.bias is None
    assert torch.equal(layer(torch.zeros(5, 3), torch.rand(5, 5)), torch.zeros(5, 2))


def test_wrong_feature_count_is_reported():
    with pytest.raises(ShapeError, match=r"GCNConv expects x as \[\.\.\., nodes, 3\], got \[5, 4\]"):
        GCNConv(3, 2)(torch.randn(5, 4), torch.eye(5))
