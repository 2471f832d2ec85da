r"""Graphs learned per batch from the input window (D2STGNN's dynamic graph learning; Shao et
al., VLDB 2022), and the hop powers of a dense graph without self-loops."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.nn.packed_dropout import Dropout

__all__ = ["DynamicGraphLearner", "graph_powers"]


def graph_powers(adjacency: Tensor, order: int) -> Tensor:
    r"""The hops :math:`\mathbf{A}^k \odot (\mathbf{1} - \mathbf{I})`, :math:`k = 1..K`: the powers
    of a dense graph with their diagonals removed, as D2STGNN's code builds its multi-hop
    supports (``MultiOrder`` and ``STLocalizedConv.get_graph``). The powers are those of the
    graph *with* its diagonal; only each result loses its own.

    Shapes:
        adjacency: ``[..., nodes, nodes]`` -> ``[..., order, nodes, nodes]``
    """
    if adjacency.ndim < 2 or adjacency.shape[-1] != adjacency.shape[-2]:
        raise ShapeError(f"graph_powers expects [..., nodes, nodes]; got {list(adjacency.shape)}")
    if order < 1:
        raise ValueError(f"graph_powers: order must be >= 1, got {order}")
    off_diagonal = 1.0 - torch.eye(adjacency.shape[-1], device=adjacency.device, dtype=adjacency.dtype)
    hops = [adjacency]
    for _ in range(order - 1):
        hops.append(hops[-1] @ adjacency)
    return torch.stack(hops, dim=-3) * off_diagonal


class DynamicGraphLearner(nn.Module):
    r"""D2STGNN's dynamic graphs: attention between sensors over their recent readings, calendar
    and embeddings, kept on the road graph's edges (Shao et al., VLDB 2022).

    For every batch sample, with :math:`\mathbf{x}_n \in \mathbb{R}^{L}` sensor :math:`n`'s
    window of readings,

    .. math::
        \mathbf{f}_n = \mathbf{W}_2\,\mathrm{dropout}(\mathrm{BN}(\mathrm{ReLU}(\mathbf{W}_1\mathbf{x}_n))),
        \qquad \mathbf{h}^{(m)}_n = [\,\mathbf{f}_n \,\|\, \mathbf{c}_n \,\|\, \mathbf{E}^{(m)}_n\,]

    .. math::
        \mathbf{W}^{(m)} = \mathrm{SoftMax}\Big(\frac{(\mathbf{H}^{(m)}\mathbf{W}_Q)(\mathbf{H}^{(m)}\mathbf{W}_K)^\top}{\sqrt{d}}\Big),
        \qquad \mathbf{A}^{(m)} = \mathrm{rownorm}\big((\mathbf{P}^{(m)} + 10^{-7}) \odot \mathbf{W}^{(m)}\big)

    with :math:`\mathbf{c}_n` the sensor's calendar features at the window's last step (D2STGNN:
    its time-of-day and day-of-week embeddings, concatenated), and the graphs returned are the hops :math:`\mathbf{A}^{(m)k}` with their diagonals removed
    (:func:`graph_powers`), :math:`k = 1..K`. One learner serves every "modality"
    :math:`m`: each pairs a fixed mask :math:`\mathbf{P}^{(m)}` (D2STGNN: the forward and the
    backward transition matrices) with a sensor embedding :math:`\mathbf{E}^{(m)}`;
    :math:`\mathbf{W}_Q, \mathbf{W}_K` (no bias) and the window features are shared. The
    softmax runs over each row (the sensors a sensor receives from), the row normalisation
    :math:`D^{-1}\mathbf{W}` too, so ``A @ x`` is a weighted mean over upstream sensors. The
    :math:`10^{-7}` lets sensors without an edge keep a vanishing weight, as in the authors'
    code (zezhishao/D2STGNN, ``dynamic_graph_conv/utils``: ``DistanceFunction``, ``Mask``,
    ``Normalizer``, ``MultiOrder``). Their ``DistanceFunction`` also builds a
    ``time_slot_embedding`` linear layer that its ``forward`` never calls; it is left out here.

    Args:
        lookback: window length :math:`L`.
        hidden: width :math:`d` of the window features and of the queries and keys
            (D2STGNN: ``num_hidden``, 32); :math:`\mathbf{W}_1` is :math:`L \to 2d`.
        embedding_dim: width of the sensor embeddings :math:`\mathbf{E}^{(m)}`.
        calendar_width: width of the calendar features :math:`\mathbf{c}_n` (0: none).
        order: hops :math:`K` (``k_s``, 2).
        dropout: dropout on the window features.

    Shapes:
        readings: ``[batch, lookback, nodes]``; calendar: ``[batch, nodes, calendar_width]`` (or
        None when ``calendar_width`` is 0); embeddings: ``modalities`` x ``[nodes, embedding_dim]``; masks:
        ``modalities`` x ``[nodes, nodes]`` dense -> ``[batch, modalities * order, nodes,
        nodes]``, modality-major (all hops of the first mask, then the next).
    """

    def __init__(
        self, *, lookback: int, hidden: int, embedding_dim: int, calendar_width: int, order: int = 2, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if min(lookback, hidden, embedding_dim, order) < 1 or calendar_width < 0:
            raise ValueError(
                "DynamicGraphLearner: lookback, hidden, embedding_dim and order must be >= 1 and calendar_width >= 0; "
                f"got {lookback}, {hidden}, {embedding_dim}, {order} and {calendar_width}"
            )
        self.calendar_width = calendar_width
        self.lookback = lookback
        self.hidden = hidden
        self.order = order
        self.window_inner = nn.Linear(lookback, 2 * hidden)
        self.window_norm = nn.BatchNorm1d(2 * hidden)
        self.window_outer = nn.Linear(2 * hidden, hidden)
        self.dropout = Dropout(dropout)
        width = hidden + embedding_dim + calendar_width
        self.query = nn.Linear(width, hidden, bias=False)
        self.key = nn.Linear(width, hidden, bias=False)

    def forward(
        self,
        readings: Tensor,
        calendar: Tensor | None,
        embeddings: Sequence[Tensor],
        masks: Sequence[Tensor],
    ) -> Tensor:
        if len(embeddings) != len(masks) or not masks:
            raise ValueError(f"DynamicGraphLearner: one embedding per mask; got {len(embeddings)} and {len(masks)}")
        if readings.ndim != 3 or readings.shape[1] != self.lookback:
            raise ShapeError(
                f"DynamicGraphLearner expects readings as [batch, lookback ({self.lookback}), nodes]; got {list(readings.shape)}"
            )
        batch, _, nodes = readings.shape
        window = readings.transpose(1, 2).reshape(batch * nodes, self.lookback)
        features = self.window_outer(self.dropout(self.window_norm(F.relu(self.window_inner(window)))))
        shared = features.view(batch, nodes, self.hidden)
        if self.calendar_width:
            if calendar is None or calendar.shape != (batch, nodes, self.calendar_width):
                got = None if calendar is None else list(calendar.shape)
                raise ShapeError(
                    f"DynamicGraphLearner expects calendar as [batch, nodes, {self.calendar_width}] = "
                    f"{[batch, nodes, self.calendar_width]}; got {got}"
                )
            shared = torch.cat([shared, calendar], dim=-1)
        # [batch, modalities, nodes, width]: all modalities in one product each.
        per_modality = torch.stack(
            [torch.cat([shared, embedding.expand(batch, -1, -1)], dim=-1) for embedding in embeddings], dim=1
        )
        scores = self.query(per_modality) @ self.key(per_modality).transpose(-1, -2) / math.sqrt(self.hidden)
        weights = torch.softmax(scores, dim=-1) * (torch.stack(list(masks)) + 1e-7)
        degree = weights.sum(dim=-1, keepdim=True)
        adjacency = weights / torch.where(degree > 0, degree, torch.ones_like(degree))
        return graph_powers(adjacency, self.order).flatten(1, 2)

    def extra_repr(self) -> str:
        return f"lookback={self.lookback}, hidden={self.hidden}, order={self.order}"
