"""T-GCN: the GCN-GRU unrolled by hand, the linear head, parameter count vs the authors' code."""

from __future__ import annotations

import numpy as np
import torch

from stgraph import SensorGraph
from stgraph.models import TGCN


def test_forecast_is_the_head_of_the_last_gcn_gru_state():
    rng = np.random.default_rng(0)
    graph = SensorGraph(rng.uniform(0, 1, (4, 4)) * (rng.random((4, 4)) < 0.6))
    torch.manual_seed(0)
    model = TGCN(num_sensors=4, in_features=1, lookback=5, horizon=3, hidden=6, out_channels=2).double()
    x = torch.randn(2, 5, 4, 1, dtype=torch.float64)
    # Unroll with the symmetric-normalised adjacency with self-loops as a dense matrix.
    a_hat = torch.tensor(graph.operator("gcn").toarray())
    state = torch.zeros(2, 4, 6, dtype=torch.float64)
    for t in range(5):
        state = model.cell(x[:, t], state, a_hat)
    expected = model.head(state).reshape(2, 4, 3, 2).transpose(1, 2)
    torch.testing.assert_close(model(x, graph), expected)


def test_parameter_count_matches_the_authors_pytorch_code():
    # lehaifeng/T-GCN (T-GCN-PyTorch) defaults: speed only, hidden 64, pre_len 3: gate GCN
    # weights [65, 128] + 128 biases, candidate [65, 64] + 64, regressor Linear(64, 3).
    model = TGCN(num_sensors=207, in_features=1, horizon=3)
    count = sum(p.numel() for p in model.parameters())
    print(f"T-GCN parameters, Los-loop configuration (3 steps): {count:,}")
    assert count == 65 * 128 + 128 + 65 * 64 + 64 + 64 * 3 + 3 == 12_867
