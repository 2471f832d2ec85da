r"""Graph WaveNet (Wu, Pan, Long, Jiang, Zhang, IJCAI 2019)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.adaptive_adjacency import AdaptiveAdjacency
from stgraph.nn.diffusion_conv import DiffusionConv
from stgraph.nn.packed_dropout import dropout
from stgraph.nn.temporal_conv import GatedDilatedConv

__all__ = ["GraphWaveNet"]


class WaveNetLayer(nn.Module):
    r"""One Graph WaveNet layer: gated dilated convolution, skip output, diffusion graph
    convolution over the transitions, residual connection and batch normalisation.

    The graph part is left out (``graph_features=None``) for the last layer, whose output only
    reaches the forecast through its skip connection.

    Shapes:
        x: ``[batch, time, nodes, residual]`` -> (``[batch, time - dilation (K_t - 1), nodes,
        residual]`` or None, skip ``[batch, 1, nodes, skip]`` from the last step only)
    """

    def __init__(
        self,
        residual: int,
        dilation_channels: int,
        skip: int,
        temporal_kernel: int,
        dilation: int,
        *,
        num_transitions: int,
        order: int,
        dropout: float,
        last: bool,
    ) -> None:
        super().__init__()
        self.gated = GatedDilatedConv(residual, dilation_channels, temporal_kernel, dilation=dilation)
        self.skip = nn.Linear(dilation_channels, skip)
        self.dropout = dropout
        if last:
            self.graph_conv: DiffusionConv | None = None
            self.norm: nn.BatchNorm1d | None = None
        else:
            self.graph_conv = DiffusionConv(
                dilation_channels, residual, order=order, num_transitions=num_transitions, variant="power"
            )
            self.norm = nn.BatchNorm1d(residual)

    def forward(self, x: Tensor, transitions: list[Any]) -> tuple[Tensor | None, Tensor]:
        hidden = self.gated(x)
        # Only the last time step of each skip output reaches the forecast (the reference code
        # crops every skip to the final length, 1 step at lookback <= receptive field).
        skip = self.skip(hidden[:, -1:])
        if self.graph_conv is None or self.norm is None:  # both None together: the last layer
            return None, skip
        out = dropout(self.graph_conv(hidden, transitions), self.dropout, self.training)
        out = out + x[:, x.shape[1] - out.shape[1] :]
        # Batch norm over the channels of every (sample, step, sensor), as BatchNorm2d does on
        # the reference code's [batch, channels, nodes, time] layout.
        return self.norm(out.reshape(-1, out.shape[-1])).reshape(out.shape), skip


class GraphWaveNet(ForecastModel):
    r"""Graph WaveNet (Wu, Pan, Long, Jiang, Zhang, "Graph WaveNet for Deep Spatial-Temporal
    Graph Modeling", IJCAI 2019).

    A 1x1 input projection to ``residual_channels``, then ``blocks * layers`` layers (default
    4 x 2 = 8, dilations 1, 2, 1, 2, ...), each: a gated dilated causal convolution
    :math:`\tanh(\Theta_1 \star \mathcal{X}) \odot \sigma(\Theta_2 \star \mathcal{X})` of width
    ``temporal_kernel``; a 1x1 skip projection to ``skip_channels``; a diffusion graph
    convolution (Eq. 6-7, paper form :math:`\mathbf{P}^k\mathbf{X}`, ``order`` 2) over the
    forward and backward transition matrices and the self-adaptive adjacency
    :math:`\mathrm{SoftMax}(\mathrm{ReLU}(\mathbf{E}_1\mathbf{E}_2^\top))`; dropout; a residual
    connection; batch normalisation. The summed skips pass ReLU, a 1x1 convolution to
    ``end_channels``, ReLU and a 1x1 convolution to ``horizon * out_channels``: all horizon
    steps come out at once.

    As in the authors' code (nnzhan/Graph-WaveNet): inputs shorter than the receptive field
    (13 steps with the defaults) are padded with zeros at the start; every graph matrix,
    the adaptive one included, is applied to features over its first index (``A^T x``), which is
    what ``graph.torch_operator("forward")`` / ``("backward")`` hold and why the adaptive
    adjacency enters transposed. Inputs longer than the receptive field forecast from the last
    output step.

    Parameters: with the defaults on METR-LA (207 sensors, ``in_features=2``,
    ``out_channels=1``, horizon 12) this model has 293,688 parameters. The authors' code
    builds 309,400, of which 15,712 never receive a gradient: eight 1x1 residual convolutions
    that its graph-convolution path bypasses (8,448) and the last layer's graph convolution and
    batch norm, whose output it discards (7,264). They are not built here; the function computed
    is the same.

    **Sensor subgraphs** (``sensor_subsets``): the adaptive adjacency is built from the
    subgraph's rows of the two embeddings, its softmax over the subgraph's sensors
    (:class:`~stgraph.nn.AdaptiveAdjacency`); batch normalisation's statistics are the
    batch's either way. The adaptive adjacency links every sensor to every other, so a seed's
    forecast depends on the whole region, not only on its ``hops``-hop neighbourhood.

    Args:
        num_sensors: sensors in the graph (size of the adaptive adjacency).
        in_features: features per sensor and step in ``x`` (speed and time of day: 2).
        out_channels: forecast channels per sensor.
        lookback: input steps.
        horizon: forecast steps.
        residual_channels, dilation_channels, skip_channels, end_channels: widths (32, 32, 256, 512).
        temporal_kernel: width of the dilated convolutions (2).
        blocks: repetitions of the dilation cycle (4).
        layers: layers per block, dilations 1, 2, 4, ... (2).
        order: hops :math:`K` per transition (2).
        embedding_dim: width of the adaptive adjacency's sensor embeddings (10).
        dropout: after each graph convolution (0.3).
        adaptive: add the self-adaptive adjacency to the transitions.

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``
    """

    def __init__(
        self,
        *,
        num_sensors: int,
        in_features: int,
        out_channels: int = 1,
        lookback: int = 12,
        horizon: int = 12,
        residual_channels: int = 32,
        dilation_channels: int = 32,
        skip_channels: int = 256,
        end_channels: int = 512,
        temporal_kernel: int = 2,
        blocks: int = 4,
        layers: int = 2,
        order: int = 2,
        embedding_dim: int = 10,
        dropout: float = 0.3,
        adaptive: bool = True,
    ) -> None:
        super().__init__()
        if blocks < 1 or layers < 1 or temporal_kernel < 2:
            raise ValueError(
                f"GraphWaveNet: blocks and layers must be >= 1 and temporal_kernel >= 2; got {blocks}, {layers}, {temporal_kernel}"
            )
        self.adaptive = AdaptiveAdjacency(num_sensors, embedding_dim) if adaptive else None
        num_transitions = 3 if adaptive else 2
        self.start = nn.Linear(in_features, residual_channels)
        dilations = [2**i for _ in range(blocks) for i in range(layers)]
        self.layers = nn.ModuleList(
            WaveNetLayer(
                residual_channels,
                dilation_channels,
                skip_channels,
                temporal_kernel,
                dilation,
                num_transitions=num_transitions,
                order=order,
                dropout=dropout,
                last=i == len(dilations) - 1,
            )
            for i, dilation in enumerate(dilations)
        )
        self.receptive_field = 1 + (temporal_kernel - 1) * sum(dilations)
        self.end_hidden = nn.Linear(skip_channels, end_channels)
        self.end = nn.Linear(end_channels, horizon * out_channels)

    sensor_subsets = True

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        transitions: list[Any] = self._operators(graph, x, "forward", "backward")
        if self.adaptive is not None:
            transitions.append(self.adaptive(self._positions(graph, x)).mT)
        if x.shape[1] < self.receptive_field:
            x = F.pad(x, (0, 0, 0, 0, self.receptive_field - x.shape[1], 0))
        x = self.start(x)
        skip: Tensor | None = None  # the sum of the layers' skip outputs
        for layer in self.layers:
            x, layer_skip = layer(x, transitions)
            skip = layer_skip if skip is None else skip + layer_skip
        if skip is None:  # not reached: __init__ builds blocks * layers >= 1 layers
            raise RuntimeError("GraphWaveNet has no layers")
        out = self.end(torch.relu(self.end_hidden(torch.relu(skip))))  # [batch, 1, nodes, horizon * channels]
        return self._per_step(out)
