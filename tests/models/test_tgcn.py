"""T-GCN: the GCN-GRU unrolled by hand, the paper and reference-code variants (checked against a
NumPy transcription of the authors' TensorFlow cell), parameter count vs the authors' code."""

from __future__ import annotations

import numpy as np
import pytest
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


def _tf_tgcn_numpy(adj, inputs, gate_w, gate_b, cand_w, cand_b, out_w, out_b, units):
    """lehaifeng/T-GCN, T-GCN-TensorFlow, written op by op in NumPy: utils.calculate_laplacian,
    tgcn.tgcnCell (__call__ and _gc) and main.TGCN's output layer. inputs [batch, seq_len, nodes]."""
    nodes = adj.shape[0]
    # calculate_laplacian -> normalized_adj(adj + I)
    a = adj + np.eye(nodes)
    d_inv_sqrt = np.power(a.sum(1), -0.5).flatten()
    d_inv_sqrt[np.isinf(d_inv_sqrt)] = 0.0
    d = np.diag(d_inv_sqrt)
    laplacian = a.dot(d).transpose().dot(d)

    def gc(x, state, weights, biases):
        output_size = weights.shape[1]
        x = x[:, :, None]  # tf.expand_dims(inputs, 2)
        state = state.reshape(-1, nodes, units)
        x_s = np.concatenate([x, state], axis=2)
        input_size = x_s.shape[2]
        x0 = np.transpose(x_s, (1, 2, 0)).reshape(nodes, -1)
        x1 = laplacian @ x0
        out = np.transpose(x1.reshape(nodes, input_size, -1), (2, 0, 1)).reshape(-1, input_size)
        out = out @ weights + biases
        return out.reshape(-1, nodes, output_size).reshape(-1, nodes * output_size)

    def sigmoid(v):
        return 1.0 / (1.0 + np.exp(-v))

    batch, seq_len, _ = inputs.shape
    state = np.zeros((batch, nodes * units))
    for t in range(seq_len):
        value = sigmoid(gc(inputs[:, t], state, gate_w, gate_b))
        r, u = np.split(value, 2, axis=1)  # tf.split(value=value, num_or_size_splits=2, axis=1)
        c = np.tanh(gc(inputs[:, t], r * state, cand_w, cand_b))
        state = u * state + (1 - u) * c
    last_output = state.reshape(-1, nodes, units).reshape(-1, units)
    output = last_output @ out_w + out_b
    pre_len = out_w.shape[1]
    return np.transpose(output.reshape(-1, nodes, pre_len), (0, 2, 1))  # [batch, pre_len, nodes]


def test_code_variant_is_the_authors_tensorflow_cell():
    # 5 sensors (odd, as Los-loop's 207), a directed graph with unit self-loops on some sensors.
    rng = np.random.default_rng(1)
    adj = rng.uniform(0.1, 1, (5, 5)) * (rng.random((5, 5)) < 0.5)
    np.fill_diagonal(adj, [1.0, 0.0, 1.0, 1.0, 0.0])
    torch.manual_seed(0)
    model = TGCN(num_sensors=5, in_features=1, lookback=4, horizon=3, hidden=3, gates="code", self_loops="added").double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = rng.normal(size=(2, 4, 5))
    forecast = model(torch.tensor(x)[..., None], SensorGraph(adj))
    expected = _tf_tgcn_numpy(
        adj,
        x,
        model.cell.gates.linear.weight.detach().numpy().T,
        model.cell.gate_bias.detach().numpy(),
        model.cell.candidate.linear.weight.detach().numpy().T,
        model.cell.candidate_bias.detach().numpy(),
        model.head.weight.detach().numpy().T,
        model.head.bias.detach().numpy(),
        units=3,
    )
    np.testing.assert_allclose(forecast[..., 0].detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_code_gate_split_reads_gates_of_other_sensors():
    # r[n, j] = G[n // 2, (n % 2) * U + j],  u[n, j] = G[(N + n) // 2, ((N + n) % 2) * U + j]
    torch.manual_seed(0)
    model = TGCN(num_sensors=5, in_features=1, hidden=3, gates="code")
    gates = torch.randn(2, 5, 6)
    reset, update = model.cell._split_gates(gates)
    for n in range(5):
        for j in range(3):
            assert reset[:, n, j].equal(gates[:, n // 2, (n % 2) * 3 + j])
            assert update[:, n, j].equal(gates[:, (5 + n) // 2, ((5 + n) % 2) * 3 + j])


def test_paper_variant_follows_relabelled_sensors_and_code_variant_does_not():
    rng = np.random.default_rng(2)
    adj = rng.uniform(0, 1, (5, 5)) * (rng.random((5, 5)) < 0.6)
    graph = SensorGraph(adj)
    order = [3, 0, 4, 1, 2]
    x = torch.randn(2, 6, 5, 1, dtype=torch.float64)
    for gates, equivariant in (("paper", True), ("code", False)):
        torch.manual_seed(0)
        model = TGCN(num_sensors=5, in_features=1, lookback=6, horizon=2, hidden=4, gates=gates).double()
        relabelled = model(x[:, :, order], graph.permute(order))
        same = torch.allclose(relabelled, model(x, graph)[:, :, order])
        assert same == equivariant, gates


def test_added_self_loops_weigh_two_where_the_graph_has_unit_diagonal():
    adj = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])  # Los-loop stores a unit diagonal
    graph = SensorGraph(adj)
    torch.manual_seed(0)
    unit = TGCN(num_sensors=3, in_features=1, lookback=2, horizon=1, hidden=2).double()
    added = TGCN(num_sensors=3, in_features=1, lookback=2, horizon=1, hidden=2, self_loops="added").double()
    added.load_state_dict(unit.state_dict())
    x = torch.randn(1, 2, 3, 1, dtype=torch.float64)
    with_two = torch.tensor(adj + np.eye(3))
    degree = with_two.sum(1)
    operator = with_two / torch.sqrt(torch.outer(degree, degree))
    state = unit.cell.initial_state(x[:, 0])
    for t in range(2):
        state = unit.cell(x[:, t], state, operator)
    torch.testing.assert_close(added(x, graph), unit.head(state)[:, None])
    assert not torch.allclose(unit(x, graph), added(x, graph))


def test_both_variants_have_the_authors_parameters():
    # T-GCN-TensorFlow at Los-loop, pre_len 3: gates weights [65, 128] + biases [128], candidate
    # [65, 64] + [64], weight_o [64, 3] + bias_o [3].
    shapes = {}
    for gates in ("paper", "code"):
        for self_loops in ("unit", "added"):
            model = TGCN(num_sensors=207, in_features=1, horizon=3, gates=gates, self_loops=self_loops)
            shapes[gates, self_loops] = sorted(tuple(p.shape) for p in model.parameters())
    assert all(s == sorted([(128, 65), (128,), (64, 65), (64,), (3, 64), (3,)]) for s in shapes.values())


def test_unknown_variant_names_the_choices():
    with pytest.raises(ValueError, match="gates must be 'paper' or 'code'"):
        TGCN(num_sensors=3, in_features=1, gates="tf")
    with pytest.raises(ValueError, match="self_loops must be 'unit' or 'added'"):
        TGCN(num_sensors=3, in_features=1, self_loops=2)


def test_los_loop_graph_keeps_its_unit_diagonal_so_added_self_loops_weigh_two(shared_data):
    from stgraph.pipeline import DataConfig
    from stgraph.pipeline.data import load_readings_and_graph

    _, graph, *_ = load_readings_and_graph(DataConfig(dataset="los-loop"), root=shared_data)
    adj = np.loadtxt(shared_data / "los-loop" / "los_adj.csv", delimiter=",")
    assert np.all(np.diag(adj) == 1.0)
    # The authors' calculate_laplacian(los_adj): diagonal 2 before normalisation.
    a = adj + np.eye(len(adj))
    d = np.diag(a.sum(1) ** -0.5)
    np.testing.assert_allclose(graph.operator("gcn_added_self_loops").toarray(), a.dot(d).T.dot(d), atol=1e-12)
    unit = adj.copy()
    np.fill_diagonal(unit, 1.0)
    degree = unit.sum(1)
    np.testing.assert_allclose(graph.operator("gcn").diagonal(), 1.0 / degree, atol=1e-12)


def _perturbation_hidden_from(operator: np.ndarray, sensor: int) -> np.ndarray:
    """A change of the last readings that row ``sensor`` of the operator cannot see: +1 at
    ``sensor``, compensated at one neighbour so that ``operator[sensor] @ delta == 0``."""
    neighbour = next(m for m in np.flatnonzero(operator[sensor]) if m != sensor)
    delta = np.zeros(len(operator))
    delta[sensor] = 1.0
    delta[neighbour] = -operator[sensor, sensor] / operator[sensor, neighbour]
    return delta


def test_own_weight_lets_a_sensor_see_its_own_reading():
    # Eqs. 3-6 from the zero state: sensor n's gates and candidate read the step only as
    # (A_hat x)_n, so a change of the readings with (A_hat delta)_n = 0 leaves n's forecast as
    # it was (later steps add the neighbours' reset gates in A_hat (r * h), hence one step here).
    adj = np.array([[1.0, 0.6, 0.3, 0.0], [0.6, 1.0, 0.0, 0.8], [0.3, 0.0, 1.0, 0.5], [0.0, 0.8, 0.5, 1.0]])
    graph = SensorGraph(adj)
    delta = _perturbation_hidden_from(graph.operator("gcn").toarray(), sensor=0)
    x = torch.randn(3, 1, 4, 1, dtype=torch.float64)
    moved = x.clone()
    moved[:, 0, :, 0] += torch.tensor(delta)
    changes = {}
    for own_weight in (False, True):
        torch.manual_seed(0)
        model = TGCN(num_sensors=4, in_features=1, lookback=1, horizon=2, hidden=5, own_weight=own_weight).double()
        forecast, forecast_moved = model(x, graph), model(moved, graph)
        changes[own_weight] = (forecast_moved - forecast)[:, :, 0].abs().max().item()
        assert not torch.allclose(forecast_moved[:, :, 1:], forecast[:, :, 1:])  # the others see it
    assert changes[False] < 1e-12
    assert changes[True] > 1e-3


def test_own_weight_adds_the_sensor_own_term_to_both_convolutions():
    rng = np.random.default_rng(3)
    graph = SensorGraph(rng.uniform(0, 1, (4, 4)) * (rng.random((4, 4)) < 0.6))
    torch.manual_seed(0)
    model = TGCN(num_sensors=4, in_features=2, lookback=3, horizon=2, hidden=3, own_weight=True).double()
    x = torch.randn(2, 3, 4, 2, dtype=torch.float64)
    a_hat = torch.tensor(graph.operator("gcn").toarray())
    cell = model.cell

    def conv(layer, z):
        return a_hat @ z @ layer.linear.weight.T + z @ layer.own.weight.T

    state = torch.zeros(2, 4, 3, dtype=torch.float64)
    for t in range(3):
        gates = torch.sigmoid(conv(cell.gates, torch.cat([x[:, t], state], -1)) + cell.gate_bias)
        reset, update = gates[..., :3], gates[..., 3:]
        candidate = torch.tanh(conv(cell.candidate, torch.cat([x[:, t], reset * state], -1)) + cell.candidate_bias)
        state = update * state + (1 - update) * candidate
    expected = model.head(state).reshape(2, 4, 2, 1).transpose(1, 2)
    torch.testing.assert_close(model(x, graph), expected)
    # Glorot-uniform like the graph weights (GraphGRUCell.reset_parameters), not Linear's default.
    bound = (6 / (5 + 6)) ** 0.5
    assert cell.gates.own.weight.abs().max() <= bound and cell.gates.own.weight.abs().max() > (1 / 5) ** 0.5
    # Twice the cell's weights; the paper's model keeps its 12,867 parameters (test above).
    count = sum(p.numel() for p in TGCN(num_sensors=207, in_features=1, horizon=3, own_weight=True).parameters())
    assert count == 12_867 + 65 * 128 + 65 * 64
    with pytest.raises(ValueError, match="own_weight must be True or False"):
        TGCN(num_sensors=3, in_features=1, own_weight="yes")
