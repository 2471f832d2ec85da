r"""STGCN: spatio-temporal graph convolutional network (Yu, Yin, Zhu, IJCAI 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.chebyshev_conv import ChebConv
from stgraph.nn.packed_dropout import Dropout
from stgraph.nn.sensor_norm import SensorLayerNorm
from stgraph.nn.temporal_conv import FeatureAlign, ResidualTemporalConv

__all__ = ["STGCN"]


class STConvBlock(nn.Module):
    r"""One ST-Conv block (Eq. 9): temporal GLU conv, Chebyshev graph conv, temporal conv.

    .. math::
        \mathbf{V}^{l+1} = \Gamma_1^l *_{\mathcal{T}} \operatorname{ReLU}\big(\Theta^l *_{\mathcal{G}}
            (\Gamma_0^l *_{\mathcal{T}} \mathbf{V}^l) + \text{residual}\big)

    followed by layer normalisation over sensors and channels and dropout. The graph
    convolution adds its (aligned) input as a residual, as in the authors' code.

    Shapes:
        x: ``[batch, time, nodes, in_features]`` ->
        ``[batch, time - 2 (temporal_kernel - 1), nodes, channels[2]]``
    """

    def __init__(
        self, num_sensors: int, in_features: int, channels: Sequence[int], temporal_kernel: int, order: int, dropout: float
    ) -> None:
        super().__init__()
        temporal, spatial, out = channels
        self.temporal_in = ResidualTemporalConv(in_features, temporal, temporal_kernel, activation="glu")
        self.graph_conv = ChebConv(temporal, spatial, order=order)
        self.graph_residual = FeatureAlign(temporal, spatial)
        self.temporal_out = ResidualTemporalConv(spatial, out, temporal_kernel, activation="relu")
        self.norm = SensorLayerNorm(num_sensors, out, eps=1e-6)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, laplacian: Any, positions: Tensor | None = None) -> Tensor:
        x = self.temporal_in(x)
        x = torch.relu(self.graph_conv(x, laplacian) + self.graph_residual(x))
        out: Tensor = self.dropout(self.norm(self.temporal_out(x), positions))
        return out


class STGCN(ForecastModel):
    r"""STGCN (Yu, Yin, Zhu, "Spatio-Temporal Graph Convolutional Networks: A Deep Learning
    Framework for Traffic Forecasting", IJCAI 2018), Chebyshev variant STGCN(Cheb).

    Two ST-Conv blocks (gated temporal convolution :math:`K_t = 3`, Chebyshev graph convolution
    over the scaled Laplacian :math:`\tilde{\mathbf{L}}` with :math:`K_s = 3` terms, i.e.
    ``order=2`` hops, temporal convolution; channels 64-16-64, the paper's experimental
    setting), each followed by layer normalisation, then the output block: a GLU temporal
    convolution spanning the remaining :math:`L - 4(K_t - 1)` steps, layer normalisation, a 1x1
    convolution with sigmoid and a fully connected layer per sensor.

    **Multi-step forecasts.** The paper trains one model per horizon step (a single-step output)
    and reaches later steps by feeding forecasts back. Here the final fully connected layer
    emits ``horizon * out_channels`` values per sensor, so one forward pass forecasts every
    horizon step at once (as most re-implementations and benchmarks do); with ``horizon=1``
    this is exactly the paper's output block.

    Where this follows the authors' code (VeritasYin/STGCN_IJCAI-18) rather than the text:
    residual inputs inside the temporal and graph convolutions; ReLU in the second temporal
    convolution of each block; layer norm with a gain and bias per sensor and channel; a
    per-sensor bias in the final layer. That code configures ``(32, 32, 64)`` and
    ``(32, 32, 128)`` and trains with dropout 0 (``keep_prob=1``); pass
    ``channels=((32, 32, 64), (32, 32, 128))`` to match it. The paper feeds speed alone;
    time-of-day covariates may be appended to the features (``in_features`` counts them).

    **Sensor subgraphs** (``sensor_subsets``): the per-sensor layer-norm gains and biases and
    the final bias are indexed by the subgraph's sensors; the layer norms' statistics are then
    the subgraph's (:class:`~stgraph.nn.SensorLayerNorm`), an approximation of the full
    graph's that sensor-batched training accepts.

    Args:
        num_sensors: sensors in the graph (layer norm is per sensor).
        in_features: features per sensor and step in ``x``.
        out_channels: forecast channels per sensor.
        lookback: input steps; must exceed ``2 * len(channels) * (temporal_kernel - 1)``.
        horizon: forecast steps.
        channels: per ST-Conv block, the output channels of its ``(temporal, graph, temporal)``
            layers; a block reads the previous block's output (``in_features`` for the first).
        temporal_kernel: :math:`K_t`.
        order: Chebyshev order, in hops (:math:`T_0 .. T_{order}`; the paper's
            :math:`K_s` = ``order + 1`` = 3 terms).
        dropout: after each ST-Conv block.

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``;
        graph: a SensorGraph or adjacency over the same ``nodes`` sensors.
    """

    def __init__(
        self,
        *,
        num_sensors: int,
        in_features: int,
        out_channels: int = 1,
        lookback: int = 12,
        horizon: int = 12,
        channels: Sequence[Sequence[int]] = ((64, 16, 64), (64, 16, 64)),
        temporal_kernel: int = 3,
        order: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        channels = [tuple(int(c) for c in block) for block in channels]
        if not channels or any(len(block) != 3 or min(block) < 1 for block in channels):
            raise ValueError(
                f"STGCN: channels must list (temporal, graph, output) channel triples, one per ST-Conv block; got {channels}"
            )
        remaining = lookback - 2 * len(channels) * (temporal_kernel - 1)
        if remaining < 1:
            raise ValueError(
                f"STGCN: lookback {lookback} is too short for {len(channels)} ST-Conv blocks with temporal_kernel "
                f"{temporal_kernel} (each block uses {2 * (temporal_kernel - 1)} steps)"
            )
        blocks = []
        features = in_features
        for block in channels:
            blocks.append(STConvBlock(num_sensors, features, block, temporal_kernel, order, dropout))
            features = block[2]
        self.blocks = nn.ModuleList(blocks)
        # Output block: collapse the remaining steps, normalise, 1x1 sigmoid, per-sensor FC.
        self.output_temporal = ResidualTemporalConv(features, features, remaining, activation="glu")
        self.output_norm = SensorLayerNorm(num_sensors, features, eps=1e-6)
        self.output_hidden = nn.Linear(features, features)
        self.output = nn.Linear(features, horizon * out_channels, bias=False)
        self.output_bias = nn.Parameter(torch.zeros(num_sensors, horizon * out_channels))

    sensor_subsets = True

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        [laplacian] = self._operators(graph, x, "laplacian")
        positions = self._positions(graph, x)
        for block in self.blocks:
            x = block(x, laplacian, positions)
        x = self.output_norm(self.output_temporal(x), positions)  # [batch, 1, nodes, features]
        out = self.output(torch.sigmoid(self.output_hidden(x))) + self._per_sensor(self.output_bias, graph)
        return self._per_step(out)
