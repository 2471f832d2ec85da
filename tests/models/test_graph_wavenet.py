"""Graph WaveNet: receptive field and padding, long inputs, transitions, parameter count."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stgraph import SensorGraph
from stgraph.models import GraphWaveNet

SENSORS = 5
SMALL = {"residual_channels": 4, "dilation_channels": 4, "skip_channels": 8, "end_channels": 8}


@pytest.fixture(scope="module")
def graph() -> SensorGraph:
    rng = np.random.default_rng(4)
    return SensorGraph(rng.uniform(0.1, 1.0, (SENSORS, SENSORS)) * (rng.random((SENSORS, SENSORS)) < 0.5))


def _model(lookback: int, **kwargs) -> GraphWaveNet:
    torch.manual_seed(0)
    return GraphWaveNet(num_sensors=SENSORS, in_features=2, lookback=lookback, horizon=3, **{**SMALL, **kwargs}).eval()


def test_receptive_field_of_the_default_stack():
    # Dilations 1, 2 repeated 4 times, kernel 2: 1 + 4 * (1 + 2) = 13 steps.
    model = _model(12)
    assert model.receptive_field == 13
    assert [layer.gated.conv.dilation for layer in model.layers] == [1, 2] * 4
    assert _model(12, blocks=2, layers=3).receptive_field == 1 + 2 * (1 + 2 + 4)


def test_short_input_is_zero_padded_at_the_start(graph):
    # As in the reference code: 12 steps are padded to 13 with one zero step in front.
    short, exact = _model(12), _model(13)
    exact.load_state_dict(short.state_dict())
    x = torch.randn(2, 12, SENSORS, 2)
    torch.testing.assert_close(short(x, graph), exact(F.pad(x, (0, 0, 0, 0, 1, 0)), graph))


def test_long_input_forecasts_from_its_last_receptive_field(graph):
    long, exact = _model(20), _model(13)
    exact.load_state_dict(long.state_dict())
    x = torch.randn(2, 20, SENSORS, 2)
    torch.testing.assert_close(long(x, graph), exact(x[:, -13:], graph))


def test_adaptive_adjacency_is_a_third_transition(graph):
    with_adaptive, without = _model(12), _model(12, adaptive=False)
    assert with_adaptive.layers[0].graph_conv.num_transitions == 3
    assert without.layers[0].graph_conv.num_transitions == 2 and without.adaptive is None
    x = torch.randn(2, 12, SENSORS, 2)
    out = with_adaptive(x, graph)
    with torch.no_grad():
        with_adaptive.adaptive.source_embedding.add_(1.0)
    assert not torch.allclose(with_adaptive(x, graph), out)
    assert without(x, graph).shape == (2, 3, SENSORS, 1)


def _reference_parameter_count(sensors: int, in_features: int, horizon: int) -> int:
    """Parameters nnzhan/Graph-WaveNet builds with its defaults (gcn_bool, addaptadj,
    doubletransition: two transitions and the adaptive adjacency): start conv, per layer
    filter/gate (kernel 2), residual and skip 1x1 convs, batch norm, graph conv over
    (3 transitions x order 2 + 1) terms; two end convs; two [sensors, 10] embeddings."""
    residual, dilation, skip, end, layers = 32, 32, 256, 512, 8
    per_layer = (
        2 * (residual * dilation * 2 + dilation)  # filter and gate convs
        + dilation * residual
        + residual  # residual 1x1 conv (built, bypassed by the graph conv)
        + dilation * skip
        + skip  # skip 1x1 conv
        + 2 * residual  # batch norm weight and bias
        + (2 * 3 + 1) * dilation * residual
        + residual  # graph conv's 1x1 mlp
    )
    start, ends, embeddings = in_features * residual + residual, skip * end + end + end * horizon + horizon, 2 * sensors * 10
    return start + layers * per_layer + ends + embeddings


def test_parameter_count_matches_the_reference_code_less_its_unused_parameters():
    model = GraphWaveNet(num_sensors=207, in_features=2)
    count = sum(p.numel() for p in model.parameters())
    reference = _reference_parameter_count(207, 2, 12)
    print(f"Graph WaveNet parameters, METR-LA configuration: {count:,} (reference code builds {reference:,})")
    assert reference == 309_400
    unused = 8 * (32 * 32 + 32) + ((2 * 3 + 1) * 32 * 32 + 32) + 2 * 32  # residual convs; last graph conv and BN
    assert count == reference - unused == 293_688
