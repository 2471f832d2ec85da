r"""AGCRN: adaptive graph convolutional recurrent network (Bai, Yao, Li, Wang, Wang, NeurIPS 2020)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.adaptive_graph_conv import NodeAdaptiveGraphConv, embedding_adjacency

__all__ = ["AGCRN"]


class _AGCRNCell(nn.Module):
    r"""A GRU whose gates are node-adaptive graph convolutions.

    .. math::
        [\mathbf{r}_t, \mathbf{u}_t] &= \sigma\big(\mathcal{G}_{ru}([\mathbf{X}_t, \mathbf{H}_{t-1}])\big), \quad
        \mathbf{C}_t = \tanh\big(\mathcal{G}_C([\mathbf{X}_t, \mathbf{r}_t \odot \mathbf{H}_{t-1}])\big), \\
        \mathbf{H}_t &= \mathbf{u}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{u}_t) \odot \mathbf{C}_t

    the equations of :class:`~stgraph.nn.GraphGRUCell`, whose cell-wide biases AGCRN does not
    have: its biases are per sensor, inside each :class:`NodeAdaptiveGraphConv`. (The authors'
    code names the first half of the gate ``z`` and the second ``r``, and uses them as reset and
    update gate respectively, as here.)

    Shapes:
        x: ``[batch, nodes, in_features]``, state: ``[batch, nodes, hidden]`` -> ``[batch, nodes, hidden]``
    """

    def __init__(self, in_features: int, hidden: int, *, embedding_dim: int, order: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = NodeAdaptiveGraphConv(in_features + hidden, 2 * hidden, embedding_dim=embedding_dim, order=order)
        self.candidate = NodeAdaptiveGraphConv(in_features + hidden, hidden, embedding_dim=embedding_dim, order=order)

    def forward(self, x: Tensor, state: Tensor, embedding: Tensor, adjacency: Tensor) -> Tensor:
        gates = torch.sigmoid(self.gates(torch.cat([x, state], dim=-1), embedding, adjacency))
        reset, update = gates.chunk(2, dim=-1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], dim=-1), embedding, adjacency))
        return update * state + (1 - update) * candidate


class AGCRN(ForecastModel):
    r"""AGCRN (Bai, Yao, Li, Wang, Wang, "Adaptive Graph Convolutional Recurrent Network for
    Traffic Forecasting", NeurIPS 2020).

    One learned sensor embedding :math:`\mathbf{E} \in \mathbb{R}^{N \times d}` serves two
    modules. **DAGG** (data-adaptive graph generation) builds the graph from it,
    :math:`\mathbf{A} = \mathrm{SoftMax}(\mathrm{ReLU}(\mathbf{E}\mathbf{E}^\top))` (rows sum
    to 1), once per forward pass; **NAPL** (node-adaptive parameter learning) reads each
    sensor's weights and biases from it, :math:`\mathbf{W}_n = \mathbf{e}_n\mathcal{W}`, :math:`\mathbf{b}_n = \mathbf{e}_n\mathcal{B}`
    (:class:`~stgraph.nn.NodeAdaptiveGraphConv` with supports :math:`T_k(\mathbf{A})`,
    :math:`k = 0 \dots` ``order``). A GRU whose gates are these convolutions reads the
    ``lookback`` steps; ``layers`` such GRUs are stacked, each reading the hidden sequence of
    the one below. The forecast is read from the top layer's last hidden state
    :math:`\mathbf{H}_L \in \mathbb{R}^{N \times h}` by one map shared by all sensors,
    :math:`\hat{\mathbf{Y}}_n = \mathbf{W}_o\mathbf{H}_{L,n} + \mathbf{b}_o` with
    ``horizon * out_channels`` outputs (the authors' ``end_conv``, a ``Conv2d(1, horizon *
    out_channels, kernel_size=(1, hidden))``: the same computation as a linear layer). The
    graph is not used: the model learns its own, as in the paper.

    Where this follows the authors' code (LeiBAI/AGCRN, ``model/AGCRN.py``, ``AGCRNCell.py``,
    ``AGCN.py``): Chebyshev-style supports :math:`[\mathbf{I}, \mathbf{A}, 2\mathbf{A}^2 -
    \mathbf{I}, \dots]` with their own weights (the paper's formula shares one weight over
    :math:`\mathbf{I} + \mathbf{A}`); zero initial states; the end convolution kept as a
    ``Conv2d``, so its parameters have the authors' shapes; and the authors' initialisation
    from ``Run.py``: every parameter of more than one dimension Glorot-uniform (the sensor
    embedding too, replacing its ``randn``), the others (the end convolution's bias)
    uniform on :math:`[0, 1)`. Differences: the adjacency is computed once per forward pass,
    not inside each of the convolutions (the same numbers, fewer products), and ``order``
    counts hops, so the authors' ``cheb_k`` is ``order + 1``.

    Defaults are the paper's and code's PEMSD4/PEMSD8 settings (``PEMSD4_AGCRN.conf``):
    ``embedding_dim=10``, ``hidden=64``, ``layers=2``, ``cheb_order=2`` (``order=1``); the
    paper feeds the flow alone (``in_features=1``).

    Args:
        num_sensors, in_features, out_channels, lookback, horizon: the model contract.
        embedding_dim: width :math:`d` of the sensor embedding (the authors' ``embed_dim``).
        hidden: GRU units per sensor (``rnn_units``).
        layers: stacked GRU layers (``num_layers``).
        order: hops of the graph convolution (``cheb_k - 1``).

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``
    """

    sensor_subsets_reason = (
        "its learned graph softmax(relu(E E^T)) and weight pools are built from all sensors' embeddings "
        "(slicing them as Graph WaveNet's adaptive adjacency is sliced is possible, not done)"
    )

    def __init__(
        self,
        *,
        num_sensors: int,
        in_features: int,
        out_channels: int = 1,
        lookback: int = 12,
        horizon: int = 12,
        embedding_dim: int = 10,
        hidden: int = 64,
        layers: int = 2,
        order: int = 1,
    ) -> None:
        super().__init__()
        for name, value, least in (
            ("embedding_dim", embedding_dim, 1),
            ("hidden", hidden, 1),
            ("layers", layers, 1),
            ("order", order, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"AGCRN: {name} must be an integer >= {least}, got {value!r}")
        self.hidden = hidden
        self.node_embedding = nn.Parameter(torch.empty(num_sensors, embedding_dim))
        self.cells = nn.ModuleList(
            _AGCRNCell(in_features if i == 0 else hidden, hidden, embedding_dim=embedding_dim, order=order) for i in range(layers)
        )
        self.end_conv = nn.Conv2d(1, horizon * out_channels, kernel_size=(1, hidden))
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
            else:
                nn.init.uniform_(param)

    def forward(self, x: Tensor, graph: Any = None, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        if graph is not None:
            self._graph(graph)
        adjacency = embedding_adjacency(self.node_embedding)
        sequence = x
        for cell in self.cells:
            state = x.new_zeros(x.shape[0], self.num_sensors, self.hidden)
            states = []
            for t in range(self.lookback):
                state = cell(sequence[:, t], state, self.node_embedding, adjacency)
                states.append(state)
            sequence = torch.stack(states, dim=1)
        # end_conv reads the last state as a one-channel image [batch, 1, nodes, hidden].
        out = self.end_conv(sequence[:, -1:]).squeeze(-1)  # [batch, horizon * out_channels, nodes]
        return self._per_step(out.transpose(1, 2))
