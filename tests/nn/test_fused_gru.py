"""FusedGraphGRU: shared diffusion computes what stepping each GraphGRUCell on its own computes,
values and gradients; it refuses cells it cannot share terms between."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
import torch

from stgraph.nn.diffusion_conv import DiffusionConv
from stgraph.nn.fused_gru import FusedGraphGRU
from stgraph.nn.graph_conv import GCNConv
from stgraph.nn.graph_gru import GraphGRUCell
from stgraph.ops import Operator

SENSORS, FEATURES, HIDDEN = 4, 2, 3


def _stacks(layers: int, variant: str = "reference") -> tuple[list[GraphGRUCell], list[GraphGRUCell]]:
    """Encoder and decoder cells (decoder input: 1 channel) with random biases, float64."""
    torch.manual_seed(5)
    conv = partial(DiffusionConv, order=2, num_transitions=2, variant=variant, bias=False)
    encoder = [GraphGRUCell(FEATURES if i == 0 else HIDDEN, HIDDEN, conv).double() for i in range(layers)]
    decoder = [GraphGRUCell(1 if i == 0 else HIDDEN, HIDDEN, conv).double() for i in range(layers)]
    with torch.no_grad():
        for cell in (*encoder, *decoder):
            cell.gate_bias.uniform_(-1, 1)
            cell.candidate_bias.uniform_(-1, 1)
    return encoder, decoder


def _transitions() -> list[Operator]:
    torch.manual_seed(6)
    return [Operator.from_dense(torch.softmax(torch.randn(SENSORS, SENSORS, dtype=torch.float64), dim=1)) for _ in range(2)]


def _per_cell(encoder, decoder, transitions, x, decoder_inputs) -> Iterator[torch.Tensor]:
    """The definition: every cell steps on its own from zero states; the top state per decoder step."""
    states = [cell.initial_state(x[:, 0]) for cell in encoder]
    for cells, inputs in [(encoder, step) for step in x.unbind(1)] + [(decoder, step) for step in decoder_inputs]:
        for i, cell in enumerate(cells):
            states[i] = inputs = cell(inputs, states[i], transitions)
        if cells is decoder:
            yield states[-1]


def _fused(encoder, decoder, transitions, x, decoder_inputs) -> Iterator[torch.Tensor]:
    fused = FusedGraphGRU(encoder, decoder, transitions, decode_steps=len(decoder_inputs))
    state = fused.encode(x)
    for inputs in decoder_inputs:
        top, state = fused.decode(inputs, state)
        yield top


@pytest.mark.parametrize("variant", ["reference", "power"])
@pytest.mark.parametrize("layers, lookback, horizon", [(1, 3, 2), (3, 3, 2), (2, 1, 1)])
def test_fused_stack_computes_the_per_cell_definition(variant, layers, lookback, horizon):
    # One layer (no layer above), three (a middle layer both receives and passes on shared
    # terms), one input step and one decoder step (the handover and the final readout at once).
    encoder, decoder = _stacks(layers, variant)
    transitions = _transitions()
    x = torch.randn(2, lookback, SENSORS, FEATURES, dtype=torch.float64, requires_grad=True)
    decoder_inputs = [torch.randn(2, SENSORS, 1, dtype=torch.float64, requires_grad=True) for _ in range(horizon)]
    parameters = [p for cell in (*encoder, *decoder) for p in cell.parameters()]
    inputs = [x, *decoder_inputs, *parameters]
    results = []
    for run in (_fused, _per_cell):
        tops = torch.stack(list(run(encoder, decoder, transitions, x, decoder_inputs)))
        weights = torch.randn(tops.shape, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        results.append([tops, *torch.autograd.grad((tops * weights).sum(), inputs)])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradcheck_through_the_fused_stack():
    encoder, decoder = _stacks(2)
    transitions = _transitions()
    x = torch.randn(1, 2, SENSORS, FEATURES, dtype=torch.float64, requires_grad=True)
    go = torch.randn(1, SENSORS, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: torch.stack(list(_fused(encoder, decoder, transitions, a, [b, b]))), (x, go))


def test_cells_that_cannot_share_terms_are_refused():
    gcn = partial(GCNConv, bias=False)
    encoder, decoder = _stacks(2)
    with pytest.raises(TypeError, match="GCNConv is not a DiffusionConv"):
        FusedGraphGRU([GraphGRUCell(FEATURES, HIDDEN, gcn)], decoder[:1], _transitions(), decode_steps=1)
    with pytest.raises(TypeError, match="GRUCell is not one"):
        FusedGraphGRU([torch.nn.GRUCell(FEATURES, HIDDEN)], decoder[:1], _transitions(), decode_steps=1)
    with pytest.raises(ValueError, match="as many decoder as encoder layers"):
        FusedGraphGRU(encoder, decoder[:1], _transitions(), decode_steps=1)


def test_decoding_past_the_announced_steps_is_an_error():
    encoder, decoder = _stacks(1)
    fused = FusedGraphGRU(encoder, decoder, _transitions(), decode_steps=1)
    go = torch.zeros(1, SENSORS, 1, dtype=torch.float64)
    _, state = fused.decode(go, fused.encode(torch.zeros(1, 2, SENSORS, FEATURES, dtype=torch.float64)))
    with pytest.raises(ValueError, match="built for decode_steps=1; decode was called once more"):
        fused.decode(go, state)
