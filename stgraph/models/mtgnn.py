r"""MTGNN (Wu, Pan, Long, Jiang, Chang, Zhang, KDD 2020): a learned graph, mix-hop propagation
and dilated inception convolutions."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.graph_learner import GraphLearner
from stgraph.nn.mix_hop import MixHopPropagation, self_loop_row_normalized
from stgraph.nn.packed_dropout import dropout
from stgraph.nn.temporal_conv import TemporalConv
from stgraph.ops import Operator

__all__ = ["MTGNN"]

# The inception kernel widths of the paper (Sec. 4.4) and the code (dilated_inception).
INCEPTION_KERNELS = (2, 3, 6, 7)


class DilatedInception(nn.Module):
    r"""Dilated inception convolution (MTGNN, eq. 9-10): valid dilated convolutions of widths
    2, 3, 6 and 7 with ``out_features / 4`` outputs each, every output cut to the last
    :math:`T - 6d` steps (the width-7 one's length, the code's truncation) and concatenated.

    Shapes:
        x: ``[batch, time, nodes, in_features]`` -> ``[batch, time - 6 * dilation, nodes, out_features]``
    """

    def __init__(self, in_features: int, out_features: int, *, dilation: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            TemporalConv(in_features, out_features // len(INCEPTION_KERNELS), kernel, dilation=dilation)
            for kernel in INCEPTION_KERNELS
        )
        self.shrink = (max(INCEPTION_KERNELS) - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        length = x.shape[1] - self.shrink
        return torch.cat([conv(x)[:, -length:] for conv in self.convs], dim=-1)


class MTGNNLayer(nn.Module):
    r"""One MTGNN layer: gated dilated inception convolution, dropout, skip output, mix-hop
    propagation over :math:`\mathbf{P}` and :math:`\mathbf{P}'` (the two directions), residual
    connection, layer norm over (time, sensors, channels).

    Shapes:
        x: ``[batch, time, nodes, residual]`` -> (``[batch, time - 6 * dilation, nodes,
        residual]``, skip ``[batch, 1, nodes, skip]``)
    """

    def __init__(
        self,
        residual: int,
        conv_channels: int,
        skip: int,
        *,
        dilation: int,
        length: int,
        num_sensors: int,
        order: int,
        retain: float,
        dropout: float,
    ) -> None:
        super().__init__()
        self.filter = DilatedInception(residual, conv_channels, dilation=dilation)
        self.gate = DilatedInception(residual, conv_channels, dilation=dilation)
        # The code's skip convolutions span the whole remaining window: one output step.
        self.skip = TemporalConv(conv_channels, skip, length)
        self.propagate_forward = MixHopPropagation(conv_channels, residual, order=order, retain=retain)
        self.propagate_backward = MixHopPropagation(conv_channels, residual, order=order, retain=retain)
        self.norm = nn.LayerNorm((length, num_sensors, residual))
        self.dropout = dropout

    def forward(self, x: Tensor, operators: tuple[Operator | Tensor, Operator | Tensor]) -> tuple[Tensor, Tensor]:
        hidden = dropout(torch.tanh(self.filter(x)) * torch.sigmoid(self.gate(x)), self.dropout, self.training)
        out = self.propagate_forward(hidden, operators[0]) + self.propagate_backward(hidden, operators[1])
        return self.norm(out + x[:, x.shape[1] - out.shape[1] :]), self.skip(hidden)


class MTGNN(ForecastModel):
    r"""MTGNN (Wu, Pan, Long, Jiang, Chang, Zhang, "Connecting the Dots: Multivariate Time
    Series Forecasting with Graph Neural Networks", KDD 2020).

    A graph learning layer (eq. 1-6, :class:`~stgraph.nn.GraphLearner`) builds a directed
    :math:`\mathbf{A}` with ``neighbors`` entries per row; :math:`\mathbf{P} =
    \tilde{\mathbf{D}}^{-1}(\mathbf{A} + \mathbf{I})` and :math:`\mathbf{P}' =
    \tilde{\mathbf{D}}'^{-1}(\mathbf{A}^\top + \mathbf{I})` are its two row-normalised
    directions. A 1x1 projection to ``residual_channels``, then ``layers`` layers (default 3),
    each: a gated dilated inception convolution :math:`\tanh(\mathrm{DI}_1(\mathcal{X})) \odot
    \sigma(\mathrm{DI}_2(\mathcal{X}))` (eq. 9-10, widths 2, 3, 6, 7; layer
    :math:`j = 0, 1, ...` dilated by ``dilation_exponential`` to the power :math:`j`), dropout, a skip convolution over the whole remaining
    window to ``skip_channels``, mix-hop propagation (eq. 7-8,
    :class:`~stgraph.nn.MixHopPropagation`) over :math:`\mathbf{P}` plus one over
    :math:`\mathbf{P}'`, a residual connection and layer normalisation over (time, sensors,
    channels) with per-element affine weights. The skips, plus one from the (dropped-out) input
    and one from the last layer's output, are summed, pass ReLU, a 1x1 map to ``end_channels``,
    ReLU and a 1x1 map to ``horizon * out_channels``: all horizon steps at once.

    Where this follows the authors' code (nnzhan/MTGNN, ``net.py`` ``gtnet``, ``layer.py``,
    METR-LA settings of ``train_multi_step.py``): the receptive field is :math:`1 + 6\sum_j d_j`
    (19 with the defaults) and shorter inputs are padded with zeros at the start; the input
    skip (``skip0``) sees the input after dropout; the mix-hop output is one linear map of the
    concatenated hops; ``learn_graph=False`` is ``buildA_true=False``: the given graph's
    adjacency, row-normalised, in both directions. The code passes the DCRNN adjacency minus
    the identity, to which ``mixprop`` adds the identity back, so its operators are the file's
    adjacency (self-loops included) divided by its row sums, :math:`\mathbf{D}_{out}^{-1}
    \mathbf{A}` and :math:`\mathbf{D}_{in}^{-1}\mathbf{A}^\top`: the transposes of
    ``graph.torch_operator("forward")`` / ``("backward")``, used here. The static node
    features option (``load_static_feature``) is off, as in the METR-LA run, and not built.
    Differences: the code's top-k tie-breaking noise is drawn in training only (see
    :class:`~stgraph.nn.GraphLearner`); the code's subgraph training over random sensor
    splits (``num_split``, 1 for METR-LA) is not offered; curriculum learning (one more horizon
    step every 2,500 iterations) belongs to the trainer, not the model.

    Parameters: with the defaults on METR-LA (207 sensors, ``in_features=2``,
    ``out_channels=1``, horizon 12) this model has 402,284 parameters. The authors' code
    builds 405,452; the 3,168 more are its ``residual_convs.0-2`` (three 32 -> 32 1x1
    convolutions, 1,056 each), used only when the graph convolution is switched off
    (``gcn_true=False``) and never receiving a gradient otherwise. They are not built here;
    the function computed is the same. With ``learn_graph=False`` the graph learner's 19,840
    are not built either (the code builds them and leaves them unused).

    Args:
        num_sensors, in_features, out_channels, lookback, horizon: the model contract.
        learn_graph: learn the adjacency (True) or propagate over the given graph's.
        neighbors: entries kept per row of the learned adjacency (``subgraph_size``, 20); at most
            ``num_sensors`` are kept on a smaller network.
        embedding_dim: width of the graph learner's sensor embeddings (``node_dim``, 40).
        saturation: :math:`\alpha` of the graph learner's tanh (``tanhalpha``, 3).
        tie_noise: scale of the top-k tie-breaking noise in training (0.01).
        order: mix-hop depth :math:`K` (``gcn_depth``, 2).
        retain: share :math:`\beta` of the input kept at every hop (``propalpha``, 0.05).
        dilation_exponential: dilation growth per layer (1: all dilations 1).
        conv_channels, residual_channels, skip_channels, end_channels: widths (32, 32, 64, 128);
            ``conv_channels`` divisible by 4 (one quarter per inception kernel).
        layers: number of layers (3).
        dropout: after each gated convolution and on the input skip (0.3).

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``
    """

    sensor_subsets_reason = (
        "its graph learner keeps each sensor's top-k neighbours among all sensors, and its layer norm spans every sensor"
    )

    def __init__(
        self,
        *,
        num_sensors: int,
        in_features: int,
        out_channels: int = 1,
        lookback: int = 12,
        horizon: int = 12,
        learn_graph: bool = True,
        neighbors: int = 20,
        embedding_dim: int = 40,
        saturation: float = 3.0,
        tie_noise: float = 0.01,
        order: int = 2,
        retain: float = 0.05,
        dilation_exponential: int = 1,
        conv_channels: int = 32,
        residual_channels: int = 32,
        skip_channels: int = 64,
        end_channels: int = 128,
        layers: int = 3,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if layers < 1 or dilation_exponential < 1:
            raise ValueError(f"MTGNN: layers and dilation_exponential must be >= 1; got {layers} and {dilation_exponential}")
        if conv_channels % len(INCEPTION_KERNELS) != 0:
            raise ValueError(
                f"MTGNN: conv_channels must be divisible by 4 (one quarter per inception kernel); got {conv_channels}"
            )
        if learn_graph and neighbors < 1:
            raise ValueError(f"MTGNN: neighbors must be >= 1; got {neighbors}")
        self.learner = (
            # a network smaller than the paper's 20 neighbours keeps every sensor (the code's topk would fail)
            GraphLearner(
                num_sensors, embedding_dim, neighbors=min(neighbors, num_sensors), saturation=saturation, tie_noise=tie_noise
            )
            if learn_graph
            else None
        )
        dilations = [dilation_exponential**j for j in range(layers)]
        shrink = max(INCEPTION_KERNELS) - 1
        self.receptive_field = 1 + shrink * sum(dilations)
        self.window = max(lookback, self.receptive_field)
        self.start = nn.Linear(in_features, residual_channels)
        self.input_skip = TemporalConv(in_features, skip_channels, self.window)
        self.dropout = dropout
        length = self.window
        blocks = []
        for dilation in dilations:
            length -= shrink * dilation
            blocks.append(
                MTGNNLayer(
                    residual_channels,
                    conv_channels,
                    skip_channels,
                    dilation=dilation,
                    length=length,
                    num_sensors=num_sensors,
                    order=order,
                    retain=retain,
                    dropout=dropout,
                )
            )
        self.layers = nn.ModuleList(blocks)
        self.output_skip = TemporalConv(residual_channels, skip_channels, length)
        self.end_hidden = nn.Linear(skip_channels, end_channels)
        self.end = nn.Linear(end_channels, horizon * out_channels)

    def _propagation_operators(self, graph: Any, x: Tensor) -> tuple[Operator | Tensor, Operator | Tensor]:
        """:math:`\\mathbf{P}` and :math:`\\mathbf{P}'`, once per forward pass."""
        if self.learner is None:
            if graph is None:
                raise ValueError("MTGNN with learn_graph=False propagates over the given graph; got graph=None")
            forward, backward = self._operators(graph, x, "forward", "backward")
            return forward.transpose(), backward.transpose()
        if graph is not None:
            self._graph(graph)  # the sensor count is still checked
        adjacency = self.learner().to(x.dtype)
        return self_loop_row_normalized(adjacency), self_loop_row_normalized(adjacency.T)

    def forward(self, x: Tensor, graph: Any = None, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        operators = self._propagation_operators(graph, x)
        if x.shape[1] < self.window:
            x = F.pad(x, (0, 0, 0, 0, self.window - x.shape[1], 0))
        skip = self.input_skip(dropout(x, self.dropout, self.training))
        hidden = self.start(x)
        for layer in self.layers:
            hidden, layer_skip = layer(hidden, operators)
            skip = skip + layer_skip
        skip = skip + self.output_skip(hidden)
        out = self.end(torch.relu(self.end_hidden(torch.relu(skip))))  # [batch, 1, nodes, horizon * channels]
        return self._per_step(out)
