"""AGCRN: the stacked node-adaptive GRUs unrolled by hand, the end convolution, the parameter
count of the authors' code, the authors' initialisation, sensor relabelling, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph import SensorGraph
from stgraph.errors import ShapeError
from stgraph.models import AGCRN


def _row_softmax(scores: torch.Tensor) -> torch.Tensor:
    e = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def _avwgcn(x, embedding, supports, weight_pool, bias_pool):
    """The authors' AVWGCN with explicit per-sensor weights: sum_k T_k x W[n, k] + b[n]."""
    weights = torch.einsum("nd,dkio->nkio", embedding, weight_pool)
    bias = embedding @ bias_pool
    out = torch.stack([torch.stack([s @ x[b] for s in supports]) for b in range(x.shape[0])])  # [B, K, N, in]
    return torch.einsum("bkni,nkio->bno", out, weights) + bias


def test_forecast_is_the_end_conv_of_the_top_layers_last_state_unrolled_by_hand():
    torch.manual_seed(0)
    model = AGCRN(num_sensors=3, in_features=2, out_channels=2, lookback=4, horizon=3, embedding_dim=2, hidden=5, layers=2)
    model = model.double().eval()
    x = torch.randn(2, 4, 3, 2, dtype=torch.float64)
    e = model.node_embedding
    a = _row_softmax(torch.relu(e @ e.T))
    supports = [torch.eye(3, dtype=torch.float64), a]  # cheb_k = 2
    sequence = x
    for cell in model.cells:
        h = torch.zeros(2, 3, 5, dtype=torch.float64)
        states = []
        for t in range(4):
            xt = sequence[:, t]
            gates = torch.sigmoid(_avwgcn(torch.cat([xt, h], -1), e, supports, cell.gates.weight_pool, cell.gates.bias_pool))
            z, r = gates[..., :5], gates[..., 5:]  # the authors' names: z resets, r updates
            hc = torch.tanh(
                _avwgcn(torch.cat([xt, z * h], -1), e, supports, cell.candidate.weight_pool, cell.candidate.bias_pool)
            )
            h = r * h + (1 - r) * hc
            states.append(h)
        sequence = torch.stack(states, dim=1)
    # end_conv: Conv2d(1, horizon * channels, (1, hidden)) = one linear map of each sensor's state.
    w = model.end_conv.weight.reshape(6, 5)
    out = sequence[:, -1] @ w.T + model.end_conv.bias  # [B, N, horizon * channels]
    expected = out.reshape(2, 3, 3, 2).permute(0, 2, 1, 3)  # the authors' reshape(B, T, C, N).permute(0, 1, 3, 2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, None), expected)


def test_parameter_count_matches_the_authors_code_at_pemsd4_settings():
    # embed_dim d = 10, rnn_units 64, num_layers 2, cheb_k 2, horizon 12, 207 sensors.
    # Per AVWGCN: weights_pool d * cheb_k * C_in * C_out + bias_pool d * C_out.
    #   layer 1 (C_in = 1 + 64): gate 10*2*65*128 + 10*128 = 167,680; update 10*2*65*64 + 10*64 = 83,840
    #   layer 2 (C_in = 64 + 64): gate 10*2*128*128 + 1,280 = 328,960; update 10*2*128*64 + 640 = 164,480
    #   node embeddings 207*10 = 2,070; end_conv 12*64 + 12 = 780
    model = AGCRN(num_sensors=207, in_features=1)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"AGCRN parameters, PEMSD4 settings at 207 sensors: {count:,}")
    assert count == 167_680 + 83_840 + 328_960 + 164_480 + 2_070 + 780 == 747_810
    # A second input feature widens layer 1's pools: 10*2*128 + 10*2*64 = 3,840 more.
    assert sum(p.numel() for p in AGCRN(num_sensors=207, in_features=2).parameters()) == 747_810 + 3_840 == 751_650


def test_shapes_and_the_authors_parameter_shapes():
    model = AGCRN(num_sensors=5, in_features=1, out_channels=2, horizon=6, embedding_dim=4, hidden=8, layers=3, order=2)
    assert model(torch.randn(3, 12, 5, 1)).shape == (3, 6, 5, 2)
    assert model.node_embedding.shape == (5, 4)
    assert len(model.cells) == 3
    assert model.cells[0].gates.weight_pool.shape == (4, 3, 1 + 8, 16)  # [embed_dim, cheb_k, in, out]
    assert model.cells[1].candidate.weight_pool.shape == (4, 3, 8 + 8, 8)
    assert model.end_conv.weight.shape == (12, 1, 1, 8)


def test_initialisation_is_the_authors_xavier_for_matrices_uniform_for_vectors():
    torch.manual_seed(0)
    model = AGCRN(num_sensors=207, in_features=1)
    # Run.py: xavier_uniform_ for p.dim() > 1 (the embedding too, not its randn), uniform_ [0, 1) else.
    bound = np.sqrt(6.0 / (207 + 10))
    assert model.node_embedding.abs().max() <= bound and model.node_embedding.abs().max() > 0.9 * bound
    bias = model.end_conv.bias
    assert (bias >= 0).all() and (bias < 1).all()


def test_relabelling_sensors_with_their_embeddings_permutes_the_forecast():
    torch.manual_seed(1)
    model = AGCRN(num_sensors=5, in_features=2, horizon=3, embedding_dim=3, hidden=6).eval()
    order = torch.tensor([2, 0, 4, 1, 3])
    relabelled = AGCRN(num_sensors=5, in_features=2, horizon=3, embedding_dim=3, hidden=6).eval()
    state = model.state_dict()
    state["node_embedding"] = state["node_embedding"][order]
    relabelled.load_state_dict(state)
    x = torch.randn(2, 12, 5, 2)
    with torch.no_grad():
        torch.testing.assert_close(relabelled(x[:, :, order]), model(x)[:, :, order], rtol=1e-5, atol=1e-6)


def test_the_graph_is_checked_for_size_but_not_used():
    model = AGCRN(num_sensors=4, in_features=1, embedding_dim=2, hidden=4).eval()
    x = torch.randn(2, 12, 4, 1)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(model(x, SensorGraph(np.ones((4, 4)))), expected)
        torch.testing.assert_close(model(x, np.eye(4)), expected)
    with pytest.raises(ShapeError, match="AGCRN was built for 4 sensors; the graph has 3"):
        model(x, np.eye(3))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("embedding_dim", 0, "embedding_dim must be an integer >= 1, got 0"),
        ("hidden", 0, "hidden must be an integer >= 1, got 0"),
        ("layers", 0, "layers must be an integer >= 1, got 0"),
        ("order", -1, "order must be an integer >= 0, got -1"),
        ("hidden", 8.0, "hidden must be an integer >= 1, got 8.0"),
    ],
)
def test_bad_options_are_refused(option, value, message):
    with pytest.raises(ValueError, match=f"AGCRN: {message}"):
        AGCRN(num_sensors=3, in_features=1, **{option: value})
