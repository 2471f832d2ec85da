"""GraphGRUCell: one step against NumPy on a 3-sensor graph, initialisation, plug-in convolutions,
checkpointing."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch

from stgraph.nn.diffusion_conv import DiffusionConv
from stgraph.nn.graph_conv import GCNConv
from stgraph.nn.graph_gru import GraphGRUCell
from stgraph.ops import Operator

# Path graph 0 - 1 - 2 with self-loops, GCN-normalised by hand: degrees 2, 3, 2.
A_HAT = np.array(
    [
        [1 / 2, 1 / np.sqrt(6), 0.0],
        [1 / np.sqrt(6), 1 / 3, 1 / np.sqrt(6)],
        [0.0, 1 / np.sqrt(6), 1 / 2],
    ]
)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def _gcn(in_features: int, out_features: int) -> GCNConv:
    return GCNConv(in_features, out_features, bias=False)


def test_one_step_matches_numpy_gru_equations():
    torch.manual_seed(0)
    cell = GraphGRUCell(2, 3, _gcn).double()
    with torch.no_grad():
        cell.gate_bias.uniform_(-1, 1)
        cell.candidate_bias.uniform_(-1, 1)
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    h = torch.randn(4, 3, 3, dtype=torch.float64)
    operator = torch.tensor(A_HAT)

    w_gates = cell.gates.linear.weight.detach().numpy()  # [6, 5]
    w_cand = cell.candidate.linear.weight.detach().numpy()  # [3, 5]
    xn, hn = x.numpy(), h.numpy()
    gates = _sigmoid(A_HAT @ np.concatenate([xn, hn], -1) @ w_gates.T + cell.gate_bias.detach().numpy())
    r, u = gates[..., :3], gates[..., 3:]
    c = np.tanh(A_HAT @ np.concatenate([xn, r * hn], -1) @ w_cand.T + cell.candidate_bias.detach().numpy())
    expected = u * hn + (1 - u) * c

    out = cell(x, h, operator)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_initialisation_gate_bias_one_candidate_bias_zero():
    # With zero weights the gates are sigmoid(1) and the candidate tanh(0) = 0, so one step
    # scales the state by sigmoid(1): the cell starts out keeping, not resetting, its state.
    cell = GraphGRUCell(2, 4, _gcn)
    assert torch.equal(cell.gate_bias, torch.ones(8)) and torch.equal(cell.candidate_bias, torch.zeros(4))
    with torch.no_grad():
        for p in (cell.gates.linear.weight, cell.candidate.linear.weight):
            p.zero_()
    h = torch.randn(2, 3, 4)
    out = cell(torch.randn(2, 3, 2), h, torch.tensor(A_HAT, dtype=torch.float32))
    torch.testing.assert_close(out, torch.sigmoid(torch.tensor(1.0)) * h)


def test_weights_are_glorot_uniform():
    cell = GraphGRUCell(10, 64, _gcn)
    weight = cell.gates.linear.weight.detach()
    bound = np.sqrt(6.0 / (weight.shape[0] + weight.shape[1]))
    assert float(weight.abs().max()) <= bound
    assert float(weight.abs().max()) > 0.9 * bound  # uniform over the full range, not a smaller default


def test_diffusion_conv_plugs_in_with_two_transitions():
    conv = partial(DiffusionConv, order=2, num_transitions=2, bias=False)
    cell = GraphGRUCell(2, 5, conv)
    assert cell.gates.linear.weight.shape == (10, 5 * 7)  # 2 hidden outputs, 5 terms of [x, h]
    transitions = [torch.tensor(A_HAT, dtype=torch.float32)] * 2
    x = torch.randn(3, 3, 2)
    state = cell.initial_state(x)
    assert state.shape == (3, 3, 5) and not state.any()
    out = cell(x, state, transitions)
    assert out.shape == (3, 3, 5) and torch.isfinite(out).all()


def test_gradcheck_through_cell():
    torch.manual_seed(1)
    cell = GraphGRUCell(1, 2, _gcn).double()
    x = torch.randn(1, 3, 1, dtype=torch.float64, requires_grad=True)
    h = torch.randn(1, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: cell(a, b, torch.tensor(A_HAT)), (x, h))


def test_sensors_only_mix_through_the_graph():
    # With an identity operator the cell is a per-sensor GRU: changing sensor 0's input leaves
    # the other sensors' new state unchanged.
    torch.manual_seed(2)
    cell = GraphGRUCell(2, 3, _gcn)
    x = torch.randn(1, 3, 2)
    h = torch.randn(1, 3, 3)
    eye = torch.eye(3)
    base = cell(x, h, eye)
    x[0, 0] += 1.0
    moved = cell(x, h, eye)
    assert not torch.allclose(moved[0, 0], base[0, 0])
    assert torch.equal(moved[0, 1:], base[0, 1:])


def _diffusion_cell(**kwargs) -> GraphGRUCell:
    torch.manual_seed(5)
    cell = GraphGRUCell(2, 3, partial(DiffusionConv, order=2, num_transitions=2, bias=False), **kwargs)
    with torch.no_grad():
        cell.gate_bias.uniform_(-1, 1)
        cell.candidate_bias.uniform_(-1, 1)
    return cell.double()


def _random_transitions():
    torch.manual_seed(6)
    return [Operator.from_dense(torch.softmax(torch.randn(4, 4, dtype=torch.float64), dim=1)) for _ in range(2)]


def test_checkpointed_step_gives_the_same_values_and_gradients():
    plain, checkpointed = _diffusion_cell(), _diffusion_cell(checkpoint=True)
    checkpointed.load_state_dict(plain.state_dict())
    transitions = _random_transitions()
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    h = torch.randn(2, 4, 3, dtype=torch.float64)
    grads, kept = [], []
    for cell in (plain, checkpointed):
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            out = cell(x, h, transitions)
        kept.append(sum(t.numel() for t in saved))
        grads.append(torch.autograd.grad(out.square().sum(), list(cell.parameters())))
        with torch.no_grad():  # no recording, so no checkpoint either
            torch.testing.assert_close(cell(x, h, transitions), out.detach(), rtol=0, atol=0)
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # Checkpointed, the step keeps its inputs and none of its intermediates for the backward pass.
    assert kept[1] <= x.numel() + h.numel() < kept[0]
