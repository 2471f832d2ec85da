"""DiffusionConv: both variants against terms worked out by hand on a 3-sensor graph."""

from __future__ import annotations

import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.nn import DiffusionConv, diffusion_terms
from stgraph.nn.diffusion_conv import diffusion_plan
from stgraph.ops import Operator

# Sensors 0 - 1 - 2 on a line. P1 averages a sensor's neighbours; P2 shifts readings round the
# ring 2 -> 0, 0 -> 1, 1 -> 2. Both are applied as P @ x.
P1 = torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], dtype=torch.float64)
P2 = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
X = torch.tensor([[1.0], [2.0], [4.0]], dtype=torch.float64)

# variant="power", K = 2 (DCRNN paper, Graph WaveNet code):
#   P1 x   = [2, (1 + 4)/2, 2]          = [2, 2.5, 2]
#   P1^2 x = P1 [2, 2.5, 2] = [2.5, (2 + 2)/2, 2.5] = [2.5, 2, 2.5]
#   P2 x   = [x2, x0, x1]               = [4, 1, 2]
#   P2^2 x = P2 [4, 1, 2]               = [2, 4, 1]
POWER = [[1, 2, 4], [2, 2.5, 2], [2.5, 2, 2.5], [4, 1, 2], [2, 4, 1]]

# variant="reference", K = 2 (DCRNN code: x1 = P x0, x2 = 2 P x1 - x0, then x1, x0 = x2, x1):
#   transition P1, starting from x0 = x:
#     x1 = P1 x                   = [2, 2.5, 2]
#     x2 = 2 P1 x1 - x0 = 2 [2.5, 2, 2.5] - [1, 2, 4] = [4, 2, 1];  now x0 = [2, 2.5, 2]
#   transition P2 starts from the carried x0 = [2, 2.5, 2], NOT from x:
#     x1 = P2 x0                  = [2, 2, 2.5]
#     x2 = 2 P2 x1 - x0 = 2 [2.5, 2, 2] - [2, 2.5, 2] = [3, 1.5, 2]
REFERENCE = [[1, 2, 4], [2, 2.5, 2], [4, 2, 1], [2, 2, 2.5], [3, 1.5, 2]]

# variant="reference", K = 3: the intermediate term x2 feeds x3, and (x2, x3) carry over:
#   transition P1: x1 = [2, 2.5, 2], x2 = [4, 2, 1] (as above),
#     x3 = 2 P1 x2 - x1 = 2 [2, 2.5, 2] - [2, 2.5, 2] = [2, 2.5, 2];  now x0 = x2 = [4, 2, 1]
#   transition P2: x1 = P2 [4, 2, 1] = [1, 4, 2]
#     x2 = 2 P2 x1 - x0 = 2 [2, 1, 4] - [4, 2, 1] = [0, 0, 7]
#     x3 = 2 P2 x2 - x1 = 2 [7, 0, 0] - [1, 4, 2] = [13, -4, -2]
REFERENCE_ORDER_3 = [[1, 2, 4], [2, 2.5, 2], [4, 2, 1], [2, 2.5, 2], [1, 4, 2], [0, 0, 7], [13, -4, -2]]


def _transitions(kind: str):
    if kind == "operator":
        return [Operator.from_dense(P1), Operator.from_dense(P2)]
    return [P1, P2]  # dense tensors, e.g. a learned adjacency


@pytest.mark.parametrize("kind", ["operator", "dense"])
@pytest.mark.parametrize("variant, expected", [("power", POWER), ("reference", REFERENCE)])
def test_terms_match_hand_computation(kind, variant, expected):
    terms = diffusion_terms(X, _transitions(kind), order=2, variant=variant)
    assert [t.squeeze(-1).tolist() for t in terms] == expected


@pytest.mark.parametrize("kind", ["operator", "dense"])
def test_reference_order_three_matches_hand_computation(kind):
    terms = diffusion_terms(X, _transitions(kind), order=3, variant="reference")
    assert [t.squeeze(-1).tolist() for t in terms] == REFERENCE_ORDER_3


def test_plan_folds_the_last_reference_term_of_each_transition_into_the_weight():
    # K = 2: products x, P_f x, P_f^2 x, P_b P_f x, P_b^2 P_f x; no doubling, no subtraction pass.
    plan = diffusion_plan(2, 2, "reference")
    assert [(s.transition, s.source, s.doubled, s.minus) for s in plan.steps] == [
        (0, 0, False, None),
        (0, 1, False, None),
        (1, 1, False, None),
        (1, 3, False, None),
    ]
    assert plan.terms == (((0, 1.0),), ((1, 1.0),), ((2, 2.0), (0, -1.0)), ((3, 1.0),), ((4, 2.0), (1, -1.0)))
    # K = 3: x2 = 2 P x1 - x0 feeds x3, so it is formed (over the doubled operator).
    steps = diffusion_plan(3, 1, "reference").steps
    assert [(s.source, s.doubled, s.minus) for s in steps] == [(0, False, None), (1, True, 0), (2, False, None)]
    # Folding [out, terms, features] weights: term 2 = 2 u2 - u0, term 4 = 2 u4 - u1.
    weight = torch.arange(1.0, 6.0).view(1, 5, 1)
    assert plan.fold(weight).flatten().tolist() == [1 - 3, 2 - 5, 2 * 3, 4, 2 * 5]
    assert diffusion_plan(2, 3, "power").is_identity


def test_order_one_has_nothing_to_carry_so_variants_agree():
    power = diffusion_terms(X, [P1, P2], order=1, variant="power")
    reference = diffusion_terms(X, [P1, P2], order=1, variant="reference")
    assert [t.squeeze(-1).tolist() for t in reference] == [[1, 2, 4], [2, 2.5, 2], [4, 1, 2]]
    assert all(torch.equal(a, b) for a, b in zip(power, reference))


@pytest.mark.parametrize("variant, expected", [("power", POWER), ("reference", REFERENCE)])
def test_layer_is_one_linear_map_of_the_concatenated_terms(variant, expected):
    layer = DiffusionConv(1, 1, order=2, num_transitions=2, variant=variant).double()
    weights = torch.tensor([[1.0, 10.0, 100.0, 1000.0, 10000.0]], dtype=torch.float64)
    with torch.no_grad():
        layer.linear.weight.copy_(weights)
        layer.linear.bias.fill_(0.5)
    out = layer(X.expand(2, 3, 3, 1), _transitions("operator"))  # [batch, time, nodes, features]
    expected_out = torch.tensor(expected, dtype=torch.float64).T @ weights.T + 0.5
    assert out.shape == (2, 3, 3, 1)
    torch.testing.assert_close(out[1, 2], expected_out)


def _convolve_terms(layer: DiffusionConv, x, transitions):
    """The layer's definition: concatenated diffusion_terms times the stacked weight, plus bias."""
    terms = diffusion_terms(x, transitions, layer.order, layer.variant, layer.include_self)
    return torch.nn.functional.linear(torch.cat(terms, dim=-1), layer.linear.weight, layer.linear.bias)


@pytest.mark.parametrize("variant", ["power", "reference"])
@pytest.mark.parametrize("order, include_self", [(0, True), (1, True), (2, True), (2, False), (3, True), (3, False)])
@pytest.mark.parametrize("kind", ["operator", "dense"])
def test_layer_equals_its_concatenated_terms_times_the_weight(variant, order, include_self, kind):
    # The folded weight and the skipped passes change nothing: values and every gradient
    # (input, weight, bias, a dense learned transition) match the definition.
    torch.manual_seed(3)
    a, b = (torch.softmax(torch.randn(6, 6, dtype=torch.float64), dim=1) for _ in range(2))
    if kind == "dense":
        a.requires_grad_(True)
    transitions = [a, b] if kind == "dense" else [Operator.from_dense(a), Operator.from_dense(b)]
    layer = DiffusionConv(3, 4, order=order, num_transitions=2, variant=variant, include_self=include_self).double()
    x = torch.randn(2, 5, 6, 3, dtype=torch.float64, requires_grad=True)
    inputs = [x, *layer.parameters()] + ([a] if kind == "dense" else [])
    weights = torch.randn(2, 5, 6, 4, dtype=torch.float64)
    out = layer(x, transitions)
    expected = _convolve_terms(layer, x, transitions)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    grads = [torch.autograd.grad((y * weights).sum(), inputs, allow_unused=True, materialize_grads=True) for y in (out, expected)]
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_split_input_convolves_like_the_whole():
    # conv([a, b]) = terms(a) W_a + terms(b) W_b + bias: what GraphGRUCell relies on.
    torch.manual_seed(4)
    layer = DiffusionConv(5, 3, order=2, num_transitions=2).double()
    transitions = [Operator.from_dense(P1), Operator.from_dense(P2)]
    a, b = torch.randn(4, 3, 2, dtype=torch.float64), torch.randn(4, 3, 3, dtype=torch.float64)
    split = (
        layer.terms(a, transitions) @ layer.term_weight(slice(0, 2)).T
        + layer.terms(b, transitions) @ layer.term_weight(slice(2, None)).T
        + layer.linear.bias
    )
    torch.testing.assert_close(split, layer(torch.cat([a, b], dim=-1), transitions), rtol=1e-12, atol=1e-12)


def test_without_self_term_the_input_is_left_out():
    layer = DiffusionConv(1, 1, order=2, num_transitions=2, include_self=False, bias=False).double()
    assert layer.linear.weight.shape == (1, 4)
    with torch.no_grad():
        layer.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(layer(X, [P1, P2]).squeeze(-1), torch.tensor(REFERENCE[1], dtype=torch.float64))


@pytest.mark.parametrize("variant", ["power", "reference"])
def test_relabelling_sensors_permutes_the_output(variant):
    torch.manual_seed(0)
    a, b = (torch.softmax(torch.randn(6, 6, dtype=torch.float64), dim=1) for _ in range(2))
    layer = DiffusionConv(3, 4, order=3, num_transitions=2, variant=variant).double()
    x = torch.randn(2, 5, 6, 3, dtype=torch.float64)
    order = torch.tensor([4, 2, 0, 5, 1, 3])
    out = layer(x, [Operator.from_dense(a), Operator.from_dense(b)])
    moved = [Operator.from_dense(m[order][:, order]) for m in (a, b)]
    torch.testing.assert_close(layer(x[:, :, order], moved), out[:, :, order])


def test_wrong_number_of_transitions_or_features_is_reported():
    layer = DiffusionConv(3, 4, num_transitions=2)
    with pytest.raises(ShapeError, match="built for 2 transitions, got 1"):
        layer(torch.randn(5, 3), [P1.float()])
    with pytest.raises(ShapeError, match=r"\[\.\.\., nodes, 3\], got \[5, 2\]"):
        layer(torch.randn(5, 2), [P1.float(), P2.float()])
    with pytest.raises(ValueError, match="unknown diffusion variant 'chebyshev'"):
        DiffusionConv(3, 4, variant="chebyshev")
