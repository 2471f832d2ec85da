r"""DCRNN: diffusion convolutional recurrent neural network (Li, Yu, Shahabi, Liu, ICLR 2018)."""

from __future__ import annotations

import math
from functools import partial
from typing import Any

from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.diffusion_conv import VARIANTS, DiffusionConv
from stgraph.nn.graph_gru import GraphGRUCell

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

    Each DCGRU diffuses its input, its state and the reset state once per step and shares them
    between its two convolutions (:class:`~stgraph.nn.GraphGRUCell`); a layer's new state is
    diffused once for both the layer above (as its input) and itself at the next step. With
    the defaults this propagates :math:`(F + 4H)` columns per support step and time step
    instead of the :math:`2(F + H) + 4H` of diffusing ``[x, h]`` and ``[x, r * h]`` in each
    layer: 258 instead of 388 on METR-LA's inputs (:math:`F = 2`, :math:`H = 64`), and
    every term is kept once for the backward pass. The function computed is the reference
    code's, up to float rounding.

    ``checkpoint=True`` recomputes each DCGRU step in the backward pass instead of keeping its
    intermediates (:func:`torch.utils.checkpoint.checkpoint`): same values and gradients, far
    fewer tensors kept (41 MB instead of 567 MB at batch 16 on METR-LA), at about 1.4x the
    training step time; the diffusion of the states is then not shared between layers
    either, since that would keep it alive.

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

        states = [cell.initial_state(x[:, 0]) for cell in self.encoder]
        state_terms: list[Tensor | None] = [None] * len(self.encoder)
        for t in range(self.lookback):
            self._layers_step(self.encoder, x[:, t], states, state_terms, supports)

        def step(inputs: Tensor, carried: tuple[list[Tensor], list[Tensor | None]]) -> tuple[Tensor, Any]:
            states, state_terms = list(carried[0]), list(carried[1])
            top = self._layers_step(self.decoder, inputs, states, state_terms, supports)
            return self.projection(top), (states, state_terms)

        go = x.new_zeros(x.shape[0], self.num_sensors, self.out_channels)
        return self._decode(step, go, (states, state_terms), target, teacher_forcing)

    def _layers_step(
        self, cells: nn.ModuleList, inputs: Tensor, states: list[Tensor], state_terms: list[Tensor | None], supports: list
    ) -> Tensor:
        """One time step up the stacked cells; updates ``states`` and ``state_terms`` (each
        state's diffusion, or None where not computed yet) in place and returns the top state."""
        input_terms = None
        for i, cell in enumerate(cells):
            states[i] = inputs = cell(inputs, states[i], supports, x_terms=input_terms, state_terms=state_terms[i])
            if i + 1 < len(cells) and not self.checkpoint:
                # The next layer's input now, and this layer's state at the next step.
                state_terms[i] = input_terms = cell.terms(inputs, supports)
        return inputs
