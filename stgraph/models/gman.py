r"""GMAN: graph multi-attention network (Zheng, Fan, Wang, Qi, AAAI 2020), an encoder-decoder of
spatio-temporal attention blocks joined by a transform attention."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from stgraph.errors import GraphError
from stgraph.graph.node2vec import node2vec_embedding
from stgraph.graph.operators import symmetrize
from stgraph.models._base import ForecastModel
from stgraph.nn.attention import multi_head_attention
from stgraph.nn.calendar import check_calendar_features, day_of_week_index, extend_calendar, time_of_day_slot
from stgraph.nn.packed_dropout import Dropout

__all__ = ["GMAN", "SPATIAL_EMBEDDINGS", "laplacian_eigenvectors"]

#: How GMAN's fixed spatial embedding is computed from the graph.
SPATIAL_EMBEDDINGS = ("node2vec", "eigenvectors")


def laplacian_eigenvectors(adjacency: sp.spmatrix, dim: int) -> np.ndarray:
    r"""The ``dim`` eigenvectors of the symmetric normalised Laplacian with the smallest
    eigenvalues after the first (trivial) one, float64 ``[nodes, dim]``.

    .. math::
        \mathbf{L} = \mathbf{I} - \mathbf{D}^{-1/2}\mathbf{A}_s\mathbf{D}^{-1/2},\qquad
        \mathbf{A}_s = \max(\mathbf{A}, \mathbf{A}^\top)\text{ without self-loops}

    Isolated sensors get :math:`D^{-1/2} = 0`. Columns are orthonormal; each is signed so that
    its entry of largest magnitude is positive (eigenvectors are defined up to sign). A graph
    with ``nodes - 1 < dim`` pads the missing columns with zeros.
    """
    matrix = symmetrize(adjacency).tolil()
    matrix.setdiag(0.0)
    dense = np.asarray(sp.csr_matrix(matrix).toarray(), dtype=np.float64)
    degree = dense.sum(axis=1)
    inverse_root = np.zeros_like(degree)
    inverse_root[degree > 0] = degree[degree > 0] ** -0.5
    laplacian = np.eye(len(dense)) - inverse_root[:, None] * dense * inverse_root[None, :]
    _, vectors = np.linalg.eigh(laplacian)  # eigenvalues ascending
    vectors = vectors[:, 1 : dim + 1]
    largest = np.abs(vectors).argmax(axis=0)
    vectors = vectors * np.sign(vectors[largest, np.arange(vectors.shape[1])])
    out = np.zeros((len(dense), dim), dtype=np.float64)
    out[:, : vectors.shape[1]] = vectors
    return out


class _FC(nn.Module):
    r"""The authors' ``FC``: 1x1 convolutions, each :math:`\mathrm{ReLU}(\mathrm{BN}(W h + b))`
    or, for the last layer of a stack, the plain :math:`W h + b` (their ``conv2d`` applies batch
    norm only before an activation). Dropout, if any, comes before every layer.

    Shapes:
        h: ``[..., in_features]`` -> ``[..., widths[-1]]``
    """

    def __init__(
        self, in_features: int, widths: list[int], *, last_activation: bool, bias: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.dropout = Dropout(dropout) if dropout > 0 else None
        self.activated: list[bool] = []
        for i, width in enumerate(widths):
            linear = nn.Linear(in_features, width, bias=bias)
            nn.init.xavier_uniform_(linear.weight)
            if linear.bias is not None:
                nn.init.zeros_(linear.bias)
            self.linears.append(linear)
            activated = last_activation or i < len(widths) - 1
            self.activated.append(activated)
            # TF's batch norm: epsilon 1e-3, statistics over every axis but the channels.
            self.norms.append(nn.BatchNorm1d(width, eps=1e-3) if activated else nn.Identity())
            in_features = width

    def forward(self, h: Tensor) -> Tensor:
        for linear, norm, activated in zip(self.linears, self.norms, self.activated, strict=True):
            if self.dropout is not None:
                h = self.dropout(h)
            h = linear(h)
            if activated:
                shape = h.shape
                h = torch.relu(norm(h.reshape(-1, shape[-1])).reshape(shape))
        return h


class _Attention(nn.Module):
    r"""Multi-head attention of GMAN (its spatial, temporal and transform attention differ only in
    the axis attended over and in what forms queries, keys and values):

    .. math::
        \mathrm{head}_k = \mathrm{softmax}\big(Q_k K_k^\top / \sqrt{d}\big) V_k,\qquad
        \mathrm{out} = \mathrm{FC}_{D,D}\big(\Vert_k\, \mathrm{head}_k\big)

    with :math:`Q, K, V` from ReLU FCs. ``axis`` 2 attends over sensors, 1 over steps; a
    ``causal`` temporal attention lets step :math:`t` see steps :math:`\le t` only (the
    authors' lower-triangular mask). The heads attend through
    :func:`stgraph.nn.multi_head_attention` (a fused kernel: no score matrix held).

    Shapes:
        query_input ``[batch, Tq, nodes, *]``, key_input and value_input ``[batch, Tk, nodes, *]``
        -> ``[batch, Tq, nodes, D]``
    """

    def __init__(
        self, query_features: int, key_features: int, value_features: int, heads: int, head_dim: int, *, axis: int, causal: bool
    ) -> None:
        super().__init__()
        width = heads * head_dim
        self.heads, self.head_dim, self.axis, self.causal = heads, head_dim, axis, causal
        self.query = _FC(query_features, [width], last_activation=True)
        self.key = _FC(key_features, [width], last_activation=True)
        self.value = _FC(value_features, [width], last_activation=True)
        self.out = _FC(width, [width, width], last_activation=False)

    def forward(self, query_input: Tensor, key_input: Tensor, value_input: Tensor) -> Tensor:
        query, key, value = self.query(query_input), self.key(key_input), self.value(value_input)
        if self.axis == 1:  # attend over steps: [batch, nodes, T, D]
            query, key, value = query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)
        attended = multi_head_attention(query, key, value, self.heads, causal=self.causal)
        if self.axis == 1:
            attended = attended.transpose(1, 2)
        out: Tensor = self.out(attended)
        return out


class _STAttBlock(nn.Module):
    r"""Spatial and temporal attention over :math:`[H \Vert E]` fused by a gate, plus a residual:

    .. math::
        z = \sigma(W_s H_S + W_t H_T + b),\qquad
        H' = H + \mathrm{FC}_{D,D}\big(z \odot H_S + (1 - z) \odot H_T\big)

    Shapes:
        h, ste: ``[batch, time, nodes, D]`` -> ``[batch, time, nodes, D]``
    """

    def __init__(self, heads: int, head_dim: int) -> None:
        super().__init__()
        width = heads * head_dim
        self.spatial = _Attention(2 * width, 2 * width, 2 * width, heads, head_dim, axis=2, causal=False)
        self.temporal = _Attention(2 * width, 2 * width, 2 * width, heads, head_dim, axis=1, causal=True)
        self.gate_spatial = _FC(width, [width], last_activation=False, bias=False)
        self.gate_temporal = _FC(width, [width], last_activation=False)
        self.fuse = _FC(width, [width, width], last_activation=False)

    def forward(self, h: Tensor, ste: Tensor) -> Tensor:
        joined = torch.cat([h, ste], dim=-1)
        spatial = self.spatial(joined, joined, joined)
        temporal = self.temporal(joined, joined, joined)
        z = torch.sigmoid(self.gate_spatial(spatial) + self.gate_temporal(temporal))
        out: Tensor = h + self.fuse(z * spatial + (1 - z) * temporal)
        return out


class GMAN(ForecastModel):
    r"""Graph multi-attention network: an encoder of spatio-temporal attention blocks over the
    input steps, a transform attention from input to forecast steps, and a decoder of the same
    blocks over the forecast steps, every attention conditioned on a spatio-temporal embedding.

    With :math:`P` = ``lookback``, :math:`Q` = ``horizon``, :math:`D = K d`:

    .. math::
        E = \mathrm{FC}_{D,D}(S) + \mathrm{FC}_{D,D}\big(\mathrm{onehot}_{T}(\tau_t) \Vert
            \mathrm{onehot}_{7}(w_t)\big) \in \mathbb{R}^{(P+Q) \times N \times D}

    .. math::
        H^{(0)} = \mathrm{FC}_{D,D}(X),\quad
        H^{(l)} = \mathrm{STAtt}(H^{(l-1)}, E_{1:P}),\quad
        C = \mathrm{TransAtt}(Q{=}E_{P+1:P+Q},\ K{=}E_{1:P},\ V{=}H^{(L)}),

    then :math:`L` decoder blocks on :math:`(C, E_{P+1:P+Q})` and
    :math:`\hat Y = \mathrm{FC}_{D,c}(\cdot)` with dropout 0.1. :math:`S` ``[N, 64]`` is the
    spatial embedding; :math:`\tau_t` the slot of step :math:`t` in the day (:math:`T` =
    ``steps_per_day``) and :math:`w_t` its day of week. Spatial attention attends over sensors
    at each step; temporal attention over steps at each sensor, causally (step :math:`t` sees
    :math:`\le t`); both have :math:`K` heads of :math:`d` channels. Every FC is Linear, batch
    norm over channels and ReLU, the last layer of each stack Linear only.

    **Calendar of the forecast steps.** The window holds the calendar of its :math:`P` input
    steps only; the forecast step :math:`q = 1..Q` after the last input step
    :math:`(\tau_P, w_P)` gets :math:`\tau = (\tau_P + q) \bmod T` and
    :math:`w = (w_P + \lfloor(\tau_P + q)/T\rfloor) \bmod 7` (wrapping midnight and
    Sunday -> Monday), which is what the authors' data loader reads from the timestamps of
    regular readings.

    **Spatial embedding.** The paper's :math:`S` is node2vec on the road graph (the code reads
    ``SE(METR).txt``, a fixed input, not trained, made by ``METR/node2vec/generateSE.py``).
    ``spatial_embedding="node2vec"`` (the default) computes it the same way from the graph the
    model receives (:func:`stgraph.graph.node2vec_embedding`: directed weighted walks with
    :math:`p = 2, q = 1`, 100 walks of 80 steps per sensor, skip-gram of width
    ``spatial_dim``, window 10; one pass over the walks where the authors' gensim run makes
    1,000, seed 0, about 10 s for 207 sensors on one CPU thread).
    ``spatial_embedding="eigenvectors"`` is a cheaper substitute: the eigenvectors of the
    symmetric normalised Laplacian with the smallest non-trivial eigenvalues
    (:func:`laplacian_eigenvectors`; zeros pad a graph of fewer sensors). Either is computed
    once per graph (by :meth:`SensorGraph.fingerprint`) and never trained. How much the
    substitute changes accuracy has not been measured yet.

    Where this follows the authors' code (zhengchuanpan/GMAN, ``METR/model.py``,
    ``METR/tf_utils.py``): every block and FC stack as written there, including the gate's
    bias-free spatial branch and batch norm only before ReLU (so the trainable parameters are
    the same: 900,801 at METR-LA with ``layers=5``, tests/models/test_gman.py), Glorot-uniform
    weights and zero biases, batch-norm epsilon 1e-3, the causal mask in every temporal
    attention, dropout 0.1 before both layers of the output FC. Differences: the spatial
    embedding (above); batch-norm momentum is PyTorch's fixed 0.1 where the code schedules the
    moving-average decay from 0.5 towards 0.99 (a trainer's schedule, not the model's); the
    input FC reads every feature that is not a calendar position (the code: speed only); a
    missing day-of-week covariate leaves its one-hot at zero, and a missing time-of-day
    covariate is replaced by the step's position in the window (slot 0 for the first input
    step), so forecast steps still differ; several output channels come from the last FC.

    Args:
        num_sensors, in_features, out_channels, lookback, horizon: the model contract.
        time_of_day_feature: position in ``x``'s features of the time of day as a fraction of
            the day in ``[0, 1)``; None: the step's position in the window instead.
        day_of_week_feature: position of the day-of-week index 0..6 (Monday = 0); None: no
            day-of-week one-hot.
        steps_per_day: time-of-day slots :math:`T` (288 for 5-minute readings).
        layers: ST-attention blocks :math:`L` in the encoder and in the decoder (5: the code's
            METR-LA setting).
        heads: attention heads :math:`K` (8).
        head_dim: channels per head :math:`d` (8).
        spatial_dim: width of the spatial embedding (64, as the code's node2vec file).
        spatial_embedding: ``"node2vec"`` (the paper's) or ``"eigenvectors"`` (Laplacian
            eigenvectors, a cheaper substitute).
        dropout: dropout before the output FC's layers (0.1).

    Shapes:
        x: ``[batch, lookback, nodes, in_features]`` -> ``[batch, horizon, nodes, out_channels]``;
        ``graph`` is required.
    """

    sensor_subsets_reason = "its spatial attention spans all sensors"

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
        layers: int = 5,
        heads: int = 8,
        head_dim: int = 8,
        spatial_dim: int = 64,
        spatial_embedding: str = "node2vec",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_calendar_features("GMAN", in_features, time_of_day_feature, day_of_week_feature)
        if time_of_day_feature is not None and time_of_day_feature == day_of_week_feature:
            raise ValueError(f"GMAN: time_of_day_feature and day_of_week_feature are both {time_of_day_feature}")
        for name, value in (
            ("steps_per_day", steps_per_day),
            ("heads", heads),
            ("head_dim", head_dim),
            ("spatial_dim", spatial_dim),
        ):
            if value < 1:
                raise ValueError(f"GMAN: {name} must be >= 1, got {value}")
        if spatial_embedding not in SPATIAL_EMBEDDINGS:
            raise ValueError(f"GMAN: spatial_embedding must be one of {', '.join(SPATIAL_EMBEDDINGS)}, got {spatial_embedding!r}")
        if layers < 0 or not 0.0 <= dropout < 1.0:
            raise ValueError(f"GMAN: layers must be >= 0 and dropout in [0, 1); got {layers} and {dropout}")
        calendar = {time_of_day_feature, day_of_week_feature} - {None}
        self.reading_features = [i for i in range(in_features) if i not in calendar]
        if not self.reading_features:
            raise ValueError(f"GMAN: every one of the {in_features} input features is a calendar position; it needs a reading")
        self.time_of_day_feature = time_of_day_feature
        self.day_of_week_feature = day_of_week_feature
        self.steps_per_day = steps_per_day
        self.heads = heads
        self.spatial_dim = spatial_dim
        self.spatial_method = spatial_embedding
        width = heads * head_dim
        self.input_fc = _FC(len(self.reading_features), [width, width], last_activation=False)
        self.spatial_fc = _FC(spatial_dim, [width, width], last_activation=False)
        self.temporal_fc = _FC(steps_per_day + 7, [width, width], last_activation=False)
        self.encoder = nn.ModuleList(_STAttBlock(heads, head_dim) for _ in range(layers))
        self.transform = _Attention(width, width, width, heads, head_dim, axis=1, causal=False)
        self.decoder = nn.ModuleList(_STAttBlock(heads, head_dim) for _ in range(layers))
        self.output_fc = _FC(width, [width, out_channels], last_activation=False, dropout=dropout)
        # fingerprint -> [nodes, spatial_dim] float64 on the CPU; not state (rebuilt from the graph).
        self._spatial_cache: dict[str, Tensor] = {}

    def spatial_embedding(self, graph: Any) -> Tensor:
        """The fixed spatial embedding of ``graph``, float64 ``[nodes, spatial_dim]`` (cached)."""
        if graph is None:
            raise GraphError("GMAN needs the graph: its spatial embedding is computed from it; got graph=None")
        sensor_graph = self._graph(graph)
        key = sensor_graph.fingerprint()
        if key not in self._spatial_cache:
            if self.spatial_method == "node2vec":
                vectors = node2vec_embedding(sensor_graph.adjacency, self.spatial_dim)
            else:
                vectors = laplacian_eigenvectors(sensor_graph.adjacency, self.spatial_dim)
            self._spatial_cache[key] = torch.from_numpy(vectors)
        return self._spatial_cache[key]

    def calendar(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Slot of the day and day of week of the input and forecast steps, int64
        ``[batch, lookback + horizon]`` each, read from sensor 0's covariates (the same for
        every sensor) and extrapolated past the window's last step."""
        batch, device = x.shape[0], x.device
        if self.time_of_day_feature is not None:
            slot = time_of_day_slot(x[:, :, 0, self.time_of_day_feature], self.steps_per_day)
        else:
            slot = torch.arange(self.lookback, device=device).expand(batch, -1) % self.steps_per_day
        if self.day_of_week_feature is not None:
            day = day_of_week_index(x[:, :, 0, self.day_of_week_feature])
        else:
            day = torch.zeros(batch, self.lookback, dtype=torch.long, device=device)
        return extend_calendar(slot, day, self.horizon, self.steps_per_day)

    def forward(self, x: Tensor, graph: Any = None, *, target: Tensor | None = None, teacher_forcing: float = 0.0) -> Tensor:
        self._check_input(x, graph)
        spatial = self.spatial_embedding(graph).to(device=x.device, dtype=x.dtype)
        slot, day = self.calendar(x)
        onehot = torch.cat([nn.functional.one_hot(slot, self.steps_per_day), nn.functional.one_hot(day, 7)], dim=-1)
        if self.day_of_week_feature is None:
            onehot[..., self.steps_per_day :] = 0
        temporal = self.temporal_fc(onehot.to(x.dtype))  # [batch, P + Q, D]
        ste = self.spatial_fc(spatial)[None, None] + temporal[:, :, None]  # [batch, P + Q, nodes, D]
        ste_in, ste_out = ste[:, : self.lookback], ste[:, self.lookback :]
        h = self.input_fc(x[..., self.reading_features])
        for block in self.encoder:
            h = block(h, ste_in)
        h = self.transform(ste_out, ste_in, h)
        for block in self.decoder:
            h = block(h, ste_out)
        out: Tensor = self.output_fc(h)
        return out
