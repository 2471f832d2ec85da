r"""FC-LSTM: the sequence-to-sequence LSTM baseline (Sutskever, Vinyals, Le, NeurIPS 2014), as
compared against in DCRNN (Li et al., ICLR 2018)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from stgraph.models._base import ForecastModel

__all__ = ["FCLSTM"]


class FCLSTM(ForecastModel):
    r"""Encoder-decoder LSTM, one sequence per sensor, weights shared by all sensors.

    The encoder (``num_layers`` LSTM layers of ``hidden`` units) reads each sensor's
    ``lookback`` steps; the decoder (its own ``num_layers`` layers, started from the encoder's
    final states) begins with a zero GO symbol and feeds back its forecasts, a linear
    projection of its top hidden state, for ``horizon`` steps. Scheduled sampling works as in
    :class:`~stgraph.models.DCRNN` (``target``, ``teacher_forcing``; training mode only).

    Variant: the DCRNN paper's FC-LSTM baseline (2 layers of 256 units, the defaults here)
    uses LSTM units with peephole connections (``nn.LSTM`` here has none) and reads all
    sensors as one vector per step. This one treats every sensor as its own sequence
    (``[batch * nodes, time, features]``): it ignores the graph, its size does not depend on the
    number of sensors, and it is the node-wise LSTM most benchmarks now report as "FC-LSTM" or
    "LSTM". ``graph`` is accepted for the common contract and only checked for its size (None
    is allowed).

    Args:
        num_sensors: sensors (checked against ``x`` and ``graph``).
        in_features: features per sensor and step in ``x``.
        out_channels: forecast channels per sensor (decoder input width too).
        lookback: input steps.
        horizon: forecast steps.
        hidden: LSTM units per layer.
        num_layers: LSTM layers in the encoder and in the decoder.

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
        hidden: int = 256,
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        if hidden < 1 or num_layers < 1:
            raise ValueError(f"FCLSTM: hidden and num_layers must be >= 1; got {hidden} and {num_layers}")
        self.encoder = nn.LSTM(in_features, hidden, num_layers, batch_first=True)
        self.decoder = nn.LSTM(out_channels, hidden, num_layers, batch_first=True)
        self.projection = nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        self._check_target(target, x)
        if graph is not None:
            self._graph(graph)
        batch, nodes = x.shape[0], x.shape[2]
        sequences = x.transpose(1, 2).reshape(batch * nodes, self.lookback, self.in_features)
        _, state = self.encoder(sequences)

        def step(inputs: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
            out, state = self.decoder(inputs.reshape(batch * nodes, 1, self.out_channels), state)
            return self.projection(out).reshape(batch, nodes, self.out_channels), state

        go = x.new_zeros(batch, nodes, self.out_channels)
        return self._decode(step, go, state, target, teacher_forcing)
