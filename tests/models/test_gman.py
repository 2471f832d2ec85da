"""GMAN: shapes, the parameter count of the authors' METR-LA setting, the calendar of the
forecast steps, the spatial-embedding substitute and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from stgraph import SensorGraph
from stgraph.errors import GraphError
from stgraph.graph.node2vec import node2vec_embedding
from stgraph.models import GMAN, create
from stgraph.models.gman import _Attention, laplacian_eigenvectors


def _graph(n: int, seed: int = 0) -> SensorGraph:
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.1, 1.0, (n, n)) * (rng.random((n, n)) < 0.4)
    np.fill_diagonal(weights, 1.0)
    return SensorGraph(weights, [f"s{i}" for i in range(n)])


def _small(**overrides) -> GMAN:
    torch.manual_seed(0)
    kwargs = {
        "num_sensors": 5,
        "in_features": 3,
        "lookback": 6,
        "horizon": 4,
        "time_of_day_feature": 1,
        "day_of_week_feature": 2,
        "steps_per_day": 24,
        "layers": 1,
        "heads": 2,
        "head_dim": 4,
        "spatial_dim": 8,
    }
    kwargs.update(overrides)
    return GMAN(**kwargs)


def _x(batch: int, lookback: int, nodes: int, slots: list[int], days: list[int], steps_per_day: int) -> torch.Tensor:
    x = torch.randn(batch, lookback, nodes, 3, generator=torch.Generator().manual_seed(1))
    x[..., 1] = (torch.tensor(slots, dtype=torch.float32) / steps_per_day)[None, :, None]
    x[..., 2] = torch.tensor(days, dtype=torch.float32)[None, :, None]
    return x


def test_shapes_with_several_output_channels():
    model = _small(out_channels=2)
    x = _x(3, 6, 5, [0, 1, 2, 3, 4, 5], [0] * 6, 24)
    assert model(x, _graph(5)).shape == (3, 4, 5, 2)
    assert create("gman", num_sensors=5, in_features=1, layers=1).eval()(torch.randn(2, 12, 5, 1), _graph(5)).shape == (
        2,
        12,
        5,
        1,
    )


@pytest.mark.parametrize(("axis", "causal"), [(1, True), (1, False), (2, False)])
def test_attention_is_softmax_of_scaled_scores_per_head_along_its_axis(axis, causal):
    torch.manual_seed(0)
    attention = _Attention(6, 6, 6, 2, 4, axis=axis, causal=causal).double().eval()
    query_input = torch.randn(2, 5, 3, 6, dtype=torch.float64)
    key_input = torch.randn(2, 4 if axis == 1 else 5, 3, 6, dtype=torch.float64)
    value_input = torch.randn_like(key_input)
    # The authors' code written out: heads split off, the attended axis moved second to last.
    moved = (0, 2, 3, 1, 4) if axis == 1 else (0, 1, 3, 2, 4)

    def heads(h):
        return h.reshape(*h.shape[:-1], 2, 4).permute(moved)

    q, k, v = heads(attention.query(query_input)), heads(attention.key(key_input)), heads(attention.value(value_input))
    scores = q @ k.transpose(-1, -2) / 2.0
    if causal:
        scores = scores.masked_fill(~torch.ones(scores.shape[-2:], dtype=torch.bool).tril(), float("-inf"))
    attended = (scores.softmax(dim=-1) @ v).permute((0, 3, 1, 2, 4) if axis == 1 else moved).flatten(-2)
    expected = attention.out(attended)
    torch.testing.assert_close(attention(query_input, key_input, value_input), expected, rtol=0, atol=1e-10)


def test_temporal_attention_ignores_later_steps():
    torch.manual_seed(0)
    attention = _Attention(6, 6, 6, 2, 4, axis=1, causal=True).eval()
    h = torch.randn(2, 6, 3, 6)
    changed = h.clone()
    changed[:, 4:] += 3.0
    with torch.no_grad():
        out, out_changed = attention(h, h, h), attention(changed, changed, changed)
    torch.testing.assert_close(out_changed[:, :4], out[:, :4])
    assert not torch.allclose(out_changed[:, 4:], out[:, 4:])


def test_parameter_count_matches_the_authors_metr_la_setting():
    # zhengchuanpan/GMAN METR/train.py: P = Q = 12, L = 5, K = d = 8, T = 288, 207 sensors.
    # Its "trainable parameters: 900,801" counts every tf.Variable: 1x1-conv kernels and biases
    # and batch norm's beta and gamma (applied only before an activation, as in _FC here); the
    # node2vec SE is an input, as our spatial embedding (no parameter). Per part, D = 64:
    #   FC(c -> D relu, D -> D) = (c*64 + 64 + 128) + (64*64 + 64)     (128: beta, gamma)
    #   input c=1: 4,416;  SE c=64: 8,448;  TE c=288+7: 23,232
    #   attention: q, k, v 3 * (128*64 + 64 + 128) + FC(D, D) 8,448 = 33,600 (spatial, temporal)
    #   gated fusion: 64*64 (no bias) + 64*64 + 64 + 8,448 = 16,704; block = 2*33,600 + 16,704
    #   transform attention: 3 * (64*64 + 64 + 128) + 8,448 = 21,312
    #   output FC(D relu, 1): 4,288 + 65 = 4,353
    #   4,416 + 8,448 + 23,232 + 21,312 + 4,353 + 2 * 5 * 83,904 = 900,801
    model = GMAN(num_sensors=207, in_features=3, time_of_day_feature=1, day_of_week_feature=2, steps_per_day=288)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 900_801
    batch_norm = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d) for p in m.parameters())
    # One batch norm per ReLU layer: input, SE, TE; 4 + 4 + 1 per block; 4 transform; 1 output.
    assert batch_norm == 2 * 64 * (3 + 10 * 9 + 4 + 1) == 12_544  # without them: 888,257


def test_forecast_calendar_wraps_midnight_and_sunday_to_monday():
    model = _small(lookback=3, horizon=4)
    # Sunday (6) 22:00, 23:00 and then the forecast crosses midnight into Monday.
    x = _x(1, 3, 5, [21, 22, 23], [6, 6, 6], 24)
    slot, day = model.calendar(x)
    assert slot.tolist() == [[21, 22, 23, 0, 1, 2, 3]]
    assert day.tolist() == [[6, 6, 6, 0, 0, 0, 0]]
    # A forecast longer than a day wraps the day twice.
    long = _small(lookback=2, horizon=30)
    slot, day = long.calendar(_x(1, 2, 5, [22, 23], [2, 2], 24))
    assert slot[0, 2:].tolist() == [i % 24 for i in range(30)]
    assert day[0, 2:].tolist() == [3] * 24 + [4] * 6


def test_forecast_depends_on_the_calendar():
    model = _small().eval()
    graph = _graph(5)
    monday = model(_x(2, 6, 5, [0, 1, 2, 3, 4, 5], [0] * 6, 24), graph)
    friday = model(_x(2, 6, 5, [0, 1, 2, 3, 4, 5], [4] * 6, 24), graph)
    assert not torch.allclose(monday, friday)


def test_without_calendar_inputs_the_forecast_steps_still_differ():
    model = _small(in_features=1, time_of_day_feature=None, day_of_week_feature=None).eval()
    out = model(torch.randn(2, 6, 5, 1), _graph(5))
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_spatial_embedding_is_orthonormal_laplacian_eigenvectors():
    graph = _graph(12)
    vectors = laplacian_eigenvectors(graph.adjacency, 5)
    assert vectors.shape == (12, 5)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(5), atol=1e-10)
    a = np.maximum(graph.adjacency.toarray(), graph.adjacency.toarray().T)
    np.fill_diagonal(a, 0.0)
    root = a.sum(1) ** -0.5
    laplacian = np.eye(12) - root[:, None] * a * root[None, :]
    eigenvalues = np.linalg.eigvalsh(laplacian)
    np.testing.assert_allclose(laplacian @ vectors, vectors * eigenvalues[1:6], atol=1e-10)
    # Orthogonal to the trivial eigenvector D^{1/2} 1.
    np.testing.assert_allclose(np.sqrt(a.sum(1)) @ vectors, 0.0, atol=1e-10)


def test_spatial_embedding_pads_a_small_graph_and_is_cached():
    vectors = laplacian_eigenvectors(sp.csr_matrix(_graph(5).adjacency), 8)
    assert vectors.shape == (5, 8)
    np.testing.assert_allclose(vectors[:, :4].T @ vectors[:, :4], np.eye(4), atol=1e-10)
    assert not vectors[:, 4:].any()
    model = _small()
    graph = _graph(5)
    first = model.spatial_embedding(graph)
    assert model.spatial_embedding(SensorGraph(graph.adjacency, graph.sensor_ids)) is first
    assert first.shape == (5, 8)
    assert not any(value.dtype == torch.float64 for value in model.state_dict().values())  # not state


def test_node2vec_is_the_default_spatial_embedding_and_the_substitute_is_a_switch():
    graph = _graph(5)
    paper, substitute = _small().eval(), _small(spatial_embedding="eigenvectors").eval()
    np.testing.assert_allclose(
        paper.spatial_embedding(graph).numpy(), node2vec_embedding(graph.adjacency, paper.spatial_dim), atol=0.0
    )
    np.testing.assert_allclose(
        substitute.spatial_embedding(graph).numpy(), laplacian_eigenvectors(graph.adjacency, paper.spatial_dim), atol=0.0
    )
    # same weights, another embedding: another forecast
    substitute.load_state_dict(paper.state_dict())
    x = _x(1, 6, 5, [0, 1, 2, 3, 4, 5], [0] * 6, 24)
    assert not torch.allclose(paper(x, graph), substitute(x, graph))
    with pytest.raises(ValueError, match="GMAN: spatial_embedding must be one of node2vec, eigenvectors, got 'random'"):
        _small(spatial_embedding="random")


def test_missing_graph_and_bad_options_are_named():
    model = _small()
    x = _x(1, 6, 5, [0, 1, 2, 3, 4, 5], [0] * 6, 24)
    with pytest.raises(GraphError, match="GMAN needs the graph"):
        model(x, None)
    with pytest.raises(ValueError, match="time_of_day_feature 3 is not a feature position"):
        _small(time_of_day_feature=3)
    with pytest.raises(ValueError, match="both 1"):
        _small(day_of_week_feature=1)
    with pytest.raises(ValueError, match="heads must be >= 1"):
        _small(heads=0)
    with pytest.raises(ValueError, match="needs a reading"):
        _small(in_features=2, day_of_week_feature=0)
    with pytest.raises(ValueError, match="dropout in"):
        _small(dropout=1.0)
