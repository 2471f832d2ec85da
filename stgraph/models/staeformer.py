r"""STAEformer: spatio-temporal adaptive embedding transformer (Liu, Yang, Jiang, Kang, Ma, Song,
Shao, Fan, Wang, Xu, Wu, Song, CIKM 2023), vanilla self-attention along time, then along sensors,
over an input, calendar and adaptive embedding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.attention import multi_head_attention
from stgraph.nn.calendar import check_calendar_features, day_of_week_index, time_of_day_slot
from stgraph.nn.packed_dropout import Dropout

__all__ = ["STAEformer"]


class _SelfAttentionLayer(nn.Module):
    r"""Post-norm transformer layer along the second-to-last axis (the authors' ``SelfAttentionLayer``).

    .. math::
        u = \mathrm{LN}_1\big(h + \mathrm{dropout}(\mathrm{MHA}(h, h, h))\big),\qquad
        \mathrm{out} = \mathrm{LN}_2\big(u + \mathrm{dropout}(W_2\,\mathrm{ReLU}(W_1 u))\big)

    with :math:`\mathrm{MHA}` multi-head scaled dot-product attention, ``heads`` heads of width
    ``width / heads``, each position attending to every position of the axis (no mask).

    Shapes:
        h: ``[..., length, width]`` -> ``[..., length, width]``
    """

    def __init__(self, width: int, feed_forward_dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.feed_forward = nn.Sequential(nn.Linear(width, feed_forward_dim), nn.ReLU(), nn.Linear(feed_forward_dim, width))
        self.norm1 = nn.LayerNorm(width)
        self.norm2 = nn.LayerNorm(width)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def attention(self, h: Tensor) -> Tensor:
        """Multi-head self-attention along the second-to-last axis, before dropout and norm
        (:func:`stgraph.nn.multi_head_attention`)."""
        mixed = multi_head_attention(self.query(h), self.key(h), self.value(h), self.heads)
        out: Tensor = self.out(mixed)
        return out

    def forward(self, h: Tensor) -> Tensor:
        h = self.norm1(h + self.dropout1(self.attention(h)))
        out: Tensor = self.norm2(h + self.dropout2(self.feed_forward(h)))
        return out


class STAEformer(ForecastModel):
    r"""Spatio-temporal adaptive embedding transformer: every (step, sensor) is embedded, a stack of
    transformer layers attends along time, another along sensors, and one linear map reads each
    sensor's whole window out to the horizon.

    For step :math:`t` of the window and sensor :math:`n`,

    .. math::
        h_{t,n} = \big[\,W_x x_{t,n} + b_x \;\|\; E^{\text{day}}_{\tau(t)} \;\|\;
            E^{\text{week}}_{d(t)} \;\|\; E^{\text{a}}_{t,n}\,\big],\qquad
        H \leftarrow \mathrm{TL}^{\text{sensor}}_{1..K_s}\big(\mathrm{TL}^{\text{time}}_{1..K_t}(H)\big),\qquad
        \hat y_n = W_o\,\mathrm{vec}(H_{1:L,\,n}) + b_o

    with :math:`\tau(t)` the step's slot within the day (``steps_per_day`` slots) and :math:`d(t)`
    its day of week, read from the calendar covariates of *every* input step;
    :math:`E^{\text{a}} \in \mathbb{R}^{L \times N \times 80}` the spatio-temporal adaptive
    embedding, one learned vector per window position and sensor (the paper's contribution: it
    replaces a graph); :math:`\mathrm{TL}^{\text{time}}` a :class:`_SelfAttentionLayer` over the
    :math:`L` steps of each sensor, :math:`\mathrm{TL}^{\text{sensor}}` one over the :math:`N`
    sensors of each step. The width is ``input_embedding_dim + time_of_day_dim +
    day_of_week_dim + adaptive_embedding_dim`` (24 + 24 + 24 + 80 = 152). The graph is not used.

    Where this follows the authors' code (XDZhelheim/STAEformer, ``model/STAEformer.py`` with the
    METR-LA block of ``model/STAEformer.yaml``): the input projection reads every input
    feature (their ``input_dim: 3`` = reading, time of day, day of week; the time of day enters
    both as a raw fraction and through its embedding), the calendar embeddings are looked up per
    step, the adaptive embedding is Xavier-uniform initialised, the transformer layers are
    post-norm with dropout after attention and after the feed-forward block and none inside the
    attention, and the output is their ``use_mixed_proj`` map from ``lookback x width`` to
    ``horizon x out_channels`` per sensor. 1,258,980 parameters at METR-LA, as there
    (tests/models/test_staeformer.py). Differences: the time-of-day slot is rounded (and taken
    modulo ``steps_per_day``) where theirs truncates ``tod * steps_per_day``, so a float32
    fraction just below a slot boundary does not land in the previous slot, and the day of week
    is rounded and clamped to 0..6; a missing covariate (position None) switches its embedding
    off and narrows the width (theirs: ``tod_embedding_dim: 0``); the time and sensor stacks may
    have different depths (theirs: one ``num_layers``); their unused options
    (``spatial_embedding_dim``, the ``use_mixed_proj: False`` head) are left out. The embedding
    tables are :class:`~torch.nn.Embedding`s initialised N(0, 1), as theirs.

    Args:
        num_sensors, in_features, out_channels, lookback, horizon: the model contract.
        time_of_day_feature: position in ``x``'s features of the time of day as a fraction of
            the day in ``[0, 1)`` (:func:`stgraph.data.covariates.time_of_day`); None: no
            time-of-day embedding.
        day_of_week_feature: position of the day-of-week index 0..6; None: no day-of-week
            embedding.
        steps_per_day: time-of-day slots (288 for 5-minute readings, 24 for hourly).
        input_embedding_dim: width of the projection of each step's features.
        time_of_day_dim, day_of_week_dim: widths of the calendar embeddings.
        adaptive_embedding_dim: width of the spatio-temporal adaptive embedding.
        feed_forward_dim: hidden width of each layer's feed-forward block.
        heads: attention heads; must divide the width.
        temporal_layers, spatial_layers: transformer layers along time, then along sensors.
        dropout: after each attention and feed-forward block.

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``.
    """

    sensor_subsets_reason = "its spatial self-attention and adaptive embedding span all sensors"

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
        input_embedding_dim: int = 24,
        time_of_day_dim: int = 24,
        day_of_week_dim: int = 24,
        adaptive_embedding_dim: int = 80,
        feed_forward_dim: int = 256,
        heads: int = 4,
        temporal_layers: int = 3,
        spatial_layers: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_calendar_features("STAEformer", in_features, time_of_day_feature, day_of_week_feature)
        if steps_per_day < 1 or temporal_layers < 0 or spatial_layers < 0:
            raise ValueError(
                "STAEformer: steps_per_day must be >= 1 and temporal_layers, spatial_layers >= 0; "
                f"got {steps_per_day}, {temporal_layers}, {spatial_layers}"
            )
        self.time_of_day_feature = time_of_day_feature
        self.day_of_week_feature = day_of_week_feature
        self.steps_per_day = steps_per_day
        self.input_embedding = nn.Linear(in_features, input_embedding_dim)
        width = input_embedding_dim + adaptive_embedding_dim
        self.time_of_day_embedding: nn.Embedding | None = None
        self.day_of_week_embedding: nn.Embedding | None = None
        if time_of_day_feature is not None:
            self.time_of_day_embedding = nn.Embedding(steps_per_day, time_of_day_dim)
            width += time_of_day_dim
        if day_of_week_feature is not None:
            self.day_of_week_embedding = nn.Embedding(7, day_of_week_dim)
            width += day_of_week_dim
        if width % heads:
            raise ValueError(f"STAEformer: heads ({heads}) must divide the width {width}")
        self.adaptive_embedding = nn.Parameter(torch.empty(lookback, num_sensors, adaptive_embedding_dim))
        nn.init.xavier_uniform_(self.adaptive_embedding)
        self.temporal = nn.ModuleList(
            _SelfAttentionLayer(width, feed_forward_dim, heads, dropout) for _ in range(temporal_layers)
        )
        self.spatial = nn.ModuleList(_SelfAttentionLayer(width, feed_forward_dim, heads, dropout) for _ in range(spatial_layers))
        self.output = nn.Linear(lookback * width, horizon * out_channels)

    def embed(self, x: Tensor) -> Tensor:
        """The concatenated input, calendar and adaptive embeddings of every step and sensor.

        Shapes:
            x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, lookback, nodes, width]``
        """
        parts = [self.input_embedding(x)]
        if self.time_of_day_embedding is not None and self.time_of_day_feature is not None:
            slot = time_of_day_slot(x[..., self.time_of_day_feature], self.steps_per_day)
            parts.append(self.time_of_day_embedding(slot))
        if self.day_of_week_embedding is not None and self.day_of_week_feature is not None:
            day = day_of_week_index(x[..., self.day_of_week_feature])
            parts.append(self.day_of_week_embedding(day))
        parts.append(self.adaptive_embedding.expand(x.shape[0], -1, -1, -1))
        return torch.cat(parts, dim=-1)

    def forward(self, x: Tensor, graph: Any = None, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        if graph is not None:
            self._graph(graph)
        hidden = self.embed(x).transpose(1, 2)  # [batch, nodes, lookback, width]: attend along time
        for layer in self.temporal:
            hidden = layer(hidden)
        hidden = hidden.transpose(1, 2)  # [batch, lookback, nodes, width]: attend along sensors
        for layer in self.spatial:
            hidden = layer(hidden)
        return self._per_step(self.output(hidden.transpose(1, 2).flatten(2)))
