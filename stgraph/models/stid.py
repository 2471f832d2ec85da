r"""STID: spatial-temporal identity (Shao, Zhang, Wang, Wei, Xu, CIKM 2022), an MLP with sensor,
time-of-day and day-of-week embeddings."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from stgraph.models._base import ForecastModel
from stgraph.nn.calendar import check_calendar_features, day_of_week_index, time_of_day_slot
from stgraph.nn.packed_dropout import Dropout

__all__ = ["STID"]


class _ResidualMLP(nn.Module):
    r""":math:`h + W_2\,\mathrm{dropout}(\mathrm{ReLU}(W_1 h))`, applied to every sensor alike.

    Shapes:
        h: ``[..., width]`` -> ``[..., width]``
    """

    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.inner = nn.Linear(width, width)
        self.outer = nn.Linear(width, width)
        self.dropout = Dropout(dropout)

    def forward(self, h: Tensor) -> Tensor:
        out: Tensor = h + self.outer(self.dropout(torch.relu(self.inner(h))))
        return out


class STID(ForecastModel):
    r"""Spatial-temporal identity: each sensor's input window, its own embedding and the embeddings
    of the time of day and day of week, through a residual MLP.

    For sensor :math:`n` and a window ending at step :math:`t`,

    .. math::
        h_n = \big[\,W_x\,\mathrm{vec}(x_{t-L+1:t,\,n}) \;\|\; E^{\text{sensor}}_n \;\|\;
            E^{\text{day}}_{\tau(t)} \;\|\; E^{\text{week}}_{d(t)}\,\big],\qquad
        \hat y_n = W_o\,\mathrm{MLP}^{(K)}(h_n)

    with :math:`\tau(t)` the step's slot within the day (``steps_per_day`` slots) and
    :math:`d(t)` its day of week, both read from the calendar covariates of the window's last
    step; :math:`\mathrm{MLP}^{(K)}` is ``layers`` residual blocks. The embeddings are what makes
    one shared MLP forecast sensors of different behaviour ("identity"); the graph is not used.

    Where this follows the authors' code (zezhishao/STID, ``stid_arch.py``): the 1x1
    convolutions there are the linear maps here (the same computation), the input embedding
    reads every input feature of the window (readings and covariates), embeddings are
    Xavier-uniform initialised, and dropout 0.15 sits inside each residual block. Differences: a
    missing covariate switches its embedding off (the authors' ``if_T_i_D`` / ``if_D_i_W``
    flags), and the horizon's channels are one output per step and channel.

    **Sensor subgraphs** (``sensor_subsets``): the sensors are independent given their
    embeddings, so on a subgraph the model computes exactly its full-graph forecasts of those
    sensors, from their rows of the sensor embedding.

    Args:
        num_sensors, in_features, out_channels, lookback, horizon: the model contract.
        time_of_day_feature: position in ``x``'s features of the time of day as a fraction of
            the day in ``[0, 1)`` (:func:`stgraph.data.covariates.time_of_day`); None: no
            time-of-day embedding.
        day_of_week_feature: position of the day-of-week index 0..6; None: no day-of-week
            embedding.
        steps_per_day: time-of-day slots (288 for 5-minute readings, 24 for hourly).
        embedding_dim: width of the input-window embedding.
        sensor_dim, time_of_day_dim, day_of_week_dim: widths of the three identity embeddings.
        layers: residual MLP blocks.
        dropout: dropout inside each block.

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``.
    """

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
        embedding_dim: int = 32,
        sensor_dim: int = 32,
        time_of_day_dim: int = 32,
        day_of_week_dim: int = 32,
        layers: int = 3,
        dropout: float = 0.15,
    ) -> None:
        super().__init__()
        check_calendar_features("STID", in_features, time_of_day_feature, day_of_week_feature)
        if steps_per_day < 1 or layers < 0:
            raise ValueError(f"STID: steps_per_day must be >= 1 and layers >= 0; got {steps_per_day} and {layers}")
        self.time_of_day_feature = time_of_day_feature
        self.day_of_week_feature = day_of_week_feature
        self.steps_per_day = steps_per_day
        self.window_embedding = nn.Linear(lookback * in_features, embedding_dim)
        self.sensor_embedding = nn.Parameter(torch.empty(num_sensors, sensor_dim))
        width = embedding_dim + sensor_dim
        self.time_of_day_embedding: nn.Parameter | None = None
        self.day_of_week_embedding: nn.Parameter | None = None
        if time_of_day_feature is not None:
            self.time_of_day_embedding = nn.Parameter(torch.empty(steps_per_day, time_of_day_dim))
            width += time_of_day_dim
        if day_of_week_feature is not None:
            self.day_of_week_embedding = nn.Parameter(torch.empty(7, day_of_week_dim))
            width += day_of_week_dim
        for embedding in (self.sensor_embedding, self.time_of_day_embedding, self.day_of_week_embedding):
            if embedding is not None:
                nn.init.xavier_uniform_(embedding)
        self.encoder = nn.Sequential(*(_ResidualMLP(width, dropout) for _ in range(layers)))
        self.regression = nn.Linear(width, horizon * out_channels)

    sensor_subsets = True

    def forward(self, x: Tensor, graph: Any = None, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        if graph is not None:
            self._graph(graph)
        batch, nodes = x.shape[0], x.shape[2]
        window = x.permute(0, 2, 1, 3).reshape(batch, nodes, self.lookback * self.in_features)
        parts = [self.window_embedding(window), self._per_sensor(self.sensor_embedding, graph).expand(batch, -1, -1)]
        last = x[:, -1]  # [batch, nodes, features]: the calendar of the window's last step
        if self.time_of_day_embedding is not None and self.time_of_day_feature is not None:
            slot = time_of_day_slot(last[..., self.time_of_day_feature], self.steps_per_day)
            parts.append(self.time_of_day_embedding[slot])
        if self.day_of_week_embedding is not None and self.day_of_week_feature is not None:
            day = day_of_week_index(last[..., self.day_of_week_feature])
            parts.append(self.day_of_week_embedding[day])
        hidden = self.encoder(torch.cat(parts, dim=-1))
        out: Tensor = self.regression(hidden).reshape(batch, nodes, self.horizon, self.out_channels)
        return out.transpose(1, 2)
