"""Each graph model, in its paper configuration, runs forward and backward once on a
METR-LA-shaped batch ``[16, 12, 207, 2]`` (speed, time of day) over the real METR-LA graph.

The expensive test of the suite, on purpose kept to one pass per model.
"""

from __future__ import annotations

import pytest
import torch

from stgraph.graph import from_matrix
from stgraph.models import create


@pytest.fixture(scope="module")
def metr_la(shared_data):
    return from_matrix(shared_data / "metr-la-graph" / "adj_mx.pkl")


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["stgcn", "dcrnn", "graph_wavenet", "tgcn"])
def test_forward_and_backward_on_a_metr_la_batch(name, metr_la):
    assert metr_la.num_sensors == 207
    torch.manual_seed(0)
    model = create(name, num_sensors=207, in_features=2).train()
    x = torch.randn(16, 12, 207, 2)
    target = torch.randn(16, 12, 207, 1)
    forecast = model(x, metr_la, target=target, teacher_forcing=0.5)
    assert forecast.shape == (16, 12, 207, 1) and forecast.dtype == torch.float32
    (forecast - target).abs().mean().backward()
    count = sum(p.numel() for p in model.parameters())
    print(f"{name}: {count:,} parameters")
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not bad, f"missing or non-finite gradients: {bad}"
