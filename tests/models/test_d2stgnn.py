"""D2STGNN: the localized convolution equals the authors' localized-graph product; the dynamic
graphs keep to the road graph's edges; calendar and graph reach the forecast; the parameter
count of the authors' METR-LA configuration; a missing calendar covariate switches its embedding off; configuration errors; relabelling
sensors (with their embeddings) permutes the forecast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stgraph import SensorGraph
from stgraph.models import D2STGNN, create
from stgraph.models.d2stgnn import _LocalizedConv

SENSORS = 5
SMALL = {
    "hidden": 8,
    "embedding_dim": 3,
    "calendar_dim": 2,
    "layers": 2,
    "heads": 2,
    "gate_hidden": 4,
    "forecast_dim": 8,
    "output_hidden": 8,
    "steps_per_day": 24,
}


def _graph(sensors: int = SENSORS) -> SensorGraph:
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.1, 1.0, (sensors, sensors)) * (rng.random((sensors, sensors)) < 0.4)
    np.fill_diagonal(weights, 1.0)
    return SensorGraph(weights, [f"s{i}" for i in range(sensors)])


def _window(batch: int = 2, sensors: int = SENSORS, lookback: int = 12) -> torch.Tensor:
    """``[batch, lookback, sensors, 3]``: a reading, the time of day (hourly steps from 06:00), the day (Friday)."""
    x = torch.zeros(batch, lookback, sensors, 3)
    x[..., 0] = torch.randn(batch, lookback, sensors, generator=torch.Generator().manual_seed(1))
    x[..., 1] = ((6 + torch.arange(lookback)) / 24.0)[None, :, None]
    x[..., 2] = 4.0
    return x


def _small(**overrides) -> D2STGNN:
    torch.manual_seed(0)
    kwargs = {"num_sensors": SENSORS, "in_features": 3, "horizon": 6, "time_of_day_feature": 1, "day_of_week_feature": 2}
    kwargs.update(SMALL)
    kwargs.update(overrides)
    model = create("d2stgnn", **kwargs)
    assert isinstance(model, D2STGNN)
    return model


def test_parameter_count_of_the_authors_metr_la_configuration():
    # zezhishao/D2STGNN, configs/METR-LA.yaml (num_hidden 32, node_hidden 10, time_emb_dim 10,
    # k_s 2, k_t 3, gap 3; 5 layers fixed in models/model.py; 1 reading + time of day + day of
    # week): the authors' model has 391,962 parameters, of which 1,792 never get a gradient and
    # are not built here: DistanceFunction.time_slot_embedding (352), the BatchNorm2d of each
    # layer's STLocalizedConv (5 x 64) and the last layer's inherent backcast + LayerNorm
    # (1,056 + 64). So: 391,962 - 1,792 = 390,170.
    model = create("d2stgnn", num_sensors=207, in_features=3, time_of_day_feature=1, day_of_week_feature=2)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 390_170


def test_localized_conv_equals_the_product_with_the_localized_graph():
    torch.manual_seed(0)
    batch, time, nodes, hidden, kernel = 2, 5, 4, 3, 3
    conv = _LocalizedConv(hidden, kernel, graphs=3, dropout=0.0).double()
    x = torch.randn(batch, time, nodes, hidden, dtype=torch.float64)
    dynamic = torch.rand(batch, 2, nodes, nodes, dtype=torch.float64)
    static = torch.rand(1, nodes, nodes, dtype=torch.float64)

    # The authors' STLocalizedConv: graphs [N, k*N] (the graph repeated for every window step)
    # times the window's k*N rows.
    windows = x.unfold(1, kernel, 1).permute(0, 1, 2, 4, 3)
    steps = windows.shape[1]
    mixed = torch.relu(conv.window(windows.reshape(batch, steps, nodes, kernel * hidden))).view(
        batch, steps, nodes, kernel, hidden
    )
    rows = mixed.transpose(-3, -2).reshape(batch, steps, kernel * nodes, hidden)
    terms = [mixed.mean(dim=-2)]
    for g in range(2):
        localized = dynamic[:, g].unsqueeze(-2).expand(-1, -1, kernel, -1).reshape(batch, nodes, kernel * nodes)
        terms.append(localized.unsqueeze(1) @ rows)
    localized = static[0].unsqueeze(-2).expand(-1, kernel, -1).reshape(nodes, kernel * nodes)
    terms.append(localized @ rows)
    expected = conv.mix(torch.cat(terms, dim=-1))

    torch.testing.assert_close(conv(x, dynamic, static), expected)


def test_dynamic_graphs_keep_to_the_road_graph_and_drop_the_diagonal():
    model = _small().eval()
    graph = _graph()
    x = _window()
    seen: list[torch.Tensor] = []
    model.dynamic_graph.register_forward_hook(lambda module, args, out: seen.append(out))
    model(x, graph)
    graphs = seen[0]  # [batch, 2 masks * 2 hops, nodes, nodes]
    assert graphs.shape == (2, 4, SENSORS, SENSORS)
    assert torch.all(torch.diagonal(graphs, dim1=-2, dim2=-1) == 0)
    forward = graph.torch_operator("forward").to_dense()
    backward = graph.torch_operator("backward").to_dense()
    for hop_one, mask in ((graphs[:, 0], forward), (graphs[:, 2], backward)):
        off_graph = hop_one[:, (mask == 0) & ~torch.eye(SENSORS, dtype=torch.bool)]
        assert off_graph.max() < 1e-5  # only the 1e-7 floor of the authors' Mask
        assert hop_one[:, (mask > 0) & ~torch.eye(SENSORS, dtype=torch.bool)].min() > 1e-4


def test_road_graph_time_of_day_and_day_of_week_reach_the_forecast():
    model = _small().eval()
    graph, x = _graph(), _window()
    out = model(x, graph)
    assert out.shape == (2, 6, SENSORS, 1)
    other_graph = SensorGraph(np.ones((SENSORS, SENSORS)), [f"s{i}" for i in range(SENSORS)])
    assert not torch.allclose(model(x, other_graph), out)
    later = x.clone()
    later[..., 1] += 3 / 24.0
    assert not torch.allclose(model(later, graph), out)
    saturday = x.clone()
    saturday[..., 2] = 5.0
    assert not torch.allclose(model(saturday, graph), out)


def test_each_forecast_step_emits_gap_horizon_steps_and_a_partial_last_one_is_cut():
    model = _small(horizon=7, gap=3, out_channels=2).eval()
    assert model.forecast_steps == 3
    assert model.output_outer.out_features == 3 * 2
    assert model(_window(), _graph()).shape == (2, 7, SENSORS, 2)


def test_every_parameter_gets_a_gradient_at_the_authors_layer_count():
    model = _small(layers=5).train()
    model(_window(), _graph()).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"parameters without gradient: {missing}"
    assert model.layers[-1].inherent.decomposition is None
    assert all(layer.inherent.decomposition is not None for layer in model.layers[:-1])


def test_a_missing_calendar_covariate_switches_its_embedding_off():
    model = _small(in_features=2, day_of_week_feature=None)
    assert model.day_of_week_embedding is None and model.time_of_day_embedding is not None
    assert model.layers[0].gate[0].in_features == 2 * 3 + 2  # two sensor embeddings, time of day
    x = _window()[..., :2]
    assert model(x, _graph()).shape == (2, 6, SENSORS, 1)
    bare = _small(in_features=1, time_of_day_feature=None, day_of_week_feature=None)
    assert bare.time_of_day_embedding is None and bare.dynamic_graph.calendar_width == 0
    assert bare(x[..., :1], _graph()).shape == (2, 6, SENSORS, 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"day_of_week_feature": 1}, r"D2STGNN: time_of_day_feature and day_of_week_feature are both 1"),
        ({"day_of_week_feature": 3}, r"D2STGNN: day_of_week_feature 3 is not a feature position \(0..2\)"),
        ({"lookback": 4}, r"each of the 2 layers shortens the window by temporal_kernel - 1 = 2 steps; lookback 4"),
        ({"in_features": 2, "time_of_day_feature": 0, "day_of_week_feature": 1}, "no reading among the 2 input features"),
    ],
)
def test_bad_configuration_is_refused_with_one_line(overrides, message):
    with pytest.raises(ValueError, match=message) as error:
        _small(**overrides)
    assert "\n" not in str(error.value)


def test_relabelling_sensors_with_their_embeddings_permutes_the_forecast():
    model = _small().eval()
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.1, 1.0, (SENSORS, SENSORS)) * (rng.random((SENSORS, SENSORS)) < 0.4)
    np.fill_diagonal(weights, 1.0)
    x = _window()
    out = model(x, SensorGraph(weights))
    order = torch.tensor([3, 0, 4, 1, 2])
    relabelled = _small().eval()
    relabelled.load_state_dict(model.state_dict())
    with torch.no_grad():  # the sensor embeddings are the only per-sensor parameters
        relabelled.adaptive.source_embedding.copy_(model.adaptive.source_embedding[order])
        relabelled.adaptive.target_embedding.copy_(model.adaptive.target_embedding[order])
    permuted = relabelled(x[:, :, order], SensorGraph(weights[np.ix_(order.numpy(), order.numpy())]))
    torch.testing.assert_close(permuted, out[:, :, order], rtol=1e-5, atol=1e-6)
