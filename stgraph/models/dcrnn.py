r"""DCRNN: diffusion convolutional recurrent neural network (Li, Yu, Shahabi, Liu, ICLR 2018)."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.diffusion_conv import VARIANTS, DiffusionConv
from stgraph.nn.graph_gru import GraphGRUCell, ShareWeights

__all__ = ["DCRNN", "inverse_sigmoid_decay"]


def inverse_sigmoid_decay(step: int, tau: float = 2000.0) -> float:
    r"""Scheduled-sampling probability of feeding the truth at training step ``step``.

    .. math::
        \epsilon_i = \frac{\tau}{\tau + \exp(i / \tau)}

    (Bengio et al., NeurIPS 2015; DCRNN's ``_compute_sampling_threshold`` with
    ``cl_decay_steps`` :math:`\tau = 2000` for METR-LA and PEMS-BAY). ``step`` counts optimiser
    steps (batches) since the start of training. The trainer computes it and passes it to
    ``DCRNN.forward(..., teacher_forcing=p)``; the model never sees the step.

    >>> round(inverse_sigmoid_decay(0), 4), round(inverse_sigmoid_decay(20000), 4)
    (0.9995, 0.0832)
    """
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    exponent = step / tau
    if exponent > 700.0:  # exp overflows a float; the probability is 0 to double precision
        return 0.0
    return tau / (tau + math.exp(exponent))


class _Readout(NamedTuple):
    """Stacked weights over a layer's new state terms (None: nobody reads the state) and the
    widths of the two output blocks: this layer's next gate share (0: no next step) and the
    layer above's input share (0: top layer)."""

    weight: Tensor | None
    bias: Tensor | None
    widths: tuple[int, int]


class DCRNN(ForecastModel):
    r"""DCRNN (Li, Yu, Shahabi, Liu, "Diffusion Convolutional Recurrent Neural Network:
    Data-Driven Traffic Forecasting", ICLR 2018): a sequence-to-sequence model of diffusion
    convolutional GRUs (DCGRU, Eq. 3).

    The encoder reads the ``lookback`` steps through ``num_layers`` stacked DCGRU layers; the
    decoder (its own ``num_layers`` DCGRU layers, initialised with the encoder's final states)
    starts from a zero GO symbol and emits one step at a time, a bias-free linear projection of
    its top hidden state to ``out_channels``, which becomes its next input. Every DCGRU
    computes its reset and update gates with **one** diffusion convolution (``2 * hidden``
    outputs), as the reference code does.

    Diffusion runs over both random-walk directions (``graph.torch_operator("forward")`` and
    ``("backward")``) for ``order`` steps each, with :class:`~stgraph.nn.DiffusionConv`'s
    ``variant`` (default ``"reference"``: the recurrence of the authors' code, which produced
    the published numbers; ``"power"`` is the paper's :math:`\mathbf{P}^k\mathbf{X}`).

    Scheduled sampling: in training mode, given ``target`` (in the model's scaled units), each
    decoder input is the true previous value with probability ``teacher_forcing`` and the
    forecast otherwise; the trainer lowers it with :func:`inverse_sigmoid_decay`. In evaluation
    mode forecasts are always fed back.

    How it is computed (the function is the reference code's, up to float rounding): each new
    state :math:`\mathbf{H}` is diffused once, and its terms are multiplied by **one** GEMM with
    the stacked weights of everything that reads it, its own cell's gates at the next step (the
    decoder's cell after the last encoder step) and the layer above's gates and candidate
    (:meth:`GraphGRUCell.share_weights`, :meth:`GraphGRUCell.step_from_shares`); each term then
    has one gradient instead of a sum of two. Inside a cell only :math:`\mathbf{r} \odot
    \mathbf{H}` is diffused. The encoder's inputs are diffused and projected for all
    ``lookback`` steps in one call, and the zero initial states are not diffused at all. With
    the defaults this propagates :math:`(F + 4H)` columns per support step and time step instead
    of the :math:`2(F + H) + 4H` of diffusing ``[x, h]`` and ``[x, r * h]`` in each layer: 258
    instead of 388 on METR-LA's inputs (:math:`F = 2`, :math:`H = 64`).

    ``checkpoint=True`` recomputes each DCGRU step in the backward pass instead of keeping its
    intermediates (:func:`torch.utils.checkpoint.checkpoint`): same values and gradients, far
    fewer tensors kept (41 MB instead of 567 MB at batch 16 on METR-LA), at about 1.4x the
    training step time; each cell step then diffuses its own input and state (nothing is
    shared between steps, since that would keep it alive).

    Defaults are the paper's METR-LA / PEMS-BAY configuration (``data/model/dcrnn_la.yaml``):
    2 layers of 64 units, order 2, inputs speed plus time of day (``in_features=2``),
    ``out_channels=1``: 372,352 parameters, the same count as the reference implementation
    (the count does not depend on the number of sensors).

    Args:
        num_sensors: sensors in the graph.
        in_features: features per sensor and step in ``x`` (speed and time of day: 2).
        out_channels: forecast channels per sensor (decoder input width too).
        lookback: input steps.
        horizon: forecast steps.
        hidden: DCGRU units per sensor and layer.
        num_layers: stacked DCGRU layers in the encoder and in the decoder.
        order: diffusion steps :math:`K` per direction.
        variant: ``"reference"`` or ``"power"`` (see :class:`~stgraph.nn.DiffusionConv`).
        checkpoint: trade recomputation for memory in training (default False).

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``;
        target: ``[batch, horizon, nodes, out_channels]`` (optional).
    """

    def __init__(
        self,
        *,
        num_sensors: int,
        in_features: int,
        out_channels: int = 1,
        lookback: int = 12,
        horizon: int = 12,
        hidden: int = 64,
        num_layers: int = 2,
        order: int = 2,
        variant: str = "reference",
        checkpoint: bool = False,
    ) -> None:
        super().__init__(
            num_sensors=num_sensors,
            in_features=in_features,
            out_channels=out_channels,
            lookback=lookback,
            horizon=horizon,
            hidden=hidden,
            num_layers=num_layers,
            order=order,
            variant=variant,
            checkpoint=checkpoint,
        )
        if hidden < 1 or num_layers < 1 or order < 0:
            raise ValueError(f"DCRNN: hidden and num_layers must be >= 1 and order >= 0; got {hidden}, {num_layers}, {order}")
        if variant not in VARIANTS:
            raise ValueError(f"DCRNN: unknown diffusion variant {variant!r}; expected one of {list(VARIANTS)}")
        self.checkpoint = checkpoint
        # One convolution factory for every cell: all diffuse alike, so a state's terms serve
        # the layer above and the decoder's matching layer too.
        conv = partial(DiffusionConv, order=order, num_supports=2, variant=variant, bias=False)
        self.encoder = nn.ModuleList(
            GraphGRUCell(in_features if i == 0 else hidden, hidden, conv, checkpoint=checkpoint) for i in range(num_layers)
        )
        self.decoder = nn.ModuleList(
            GraphGRUCell(out_channels if i == 0 else hidden, hidden, conv, checkpoint=checkpoint) for i in range(num_layers)
        )
        self.projection = nn.Linear(hidden, out_channels, bias=False)

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x)
        self._check_target(target, x)
        sensor_graph = self._graph(graph)
        supports = [sensor_graph.torch_operator(kind, device=x.device, dtype=x.dtype) for kind in ("forward", "backward")]
        go = x.new_zeros(x.shape[0], self.num_sensors, self.out_channels)
        if self.checkpoint:
            return self._forward_per_cell(x, supports, go, target, teacher_forcing)
        return self._forward_shared(x, supports, go, target, teacher_forcing)

    def _forward_per_cell(self, x: Tensor, supports: list, go: Tensor, target: Tensor | None, teacher_forcing: float) -> Tensor:
        """Each cell step on its own (each checkpointed): nothing is shared between steps."""
        states = [cell.initial_state(x[:, 0]) for cell in self.encoder]

        def up(cells: nn.ModuleList, inputs: Tensor, states: list[Tensor]) -> Tensor:
            for i, cell in enumerate(cells):
                states[i] = inputs = cell(inputs, states[i], supports)
            return inputs

        for t in range(self.lookback):
            up(self.encoder, x[:, t], states)

        def step(inputs: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
            states = list(states)
            return self.projection(up(self.decoder, inputs, states)), states

        return self._decode(step, go, states, target, teacher_forcing)

    def _forward_shared(self, x: Tensor, supports: list, go: Tensor, target: Tensor | None, teacher_forcing: float) -> Tensor:
        """Each new state diffused once and multiplied once by the stacked weights of its
        consumers (see the class notes); the encoder's input shares in one GEMM for all steps."""
        encoder = [cell.share_weights() for cell in self.encoder]
        decoder = [cell.share_weights() for cell in self.decoder]
        # Who reads layer i's new state: its own cell at the next step (the decoder's after the
        # last encoder step; nobody after the last decoder step) and the layer above.
        layers = range(len(self.encoder))
        encoder_readout = [self._readout(encoder, encoder, i) for i in layers]
        handover_readout = [self._readout(decoder, encoder, i) for i in layers]
        decoder_readout = [self._readout(decoder, decoder, i) for i in layers]
        final_readout = [self._readout(None, decoder, i) for i in layers]

        # One [batch, nodes, 3 * hidden] per step, each contiguous (unbind: one gradient, stacked).
        input_shares = F.linear(
            self.encoder[0].terms(x.transpose(0, 1).contiguous(), supports), encoder[0].input, encoder[0].input_bias
        ).unbind(0)
        states: list[Tensor | None] = [None] * len(layers)  # zero initial states: nothing to diffuse
        state_shares: list[Tensor | None] = [None] * len(layers)
        for t in range(self.lookback):
            readout = encoder_readout if t + 1 < self.lookback else handover_readout
            self._shared_step(self.encoder, encoder, readout, input_shares[t], states, state_shares, supports)

        decoded = 0

        def step(inputs: Tensor, carried: tuple[list[Tensor], list[Tensor | None]]) -> tuple[Tensor, Any]:
            nonlocal decoded
            decoded += 1
            states, state_shares = list(carried[0]), list(carried[1])
            input_share = F.linear(self.decoder[0].terms(inputs, supports), decoder[0].input, decoder[0].input_bias)
            readout = decoder_readout if decoded < self.horizon else final_readout
            top = self._shared_step(self.decoder, decoder, readout, input_share, states, state_shares, supports)
            return self.projection(top), (states, state_shares)

        return self._decode(step, go, (states, state_shares), target, teacher_forcing)

    @staticmethod
    def _readout(following: list[ShareWeights] | None, stack: list[ShareWeights], layer: int) -> _Readout:
        """The stacked weight that turns layer ``layer``'s new state terms into its share of the
        gates of ``following[layer]`` (the cell that continues this layer; None: none does)
        and the input share of ``stack[layer + 1]`` (the layer above, if any)."""
        above = stack[layer + 1] if layer + 1 < len(stack) else None
        state = following[layer].state if following is not None else None
        widths = (0 if state is None else state.shape[0], 0 if above is None else above.input.shape[0])
        if above is None:
            return _Readout(state, None, widths)
        if state is None:
            return _Readout(above.input, above.input_bias, widths)
        return _Readout(torch.cat([state, above.input]), F.pad(above.input_bias, (widths[0], 0)), widths)

    @staticmethod
    def _shared_step(
        cells: nn.ModuleList,
        weights: list[ShareWeights],
        readouts: list[_Readout],
        input_share: Tensor,
        states: list[Tensor | None],
        state_shares: list[Tensor | None],
        supports: list,
    ) -> Tensor:
        """One time step up the stacked cells; updates ``states`` and ``state_shares`` in place
        and returns the top state."""
        for i, cell in enumerate(cells):
            states[i] = cell.step_from_shares(states[i], input_share, state_shares[i], supports, weights[i])
            readout = readouts[i]
            if readout.weight is None:
                continue
            gate_share, above_share = F.linear(cell.terms(states[i], supports), readout.weight, readout.bias).split(
                readout.widths, dim=-1
            )
            if readout.widths[0]:
                state_shares[i] = gate_share
            if readout.widths[1]:
                input_share = above_share
        return states[-1]
