r"""T-GCN: temporal graph convolutional network (Zhao et al., IEEE T-ITS 2020)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.graph_conv import GCNConv
from stgraph.nn.graph_gru import GraphGRUCell

__all__ = ["TGCN"]


def _bias_free_gcn(in_features: int, out_features: int) -> GCNConv:
    return GCNConv(in_features, out_features, bias=False)


class TGCN(ForecastModel):
    r"""T-GCN (Zhao, Song, Zhang, Liu, Wang, Lin, Deng, Li, "T-GCN: A Temporal Graph
    Convolutional Network for Traffic Prediction", IEEE T-ITS 21(9), 2020).

    One GRU whose gates and candidate are GCN convolutions (Eqs. 3-6) over
    :math:`\hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}(\mathbf{A} + \mathbf{I})\tilde{\mathbf{D}}^{-1/2}`
    (``graph.torch_operator("gcn")``; the same :class:`~stgraph.nn.GraphGRUCell` as DCRNN,
    with a GCN convolution), reads the ``lookback`` steps; a linear layer shared by all sensors
    maps its last hidden state to the ``horizon`` forecasts, as in the authors' code
    (lehaifeng/T-GCN: ``Linear(hidden_dim, pre_len)``), here ``horizon * out_channels`` wide.

    Default ``hidden=64`` is the paper's choice for Los-loop; it uses 100 for SZ-taxi. The paper
    feeds speed alone (``in_features=1``); covariates may be appended.

    Args:
        num_sensors: sensors in the graph.
        in_features: features per sensor and step in ``x``.
        out_channels: forecast channels per sensor.
        lookback: input steps.
        horizon: forecast steps.
        hidden: GRU units per sensor.

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
        hidden: int = 64,
    ) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"TGCN: hidden must be >= 1, got {hidden}")
        self.cell = GraphGRUCell(in_features, hidden, _bias_free_gcn)
        self.head = nn.Linear(hidden, horizon * out_channels)

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x)
        [operator] = self._operators(graph, x, "gcn")
        state = self.cell.initial_state(x[:, 0])
        for t in range(self.lookback):
            state = self.cell(x[:, t], state, operator)
        return self._per_step(self.head(state))
