r"""D2STGNN: decoupled dynamic spatial-temporal graph neural network (Shao, Zhang, Wang, Wei, Xu,
Jensen, VLDB 2022)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.adaptive_adjacency import AdaptiveAdjacency
from stgraph.nn.calendar import check_calendar_features, day_of_week_index, time_of_day_slot
from stgraph.nn.dynamic_graph import DynamicGraphLearner, graph_powers
from stgraph.nn.packed_dropout import Dropout
from stgraph.nn.positional_encoding import SinusoidalPositionalEncoding

__all__ = ["D2STGNN"]


class _LocalizedConv(nn.Module):
    r"""Spatial-temporal localized convolution (D2STGNN's diffusion model): every output step mixes a
    window of ``temporal_kernel`` input steps over each sensor's neighbours.

    With :math:`\mathbf{X}_{t-k+1..t}` the window and :math:`[\mathbf{U}_1 \ldots \mathbf{U}_k]
    = \mathrm{ReLU}([\mathbf{X}_{t-k+1} \| \cdots \| \mathbf{X}_t]\mathbf{W}_t)` (one map over
    the stacked window, no bias),

    .. math::
        \mathbf{H}_t = \mathrm{dropout}\Big(\Big[\,\bar{\mathbf{U}} \,\Big\|\, \big\Vert_{g}
            \textstyle\sum_{j=1}^{k} \mathbf{A}_g\mathbf{U}_j\Big]\mathbf{W}_s + \mathbf{b}\Big),
        \quad \bar{\mathbf{U}} = \tfrac{1}{k}\textstyle\sum_j \mathbf{U}_j

    over the graphs :math:`\mathbf{A}_g` (dynamic hops per sample, then the static hops). The
    authors' code writes the sum as one product with the localized graph
    :math:`[\mathbf{A}_g \cdots \mathbf{A}_g] \in \mathbb{R}^{N \times kN}` (every step of the
    window shares the sensor graph); here it is :math:`\mathbf{A}_g (k\bar{\mathbf{U}})`, the same
    number with a :math:`k`-times smaller product (``tests/models/test_d2stgnn.py`` checks both
    agree). Their ``BatchNorm2d`` in this layer is never called and is left out.

    Shapes:
        x: ``[batch, time, nodes, hidden]``; dynamic: ``[batch, graphs, nodes, nodes]``; static:
        ``[graphs, nodes, nodes]`` -> ``[batch, time - temporal_kernel + 1, nodes, hidden]``
    """

    def __init__(self, hidden: int, temporal_kernel: int, graphs: int, dropout: float) -> None:
        super().__init__()
        self.temporal_kernel = temporal_kernel
        self.window = nn.Linear(temporal_kernel * hidden, temporal_kernel * hidden, bias=False)
        self.mix = nn.Linear((graphs + 1) * hidden, hidden)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, dynamic: Tensor, static: Tensor) -> Tensor:
        batch, _, nodes, hidden = x.shape
        kernel = self.temporal_kernel
        windows = x.unfold(1, kernel, 1).transpose(-1, -2)  # [batch, steps, nodes, kernel, hidden]
        steps = windows.shape[1]
        mixed = F.relu(self.window(windows.reshape(batch, steps, nodes, kernel * hidden))).view(
            batch, steps, nodes, kernel, hidden
        )
        mean = mixed.mean(dim=-2)
        # Graph products on [batch, nodes, steps * hidden]: one batched product for the
        # per-sample graphs, one broadcast product for the static ones.
        total = mixed.sum(dim=-2).permute(0, 2, 1, 3).reshape(batch, nodes, steps * hidden)
        graphs = torch.cat(
            [
                (dynamic.reshape(batch, -1, nodes) @ total).view(batch, -1, nodes, steps, hidden),
                (static.reshape(-1, nodes) @ total).view(batch, -1, nodes, steps, hidden),
            ],
            dim=1,
        )
        terms = graphs.permute(0, 3, 2, 1, 4).reshape(batch, steps, nodes, -1)
        out: Tensor = self.dropout(self.mix(torch.cat([mean, terms], dim=-1)))
        return out


class _ResidualDecomposition(nn.Module):
    r""":math:`\mathrm{LayerNorm}(\mathbf{X} - \mathrm{ReLU}(\mathbf{B}))`: removes what a block
    explained (its backcast :math:`\mathbf{B}`) from the signal it passes on (D2STGNN's
    residual decomposition)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.backcast = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, signal: Tensor, hidden: Tensor) -> Tensor:
        out: Tensor = self.norm(signal - F.relu(self.backcast(hidden)))
        return out


class _DiffusionBlock(nn.Module):
    r"""The diffusion (spatial) block: localized convolution over the gated signal, a forecast
    branch rolling the same convolution forward auto-regressively, and the residual
    decomposition of what it explained.

    Shapes:
        signal, gated: ``[batch, time, nodes, hidden]`` -> residual ``[batch, time -
        temporal_kernel + 1, nodes, hidden]``, forecast ``[batch, steps, nodes, forecast_dim]``
    """

    def __init__(self, hidden: int, temporal_kernel: int, graphs: int, forecast_dim: int, dropout: float) -> None:
        super().__init__()
        self.conv = _LocalizedConv(hidden, temporal_kernel, graphs, dropout)
        self.forecast = nn.Linear(hidden, forecast_dim)
        self.decomposition = _ResidualDecomposition(hidden)

    def forward(self, signal: Tensor, gated: Tensor, dynamic: Tensor, static: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        hidden = self.conv(gated, dynamic, static)
        kernel = self.conv.temporal_kernel
        predicted = [hidden[:, -1:]]
        for _ in range(steps - 1):
            recent = predicted[-kernel:]
            missing = kernel - len(recent)  # taken from the end of the gated input
            window = torch.cat(([gated[:, -missing:]] if missing else []) + recent, dim=1)
            predicted.append(self.conv(window, dynamic, static))
        forecast = self.forecast(torch.cat(predicted, dim=1))
        residual = self.decomposition(signal[:, -hidden.shape[1] :], hidden)
        return residual, forecast


class _InherentBlock(nn.Module):
    r"""The inherent (temporal) block: a GRU per sensor, positional encoding and multi-head
    self-attention over time; its forecast branch continues the GRU and attends to all states.

    Shapes:
        signal: ``[batch, time, nodes, hidden]`` -> residual (same shape, or None without
        backcast), forecast ``[batch, steps, nodes, forecast_dim]``
    """

    def __init__(self, hidden: int, heads: int, forecast_dim: int, dropout: float, max_length: int, backcast: bool) -> None:
        super().__init__()
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.gru_dropout = Dropout(dropout)
        self.positional = SinusoidalPositionalEncoding(hidden, dropout, max_length=max_length)
        self.attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.attention_dropout = Dropout(dropout)
        self.forecast = nn.Linear(hidden, forecast_dim)
        self.decomposition = _ResidualDecomposition(hidden) if backcast else None

    def _attend(self, query: Tensor, states: Tensor) -> Tensor:
        out: Tensor = self.attention_dropout(self.attention(query, states, states, need_weights=False)[0])
        return out

    def forward(self, signal: Tensor, steps: int) -> tuple[Tensor | None, Tensor]:
        batch, time, nodes, hidden = signal.shape
        sequences = signal.transpose(1, 2).reshape(batch * nodes, time, hidden)
        states = self.positional(self.gru_dropout(self.gru(sequences)[0]))
        attended = self._attend(states, states)
        predicted = [attended[:, -1:]]
        for _ in range(steps - 1):
            new_state = self.gru(predicted[-1], states[:, -1:].transpose(0, 1).contiguous())[0]
            # As the authors' code: the positions are encoded again over all states, old ones included.
            states = self.positional(torch.cat([states, new_state], dim=1))
            predicted.append(self._attend(new_state, states))
        forecast = self.forecast(torch.cat(predicted, dim=1).view(batch, nodes, steps, hidden).transpose(1, 2))
        if self.decomposition is None:
            return None, forecast
        attended = attended.view(batch, nodes, time, hidden).transpose(1, 2)
        return self.decomposition(signal, attended), forecast


class _DecoupleLayer(nn.Module):
    r"""Estimation gate, diffusion block, inherent block (one D2STGNN layer).

    The gate :math:`\sigma(\mathrm{FC}(\mathrm{ReLU}(\mathrm{FC}([\mathbf{T}^D \| \mathbf{T}^W \|
    \mathbf{E}_u \| \mathbf{E}_d]))))` estimates per sensor and step the share of the signal that
    diffuses; the diffusion block sees the gated signal, the inherent block what is left.
    """

    def __init__(
        self,
        *,
        hidden: int,
        gate_width: int,
        gate_hidden: int,
        temporal_kernel: int,
        graphs: int,
        heads: int,
        forecast_dim: int,
        dropout: float,
        max_length: int,
        backcast: bool,
    ) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(gate_width, gate_hidden), nn.ReLU(), nn.Linear(gate_hidden, 1), nn.Sigmoid())
        self.diffusion = _DiffusionBlock(hidden, temporal_kernel, graphs, forecast_dim, dropout)
        self.inherent = _InherentBlock(hidden, heads, forecast_dim, dropout, max_length, backcast)

    def forward(
        self, signal: Tensor, gate_input: Tensor, dynamic: Tensor, static: Tensor, steps: int
    ) -> tuple[Tensor | None, Tensor]:
        gated = signal * self.gate(gate_input[:, -signal.shape[1] :])
        residual, diffusion_forecast = self.diffusion(signal, gated, dynamic, static, steps)
        passed_on, inherent_forecast = self.inherent(residual, steps)
        return passed_on, diffusion_forecast + inherent_forecast


class D2STGNN(ForecastModel):
    r"""Decoupled dynamic spatial-temporal GNN: each layer splits the signal into a diffusion part
    (spread over a dynamic graph) and an inherent part (each sensor's own dynamics), forecasts
    from both and passes on what neither explained.

    With :math:`\mathbf{X}^{(0)} = \mathbf{x}\mathbf{W}_{in}` the embedded readings
    ``[batch, lookback, nodes, hidden]``, layer :math:`l = 1..5` computes

    .. math::
        \mathbf{X}_{dif} = \Lambda \odot \mathbf{X}^{(l-1)},\qquad
        \mathbf{H}_{dif} = \mathrm{LocalizedConv}(\mathbf{X}_{dif};\ \mathcal{A}),\qquad
        \mathbf{X}_{inh} = \mathrm{LN}\big(\mathbf{X}^{(l-1)} - \mathrm{ReLU}(\mathbf{H}_{dif}\mathbf{W}_{b})\big)

    .. math::
        \mathbf{H}_{inh} = \mathrm{MSA}(\mathrm{PE}(\mathrm{GRU}(\mathbf{X}_{inh}))),\qquad
        \mathbf{X}^{(l)} = \mathrm{LN}\big(\mathbf{X}_{inh} - \mathrm{ReLU}(\mathbf{H}_{inh}\mathbf{W}_{b}')\big)

    (only the localized convolution shortens the window: ``temporal_kernel - 1`` steps per
    layer), with :math:`\Lambda` the estimation gate. The graphs :math:`\mathcal{A}` are the
    ``order`` hops (diagonals removed) of two dynamic graphs per sample, learned from the window
    and masked by the road graph's forward and backward transitions
    (:class:`~stgraph.nn.DynamicGraphLearner`), and of the static self-adaptive graph
    :math:`\mathrm{SoftMax}(\mathrm{ReLU}(\mathbf{E}_u\mathbf{E}_d^\top))`
    (:class:`~stgraph.nn.AdaptiveAdjacency`, whose embeddings :math:`\mathbf{E}_u,
    \mathbf{E}_d` the gate and the dynamic graphs read too). Both blocks have a forecast branch
    that rolls its own model forward for :math:`P = \lceil H / g \rceil` hidden steps (the
    convolution on its last outputs; the GRU one step further, attending to all its states),
    :math:`g` = ``gap``. The forecast sums both branches of every layer,

    .. math::
        \hat{\mathbf{Y}} = \mathrm{FC}_{512 \to g}\big(\mathrm{ReLU}(\mathrm{FC}_{256 \to 512}(
            \mathrm{ReLU}(\textstyle\sum_l \mathbf{F}^{(l)}_{dif} + \mathbf{F}^{(l)}_{inh})))\big),

    each hidden step emitting :math:`g` consecutive horizon steps. The time of day and day of
    week of every input step select two embeddings (``steps_per_day`` and 7 rows) used by the
    gate and, from the window's last step, by the dynamic graphs.

    Defaults are the authors' METR-LA configuration (zezhishao/D2STGNN, ``configs/METR-LA.yaml``
    and ``models/model.py``: ``num_hidden`` 32, ``node_hidden`` 10, ``time_emb_dim`` 10,
    ``k_s`` 2, ``k_t`` 3, ``gap`` 3, dropout 0.1, and the fixed 5 layers, 4 heads, gate width
    64, forecast width 256, output width 512).

    Where this differs from the authors' code: (1) the readings are every input feature that is
    not a calendar covariate (their ``num_feat``; the dynamic graphs read the first of them, as
    their ``X[..., 0]``), and ``out_channels`` outputs per horizon step; (2) the time-of-day slot
    is rounded (:func:`~stgraph.nn.time_of_day_slot`), theirs truncates ``tod * 288``, which puts
    a float32 fraction just below a slot boundary into the previous slot; (3) the localized
    convolution multiplies each graph once by the window's sum instead of the ``N x kN``
    localized graph (the same numbers, see :class:`_LocalizedConv`); the GRU runs as one
    ``nn.GRU`` over the window instead of a Python loop of ``GRUCell`` (the same weights and
    function); (4) :math:`P = \lceil H/g \rceil` hidden steps, the forecast cut to ``horizon``,
    where theirs needs ``horizon`` divisible by ``gap``; (5) a calendar covariate missing from
    the inputs switches its embedding off (the gate and the dynamic graphs read the other one,
    or only the sensor embeddings and the window), where theirs requires both; (6) the 1,792
    parameters their code builds and never uses are not built: ``DistanceFunction.time_slot_embedding`` (352, never
    called), the ``BatchNorm2d`` of each layer's ``STLocalizedConv`` (5 x 64, never called) and
    the last layer's inherent backcast and its LayerNorm (1,056 + 64: the last layer's residual
    is discarded), so the METR-LA configuration has 390,170 parameters where theirs has
    391,962. Kept as in their code: the predefined graph enters only as the mask of the dynamic
    graphs (``use_pre = False``: no product with the transition matrices themselves), and the
    inherent forecast branch adds the positional encoding again to all states at every step.
    BasicTS's copy (``baselines/D2STGNN``) differs slightly: positional encoding in the first
    layer only, the static graph from :math:`\mathbf{E}_d\mathbf{E}_u^\top`; we follow the
    authors' repository. With the authors' weights mapped onto these modules, the forecasts of
    the two agree to 3e-16 in float64 (evaluation mode, a 7-sensor graph; checked against a
    checkout of zezhishao/D2STGNN, not part of the test suite).

    Args:
        num_sensors, in_features, out_channels, lookback, horizon: the model contract.
        time_of_day_feature: position in ``x``'s features of the time of day as a fraction of
            the day in ``[0, 1)`` (:func:`stgraph.data.covariates.time_of_day`); None: no
            time-of-day embedding (the authors' model always has one).
        day_of_week_feature: position of the day-of-week index 0..6; None: no day-of-week
            embedding.
        steps_per_day: time-of-day slots (288 for 5-minute readings).
        hidden: width of the signal (``num_hidden``, 32).
        embedding_dim: width of the sensor embeddings :math:`\mathbf{E}_u, \mathbf{E}_d`
            (``node_hidden``, 10).
        calendar_dim: width of the time-of-day and day-of-week embeddings (``time_emb_dim``, 10).
        order: graph hops (``k_s``, 2).
        temporal_kernel: steps per localized convolution (``k_t``, 3).
        gap: horizon steps per forecast hidden step (3).
        layers: decouple layers (5); ``lookback`` must exceed ``layers * (temporal_kernel - 1)``.
        heads: attention heads of the inherent block (4).
        gate_hidden: hidden width of the estimation gate (64).
        forecast_dim: width of the forecast branches (256).
        output_hidden: hidden width of the output layer (512).
        dropout: dropout everywhere (0.1).

    Shapes:
        x: ``[batch, lookback, nodes, in_features]``, graph: the road graph (its ``forward`` and
        ``backward`` transitions) -> ``[batch, horizon, nodes, out_channels]``
    """

    sensor_subsets_reason = "its dynamic graph learner and adaptive adjacency span all sensors"

    def __init__(
        self,
        *,
        num_sensors: int,
        in_features: int,
        out_channels: int = 1,
        lookback: int = 12,
        horizon: int = 12,
        time_of_day_feature: int | None = None,
        day_of_week_feature: int | None = None,
        steps_per_day: int = 288,
        hidden: int = 32,
        embedding_dim: int = 10,
        calendar_dim: int = 10,
        order: int = 2,
        temporal_kernel: int = 3,
        gap: int = 3,
        layers: int = 5,
        heads: int = 4,
        gate_hidden: int = 64,
        forecast_dim: int = 256,
        output_hidden: int = 512,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_calendar_features("D2STGNN", in_features, time_of_day_feature, day_of_week_feature)
        if time_of_day_feature is not None and time_of_day_feature == day_of_week_feature:
            raise ValueError(f"D2STGNN: time_of_day_feature and day_of_week_feature are both {time_of_day_feature}")
        readings = [f for f in range(in_features) if f not in (time_of_day_feature, day_of_week_feature)]
        if not readings:
            raise ValueError(f"D2STGNN: no reading among the {in_features} input features besides the calendar")
        if min(steps_per_day, hidden, order, gap, layers, heads) < 1 or temporal_kernel < 2:
            raise ValueError("D2STGNN: steps_per_day, hidden, order, gap, layers and heads must be >= 1 and temporal_kernel >= 2")
        if lookback <= layers * (temporal_kernel - 1):
            raise ValueError(
                f"D2STGNN: each of the {layers} layers shortens the window by temporal_kernel - 1 = "
                f"{temporal_kernel - 1} steps; lookback {lookback} leaves none"
            )
        self.time_of_day_feature = time_of_day_feature
        self.day_of_week_feature = day_of_week_feature
        self.steps_per_day = steps_per_day
        self.gap = gap
        self.forecast_steps = -(-horizon // gap)
        self.readings: Tensor
        self.register_buffer("readings", torch.tensor(readings), persistent=False)

        self.embedding = nn.Linear(len(readings), hidden)
        self.time_of_day_embedding: nn.Parameter | None = None
        self.day_of_week_embedding: nn.Parameter | None = None
        if time_of_day_feature is not None:
            self.time_of_day_embedding = nn.Parameter(torch.empty(steps_per_day, calendar_dim))
        if day_of_week_feature is not None:
            self.day_of_week_embedding = nn.Parameter(torch.empty(7, calendar_dim))
        calendar_width = calendar_dim * ((time_of_day_feature is not None) + (day_of_week_feature is not None))
        self.adaptive = AdaptiveAdjacency(num_sensors, embedding_dim)
        for embedding in (self.time_of_day_embedding, self.day_of_week_embedding, *self.adaptive.parameters()):
            if embedding is not None:
                nn.init.xavier_uniform_(embedding)
        self.dynamic_graph = DynamicGraphLearner(
            lookback=lookback,
            hidden=hidden,
            embedding_dim=embedding_dim,
            calendar_width=calendar_width,
            order=order,
            dropout=dropout,
        )
        graphs = 3 * order  # two dynamic graphs and the static one, ``order`` hops each
        self.layers = nn.ModuleList(
            _DecoupleLayer(
                hidden=hidden,
                gate_width=2 * embedding_dim + calendar_width,
                gate_hidden=gate_hidden,
                temporal_kernel=temporal_kernel,
                graphs=graphs,
                heads=heads,
                forecast_dim=forecast_dim,
                dropout=dropout,
                max_length=lookback + self.forecast_steps,
                backcast=layer < layers - 1,  # the last layer's residual goes nowhere
            )
            for layer in range(layers)
        )
        self.output_inner = nn.Linear(forecast_dim, output_hidden)
        self.output_outer = nn.Linear(output_hidden, gap * out_channels)

    def forward(self, x: Tensor, graph: Any, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        masks = [operator.to_dense() for operator in self._operators(graph, x, "forward", "backward")]
        batch = x.shape[0]
        readings = x.index_select(-1, self.readings)
        calendar = []  # [batch, lookback, nodes, calendar_dim] each
        if self.time_of_day_embedding is not None and self.time_of_day_feature is not None:
            calendar.append(self.time_of_day_embedding[time_of_day_slot(x[..., self.time_of_day_feature], self.steps_per_day)])
        if self.day_of_week_embedding is not None and self.day_of_week_feature is not None:
            calendar.append(self.day_of_week_embedding[day_of_week_index(x[..., self.day_of_week_feature])])
        source_embedding, target_embedding = self.adaptive.source_embedding, self.adaptive.target_embedding

        static = graph_powers(self.adaptive(), self.dynamic_graph.order)
        dynamic = self.dynamic_graph(
            readings[..., 0],
            torch.cat(calendar, dim=-1)[:, -1] if calendar else None,
            embeddings=(target_embedding, source_embedding),
            masks=masks,
        )
        sensors = torch.cat([source_embedding, target_embedding], dim=-1).expand(batch, self.lookback, -1, -1)
        gate_input = torch.cat([*calendar, sensors], dim=-1)

        signal = self.embedding(readings)
        forecast_hidden = torch.zeros((), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            passed_on, forecast = layer(signal, gate_input, dynamic, static, self.forecast_steps)
            forecast_hidden = forecast_hidden + forecast
            if passed_on is not None:  # None after the last layer
                signal = passed_on
        out: Tensor = self.output_outer(F.relu(self.output_inner(F.relu(forecast_hidden))))
        # [batch, steps, nodes, gap * channels] -> [batch, steps * gap, nodes, channels]
        out = out.view(batch, self.forecast_steps, self.num_sensors, self.gap, self.out_channels).transpose(2, 3)
        return out.reshape(batch, self.forecast_steps * self.gap, self.num_sensors, self.out_channels)[:, : self.horizon]
