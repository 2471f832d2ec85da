r"""DCRNN: diffusion convolutional recurrent neural network (Li, Yu, Shahabi, Liu, ICLR 2018)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeVar

from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.diffusion_conv import VARIANTS, DiffusionConv
from stgraph.nn.fused_gru import FusedGraphGRU
from stgraph.nn.graph_gru import GraphGRUCell

__all__ = ["DCRNN"]

_State = TypeVar("_State")


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
    forecast otherwise; the trainer lowers it with
    :func:`stgraph.train.schedules.inverse_sigmoid_decay`. In evaluation mode forecasts are
    always fed back.

    How it is computed: :meth:`encode` and :meth:`decode_step` are the definition, each cell
    stepping on its own. By default (``fused=True``) the same function runs through
    :class:`~stgraph.nn.FusedGraphGRU`, which diffuses each new state once for all the cells
    that read it: 258 instead of 388 propagated columns per transition, diffusion step and
    time step on METR-LA, same values up to float rounding, same gradients.

    ``checkpoint=True`` recomputes each DCGRU step in the backward pass instead of keeping its
    intermediates (:func:`torch.utils.checkpoint.checkpoint`): same values and gradients, far
    fewer tensors kept, at a higher step time (``README.md`` gives the numbers). It runs the
    per-cell path whatever ``fused`` says: sharing a state's terms with the next step would
    keep them alive.

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
        order: diffusion steps :math:`K` per direction (the reference code's
            ``max_diffusion_step``).
        variant: ``"reference"`` or ``"power"`` (see :class:`~stgraph.nn.DiffusionConv`).
        fused: run through :class:`~stgraph.nn.FusedGraphGRU` (default True; False steps each
            cell on its own, the definition).
        checkpoint: trade recomputation for memory in training (default False).

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``;
        target: ``[batch, horizon, nodes, out_channels]`` (optional).
    """

    accepts_teacher_forcing = True
    sensor_subsets = True

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
        fused: bool = True,
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if hidden < 1 or num_layers < 1 or order < 0:
            raise ValueError(f"DCRNN: hidden and num_layers must be >= 1 and order >= 0; got {hidden}, {num_layers}, {order}")
        if variant not in VARIANTS:
            raise ValueError(f"DCRNN: unknown diffusion variant {variant!r}; expected one of {list(VARIANTS)}")
        self.hidden = hidden
        self.fused = fused and not checkpoint
        conv = partial(DiffusionConv, order=order, num_transitions=2, variant=variant, bias=False)
        self.encoder = nn.ModuleList(
            GraphGRUCell(in_features if i == 0 else hidden, hidden, conv, checkpoint=checkpoint) for i in range(num_layers)
        )
        self.decoder = nn.ModuleList(
            GraphGRUCell(out_channels if i == 0 else hidden, hidden, conv, checkpoint=checkpoint) for i in range(num_layers)
        )
        self.projection = nn.Linear(hidden, out_channels, bias=False)

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        self._check_target(target, x)
        transitions = self._operators(graph, x, "forward", "backward")
        go = x.new_zeros(x.shape[0], x.shape[2], self.out_channels)
        if self.fused:
            fused = FusedGraphGRU(self.encoder, self.decoder, transitions, decode_steps=self.horizon)
            return self._decode(self._projecting(fused.decode), go, fused.encode(x), target, teacher_forcing)

        def decode(inputs: Tensor, states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
            return self.decode_step(inputs, states, transitions)

        return self._decode(self._projecting(decode), go, self.encode(x, transitions), target, teacher_forcing)

    def _projecting(
        self, decode: Callable[[Tensor, _State], tuple[Tensor, _State]]
    ) -> Callable[[Tensor, _State], tuple[Tensor, _State]]:
        """``decode`` (``(inputs, state) -> (top state, state)``) with its top state projected to
        the forecast: the step of :meth:`ForecastModel._decode`."""

        def step(inputs: Tensor, state: _State) -> tuple[Tensor, _State]:
            top, state = decode(inputs, state)
            return self.projection(top), state

        return step

    def encode(self, x: Tensor, transitions: Sequence[Any]) -> list[Tensor]:
        """The encoder's final states, one per layer, from zero states.

        Shapes:
            x: ``[batch, lookback, nodes, in_features]`` -> ``num_layers`` x ``[batch, nodes, hidden]``
        """
        # Zero states, as GraphGRUCell.initial_state makes them (a ModuleList's items are typed nn.Module).
        states = [x.new_zeros(x.shape[0], x.shape[2], self.hidden) for _ in self.encoder]
        for t in range(self.lookback):
            states = _step_up(self.encoder, x[:, t], states, transitions)
        return states

    def decode_step(self, inputs: Tensor, states: list[Tensor], transitions: Sequence[Any]) -> tuple[Tensor, list[Tensor]]:
        """One decoder step: the top layer's new state, and every layer's.

        Shapes:
            inputs: ``[batch, nodes, out_channels]`` -> ``[batch, nodes, hidden]``, states
        """
        states = _step_up(self.decoder, inputs, states, transitions)
        return states[-1], states


def _step_up(cells: Iterable[nn.Module], inputs: Tensor, states: list[Tensor], transitions: Sequence[Any]) -> list[Tensor]:
    """One time step up stacked cells: layer ``i`` reads layer ``i - 1``'s new state."""
    new_states = []
    for cell, state in zip(cells, states):
        inputs = cell(inputs, state, transitions)
        new_states.append(inputs)
    return new_states
