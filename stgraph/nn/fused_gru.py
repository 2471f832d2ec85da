r"""Shared diffusion: an encoder and a decoder stack of diffusion-convolutional GRU cells, run with
fewer propagations than stepping each :class:`~stgraph.nn.GraphGRUCell` on its own.

Why it is the same function. A diffusion convolution acts on each input feature alone
(:meth:`DiffusionConv.terms`, :meth:`DiffusionConv.term_weight`), so the convolution of
``[x, h]`` splits into the terms of ``x`` and the terms of ``h``, each times its slice of the
weight:

.. math::
    \Theta \star_\mathcal{G} [\mathbf{X}, \mathbf{H}]
        = \mathcal{Z}(\mathbf{X})\,\mathbf{W}_X + \mathcal{Z}(\mathbf{H})\,\mathbf{W}_H

where :math:`\mathcal{Z}(\cdot)` is the concatenation of the diffusion terms. In a stacked
DCRNN every new state :math:`\mathbf{H}^{(l)}_t` is read three times: by its own cell's gates at
step :math:`t + 1`, and by the gates and the candidate of the layer above at step :math:`t`,
whose input it is. :class:`FusedGraphGRU` diffuses it **once** and multiplies its terms by
**one** GEMM with the stacked weights of all three (after the encoder's last step, "its own cell"
is the decoder's cell of the same layer), so each term has one gradient instead of a sum. Inside
a cell only :math:`\mathbf{r}_t \odot \mathbf{H}_{t-1}` is diffused. The encoder's inputs are
diffused and projected for all steps in one call, and the zero initial states are not diffused at
all (their terms are zero).

Propagated columns per transition and diffusion step, per time step, with input features
:math:`F` and hidden units :math:`H` over :math:`L` layers: :math:`F + 2LH` instead of the
:math:`2(F + H) + 4(L - 1)H` of convolving ``[x, h]`` and ``[x, r * h]`` in each cell; 258
instead of 388 for DCRNN on METR-LA (:math:`F = 2`, :math:`H = 64`, :math:`L = 2`). Values
agree with the per-cell path up to float rounding, gradients too
(``tests/nn/test_fused_gru.py``, ``tests/models/test_dcrnn.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.nn.diffusion_conv import DiffusionConv
from stgraph.nn.graph_gru import GraphGRUCell
from stgraph.ops import Operator

__all__ = ["FusedGraphGRU", "FusedState"]


class FusedState(NamedTuple):
    """What :class:`FusedGraphGRU` carries between steps.

    Attributes:
        states: per layer, the hidden state ``[batch, nodes, hidden]``; None before the first
            step (the zero state).
        shares: per layer, the state's share of the next step's gate pre-activations
            ``[batch, nodes, 2 * hidden]`` (None with a zero state).
        remaining: decoder steps still to run.
    """

    states: tuple[Tensor | None, ...]
    shares: tuple[Tensor | None, ...]
    remaining: int


class _CellWeights(NamedTuple):
    """A cell's weights over the terms, split by what they multiply.

    Shapes:
        input ``[3 * hidden, terms * in_features]`` (the gates' rows, then the candidate's),
        input_bias ``[3 * hidden]``, state ``[2 * hidden, terms * hidden]``,
        candidate_state ``[hidden, terms * hidden]``
    """

    input: Tensor
    input_bias: Tensor
    state: Tensor
    candidate_state: Tensor


class _Readout(NamedTuple):
    """The stacked weight over a layer's new state terms (None: nobody reads the state) and the
    widths of the two output blocks: the next step's gate share of this layer (0: no next step)
    and the input share of the layer above (0: top layer)."""

    weight: Tensor | None
    bias: Tensor | None
    widths: tuple[int, int]


class FusedGraphGRU:
    r"""An encoder and a decoder stack of :class:`~stgraph.nn.GraphGRUCell` with diffusion
    convolutions, stepped with shared diffusion (see the module notes): the function of
    stepping each cell, with fewer propagations and GEMMs.

    Layer ``i`` of the decoder continues layer ``i`` of the encoder (it starts from that
    layer's final state), as in DCRNN. The object is built inside a forward pass, from the
    cells' current weights; it holds no parameters (the cells keep them, so ``state_dict``
    is the cells').

    >>> fused = FusedGraphGRU(encoder, decoder, transitions, decode_steps=horizon)  # doctest: +SKIP
    >>> state = fused.encode(x)  # doctest: +SKIP
    >>> top, state = fused.decode(go, state)  # doctest: +SKIP

    Args:
        encoder: cells (:class:`~stgraph.nn.GraphGRUCell` with diffusion convolutions; a list or an
            ``nn.ModuleList``) bottom to top; the first reads ``x``, each other the state below.
        decoder: as many cells, the first reading the decoder's inputs.
        transitions: the operators the cells' diffusion convolutions take.
        decode_steps: how many times :meth:`decode` will be called (the horizon): after the
            last step nobody reads a layer's state at the next step, so it is not projected.

    Shapes:
        x: ``[batch, time, nodes, encoder[0].in_features]``; decoder inputs:
        ``[batch, nodes, decoder[0].in_features]`` -> top state ``[batch, nodes, hidden]``
    """

    def __init__(
        self,
        encoder: Iterable[nn.Module],
        decoder: Iterable[nn.Module],
        transitions: Sequence[Operator | Tensor],
        decode_steps: int,
    ) -> None:
        self.encoder = _diffusion_cells(encoder)
        self.decoder = _diffusion_cells(decoder)
        if len(self.encoder) != len(self.decoder) or not self.encoder:
            raise ValueError(
                f"FusedGraphGRU needs as many decoder as encoder layers (>= 1); got {len(self.encoder)} and {len(self.decoder)}"
            )
        if decode_steps < 1:
            raise ValueError(f"decode_steps must be >= 1, got {decode_steps}")
        self.transitions = transitions
        self.decode_steps = decode_steps
        self._encoder_weights = [_cell_weights(cell) for cell in self.encoder]
        self._decoder_weights = [_cell_weights(cell) for cell in self.decoder]
        # Who reads layer i's new state: its own cell at the next step (the decoder's after the
        # last encoder step; nobody after the last decoder step) and the layer above.
        encoder_weights, decoder_weights, layers = self._encoder_weights, self._decoder_weights, range(len(self.encoder))
        self._encoder_readouts = [_readout(encoder_weights, encoder_weights, i) for i in layers]
        self._handover_readouts = [_readout(decoder_weights, encoder_weights, i) for i in layers]
        self._decoder_readouts = [_readout(decoder_weights, decoder_weights, i) for i in layers]
        self._final_readouts = [_readout(None, decoder_weights, i) for i in layers]

    def encode(self, x: Tensor) -> FusedState:
        """Run the encoder over all of ``x``'s steps from zero states.

        Shapes:
            x: ``[batch, time, nodes, features]`` -> the state the decoder starts from
        """
        weights = self._encoder_weights[0]
        # One [batch, nodes, 3 * hidden] per step, each contiguous (unbind: one gradient, stacked).
        input_shares = F.linear(
            _terms(self.encoder[0], x.transpose(0, 1).contiguous(), self.transitions), weights.input, weights.input_bias
        ).unbind(0)
        layers = len(self.encoder)
        state = FusedState((None,) * layers, (None,) * layers, self.decode_steps)
        for t, input_share in enumerate(input_shares):
            last = t + 1 == len(input_shares)
            readouts = self._handover_readouts if last else self._encoder_readouts
            _, state = self._step(self.encoder, self._encoder_weights, readouts, input_share, state)
        return state

    def decode(self, inputs: Tensor, state: FusedState) -> tuple[Tensor, FusedState]:
        """One decoder step up the stack.

        Shapes:
            inputs: ``[batch, nodes, features]`` -> (top state ``[batch, nodes, hidden]``, state)
        """
        if state.remaining < 1:
            raise ValueError(f"FusedGraphGRU was built for decode_steps={self.decode_steps}; decode was called once more")
        weights = self._decoder_weights[0]
        input_share = F.linear(_terms(self.decoder[0], inputs, self.transitions), weights.input, weights.input_bias)
        readouts = self._final_readouts if state.remaining == 1 else self._decoder_readouts
        top, state = self._step(self.decoder, self._decoder_weights, readouts, input_share, state)
        return top, state._replace(remaining=state.remaining - 1)

    def _step(
        self,
        cells: list[GraphGRUCell[DiffusionConv]],
        weights: list[_CellWeights],
        readouts: list[_Readout],
        input_share: Tensor,
        state: FusedState,
    ) -> tuple[Tensor, FusedState]:
        """One time step up ``cells``: each new state, then its terms times its readout, which
        give this layer's next gate share and the layer above's input share."""
        states, shares = list(state.states), list(state.shares)
        for i, cell in enumerate(cells):
            new_state = _step_from_shares(cell, states[i], input_share, shares[i], self.transitions, weights[i])
            states[i] = new_state
            readout = readouts[i]
            if readout.weight is None:
                continue
            gate_share, above_share = F.linear(
                _terms(cell, new_state, self.transitions), readout.weight, readout.bias
            ).split_with_sizes(readout.widths, dim=-1)
            if readout.widths[0]:
                shares[i] = gate_share
            if readout.widths[1]:
                input_share = above_share
        return new_state, FusedState(tuple(states), tuple(shares), state.remaining)


def _diffusion_cells(cells: Iterable[nn.Module]) -> list[GraphGRUCell[DiffusionConv]]:
    """``cells`` as a list, checked: GraphGRUCells whose convolutions are DiffusionConvs."""
    checked: list[GraphGRUCell[DiffusionConv]] = []
    for cell in cells:
        if not isinstance(cell, GraphGRUCell):
            raise TypeError(f"FusedGraphGRU steps GraphGRUCells; {type(cell).__name__} is not one")
        for conv in (cell.gates, cell.candidate):
            if not isinstance(conv, DiffusionConv):
                raise TypeError(f"FusedGraphGRU shares diffusion terms; {type(conv).__name__} is not a DiffusionConv")
        checked.append(cell)
    return checked


def _terms(cell: GraphGRUCell[DiffusionConv], signal: Tensor, transitions: Sequence[Operator | Tensor]) -> Tensor:
    """The diffusion terms of ``signal`` (an input or a state) as the cell's convolutions use
    them (both convolutions diffuse alike).

    Shapes:
        signal: ``[..., nodes, width]`` -> ``[..., nodes, terms * width]``
    """
    return cell.gates.terms(signal, transitions)


def _cell_weights(cell: GraphGRUCell[DiffusionConv]) -> _CellWeights:
    """``cell``'s weights over :func:`_terms`, split by what they multiply; the same at every
    step, so computed once per sequence."""
    inputs, hidden = slice(0, cell.in_features), slice(cell.in_features, None)
    return _CellWeights(
        input=torch.cat([cell.gates.term_weight(inputs), cell.candidate.term_weight(inputs)]),
        input_bias=torch.cat([cell.gate_bias, cell.candidate_bias]),
        state=cell.gates.term_weight(hidden),
        candidate_state=cell.candidate.term_weight(hidden),
    )


def _readout(following: list[_CellWeights] | None, stack: list[_CellWeights], layer: int) -> _Readout:
    """The stacked weight that turns layer ``layer``'s new state terms into its share of the
    gates of ``following[layer]`` (the cell that continues this layer; None: none does) and the
    input share of ``stack[layer + 1]`` (the layer above, if any)."""
    above = stack[layer + 1] if layer + 1 < len(stack) else None
    state = following[layer].state if following is not None else None
    widths = (0 if state is None else state.shape[0], 0 if above is None else above.input.shape[0])
    if above is None:
        return _Readout(state, None, widths)
    if state is None:
        return _Readout(above.input, above.input_bias, widths)
    return _Readout(torch.cat([state, above.input]), F.pad(above.input_bias, (widths[0], 0)), widths)


def _step_from_shares(
    cell: GraphGRUCell[DiffusionConv],
    state: Tensor | None,
    input_share: Tensor,
    state_share: Tensor | None,
    transitions: Sequence[Operator | Tensor],
    weights: _CellWeights,
) -> Tensor:
    r"""``cell``'s step given the input's and the state's shares of the pre-activations.

    ``input_share`` is ``terms(x) @ weights.input.T + weights.input_bias`` (gates, then
    candidate) and ``state_share`` is ``terms(state) @ weights.state.T``. Only
    :math:`\mathbf{r} \odot \mathbf{H}` is diffused here. ``state=None`` (with
    ``state_share=None``) is the zero initial state, whose terms are all zero: then
    :math:`\mathbf{H}_t = (1 - \mathbf{u}_t) \odot \mathbf{C}_t` with nothing diffused.

    Shapes:
        state ``[batch, nodes, hidden]``, input_share ``[batch, nodes, 3 * hidden]``,
        state_share ``[batch, nodes, 2 * hidden]`` -> new state ``[batch, nodes, hidden]``
    """
    hidden = cell.hidden
    gate_input, candidate_input = input_share.split_with_sizes([2 * hidden, hidden], dim=-1)
    if state is None or state_share is None:  # both None together: the zero state
        update = torch.sigmoid(gate_input[..., hidden:])
        candidate = torch.tanh(candidate_input)
        return candidate - update * candidate
    reset, update = torch.sigmoid(gate_input + state_share).chunk(2, dim=-1)
    reset_terms = cell.candidate.terms(reset * state, transitions)
    candidate = torch.tanh(
        torch.addmm(candidate_input.reshape(-1, hidden), reset_terms.flatten(0, -2), weights.candidate_state.t())
    ).view_as(state)
    # u * h + (1 - u) * c, written as c + u * (h - c) to save one pass over the state.
    return torch.lerp(candidate, state, update)
