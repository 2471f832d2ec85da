"""MTGNN: parameter count against the authors' code, receptive field and padding, the
dilated inception truncation, the predefined graph, deterministic evaluation, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stgraph import SensorGraph
from stgraph.models import MTGNN
from stgraph.models.mtgnn import DilatedInception

SENSORS = 6
SMALL = {"neighbors": 3, "embedding_dim": 4, "conv_channels": 8, "residual_channels": 8, "skip_channels": 8, "end_channels": 8}


@pytest.fixture(scope="module")
def graph() -> SensorGraph:
    rng = np.random.default_rng(2)
    weights = rng.uniform(0.1, 1.0, (SENSORS, SENSORS)) * (rng.random((SENSORS, SENSORS)) < 0.5)
    np.fill_diagonal(weights, 1.0)  # self-loops, as DCRNN's adjacency has them
    return SensorGraph(weights)


def _model(lookback: int = 12, **kwargs) -> MTGNN:
    torch.manual_seed(0)
    return MTGNN(num_sensors=SENSORS, in_features=2, lookback=lookback, horizon=3, **{**SMALL, **kwargs}).eval()


def _reference_parameter_count(sensors: int = 207, in_features: int = 2, horizon: int = 12) -> int:
    """Parameters nnzhan/MTGNN's gtnet builds with train_multi_step.py's METR-LA settings.

    Receptive field 1 + 3 * 6 = 19 > 12 input steps, so the window is 19 and the layers leave
    13, 7, 1 steps. Per module (207 sensors, in_dim 2, out_dim 12):
      start_conv 2*32+32 = 96; gc: 2 embeddings 207*40 + 2 linears 40*40+40 = 19,840;
      filter/gate convs: 2 * 3 * (32*8*(2+3+6+7) + 4*8) = 27,840;
      residual_convs: 3 * (32*32+32) = 3,168 (unused with gcn_true);
      skip_convs: 32*64*(13+7+1) + 3*64 = 43,200; gconv1/gconv2: 6 * (3*32*32+32) = 18,624;
      norm: 2 * 32*207*(13+7+1) = 278,208; end_conv_1 64*128+128 = 8,320;
      end_conv_2 128*12+12 = 1,548; skip0 2*64*19+64 = 2,496; skipE 32*64+64 = 2,112.
    """
    residual = conv = 32
    skip, end, lengths = 64, 128, (13, 7, 1)
    start = in_features * residual + residual
    learner = 2 * sensors * 40 + 2 * (40 * 40 + 40)
    inception = 2 * len(lengths) * (residual * (conv // 4) * (2 + 3 + 6 + 7) + conv)
    residual_convs = len(lengths) * (conv * residual + residual)
    skips = conv * skip * sum(lengths) + len(lengths) * skip
    mixprop = 2 * len(lengths) * (3 * conv * residual + residual)
    norms = 2 * residual * sensors * sum(lengths)
    ends = skip * end + end + end * horizon + horizon
    skip0, skip_end = in_features * skip * 19 + skip, residual * skip + skip
    return start + learner + inception + residual_convs + skips + mixprop + norms + ends + skip0 + skip_end


def test_parameter_count_at_the_metr_la_setting():
    # The authors' code builds 405,452; we build 405,452 - 3,168 = 402,284: its three
    # residual_convs (1x1, 32 -> 32) are only used when gcn_true is False, and with the graph
    # convolution on they never get a gradient, so they are not built here.
    assert _reference_parameter_count() == 405_452
    model = MTGNN(num_sensors=207, in_features=2)
    assert model.receptive_field == 19
    assert sum(p.numel() for p in model.parameters()) == 405_452 - 3_168 == 402_284
    # The given graph instead of a learned one: the graph learner's 19,840 are not built.
    predefined = MTGNN(num_sensors=207, in_features=2, learn_graph=False)
    assert sum(p.numel() for p in predefined.parameters()) == 402_284 - 19_840


def test_output_shapes_for_short_exact_and_long_inputs(graph):
    for lookback in (12, 19, 25):
        model = _model(lookback)
        out = model(torch.randn(2, lookback, SENSORS, 2), graph)
        assert out.shape == (2, 3, SENSORS, 1)
        assert model.layers[-1].norm.normalized_shape == (max(lookback, 19) - 18, SENSORS, 8)
    assert _model(out_channels=2)(torch.randn(2, 12, SENSORS, 2)).shape == (2, 3, SENSORS, 2)
    assert _model(dilation_exponential=2).receptive_field == 1 + 6 * (1 + 2 + 4)


def test_short_input_is_zero_padded_at_the_start(graph):
    short, exact = _model(12), _model(19)
    exact.load_state_dict(short.state_dict())
    x = torch.randn(2, 12, SENSORS, 2)
    torch.testing.assert_close(short(x, graph), exact(F.pad(x, (0, 0, 0, 0, 7, 0)), graph))


def test_dilated_inception_cuts_every_kernel_to_the_widest_ones_length():
    torch.manual_seed(0)
    layer = DilatedInception(3, 8, dilation=2)
    x = torch.randn(2, 20, 4, 3)
    out = layer(x)
    assert out.shape == (2, 20 - 6 * 2, 4, 8)
    for i, conv in enumerate(layer.convs):
        assert conv.temporal_kernel == (2, 3, 6, 7)[i]
        torch.testing.assert_close(out[..., 2 * i : 2 * i + 2], conv(x)[:, -8:])


def test_learned_graph_ignores_the_given_one_and_evaluation_is_deterministic(graph):
    model = _model()
    x = torch.randn(2, 12, SENSORS, 2)
    out = model(x, graph)
    torch.testing.assert_close(model(x), out)
    torch.testing.assert_close(model(x, SensorGraph(np.eye(SENSORS))), out)


def test_predefined_graph_is_row_normalised_in_both_directions(graph):
    model = _model(learn_graph=False)
    assert model.learner is None
    x = torch.randn(2, 12, SENSORS, 2, dtype=torch.float64)
    model = model.double()
    forward, backward = model._propagation_operators(graph, x)
    adjacency = graph.adjacency.toarray()
    # The code: (A_file - I) + I over its row sums, and the same for the transpose.
    np.testing.assert_allclose(forward.to_dense().numpy(), adjacency / adjacency.sum(1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(backward.to_dense().numpy(), adjacency.T / adjacency.T.sum(1, keepdims=True), atol=1e-12)
    out = model(x, graph)
    assert not torch.allclose(model(x, SensorGraph(np.eye(SENSORS))), out)
    with pytest.raises(ValueError, match="learn_graph=False propagates over the given graph; got graph=None"):
        model(x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conv_channels": 6}, "conv_channels must be divisible by 4"),
        ({"neighbors": 0}, r"neighbors must be >= 1; got 0"),
        ({"layers": 0}, "layers and dilation_exponential must be >= 1"),
        ({"dilation_exponential": 0}, "layers and dilation_exponential must be >= 1"),
        ({"retain": 2.0}, r"retain must be in \[0, 1\]"),
        ({"order": 0}, "order must be >= 1"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)


def test_a_network_smaller_than_the_neighbour_count_keeps_every_sensor():
    model = MTGNN(num_sensors=5, in_features=2)  # the paper's 20 neighbours on 5 sensors
    assert model.learner is not None and model.learner.neighbors == 5
    assert model(torch.randn(2, 12, 5, 2), None).shape == (2, 12, 5, 1)
