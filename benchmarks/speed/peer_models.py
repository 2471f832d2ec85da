r"""The peers' models at the configurations our speed benchmark uses, built the way their users build them.

PyTorch Geometric Temporal ("PGT", 0.56) and Torch Spatiotemporal ("tsl", 0.9) are optional:
they are imported only inside the builders, so this module imports without them. Each builder
takes a :class:`~stgraph.SensorGraph` and the input features, and returns ``(module, forecast)``
where ``forecast(x)`` runs the peer on a batch and returns the forecast in our layout, so one
timing loop (:func:`benchmarks.speed.model_step.step_measurements`) serves ours and theirs.

The graph reaches the peers as PyG's ``(edge_index, edge_weight)`` (:meth:`SensorGraph.to_pyg`:
sources in row 0), the input each library's own way (both take ``[batch, time, nodes,
features]``), on the same 12 -> 12 windows as ours. Where a peer's configuration cannot match
the paper's, :attr:`PeerModel.notes` says how it differs; the benchmark prints these notes under
its table.

Shapes:
    x: ``[batch, 12, nodes, in_features]`` -> forecast ``[batch, 12, nodes, 1]``
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from stgraph import SensorGraph
from stgraph.errors import ShapeError

__all__ = ["HORIZON", "LOOKBACK", "PEER_MODELS", "PeerModel", "build_peer", "peer_model"]

LOOKBACK = HORIZON = 12
Forecast = Callable[[Tensor], Tensor]
Builder = Callable[[SensorGraph, int], tuple[nn.Module, Forecast]]


@dataclass(frozen=True)
class PeerModel:
    """One peer implementation of one of our models.

    Attributes:
        model: our registry name it is compared with (``"stgcn"``, ``"dcrnn"``, ``"graph_wavenet"``).
        library: the peer library, as printed.
        implementation: the peer's classes, as printed (``"STConv x2 + readout"``).
        package: the import name whose presence the benchmark checks.
        notes: how this configuration differs from the paper's (and from ours).
        build: ``(graph, in_features) -> (module, forecast)``.
    """

    model: str
    library: str
    implementation: str
    package: str
    notes: str
    build: Builder


def _check_input(x: Tensor, sensors: int, in_features: int, name: str) -> None:
    if x.dim() != 4 or x.shape[1] != LOOKBACK or x.shape[2] != sensors or x.shape[3] != in_features:
        raise ShapeError(
            f"{name} expects x as [batch, time, nodes, features] = [batch, {LOOKBACK}, {sensors}, {in_features}]; "
            f"got {list(x.shape)}"
        )


class _HorizonReadout(nn.Module):
    r"""Per-sensor readout to every horizon step at once: the last ``steps`` representations,
    flattened, through a two-layer perceptron (the role of STGCN's output block).

    .. math::
        \hat{\mathbf{Y}}_{i} = \mathbf{W}_2 \operatorname{ReLU}(\mathbf{W}_1 [\mathbf{h}_{i,t}]_{t} + \mathbf{b}_1) + \mathbf{b}_2

    Shapes:
        hidden: ``[batch, steps, nodes, channels]`` -> ``[batch, horizon, nodes, 1]``
    """

    def __init__(self, steps: int, channels: int, hidden: int) -> None:
        super().__init__()
        self.steps = steps
        self.mlp = nn.Sequential(nn.Linear(steps * channels, hidden), nn.ReLU(), nn.Linear(hidden, HORIZON))

    def forward(self, hidden: Tensor) -> Tensor:
        batch, _, nodes, _ = hidden.shape
        flat = hidden[:, -self.steps :].permute(0, 2, 1, 3).reshape(batch, nodes, -1)
        return self.mlp(flat).transpose(1, 2).unsqueeze(-1)


class _PGTSTGCN(nn.Module):
    """Two PGT ``STConv`` blocks (64-16-64, Kt = 3, Chebyshev K = 3) and a readout of the 4 steps left."""

    def __init__(self, sensors: int, in_features: int) -> None:
        from torch_geometric_temporal.nn.attention import STConv

        super().__init__()
        temporal_kernel = 3
        self.blocks = nn.ModuleList(
            STConv(sensors, features, 16, 64, kernel_size=temporal_kernel, K=3) for features in (in_features, 64)
        )
        # each block's two temporal convolutions drop temporal_kernel - 1 steps each: 12 -> 8 -> 4
        self.readout = _HorizonReadout(LOOKBACK - 2 * len(self.blocks) * (temporal_kernel - 1), 64, 64)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x, edge_index, edge_weight)
        return self.readout(x)


class _PGTDCRNNUnion(nn.Module):
    r"""Two PGT ``DCRNN`` cells (64 units, K = 3) stepped over the 12 inputs on the disjoint union
    of ``batch`` copies of the graph (``batch * nodes`` nodes, as ``torch_geometric.data.Batch``
    builds it), then a linear readout of the last hidden state to the 12 horizon steps."""

    def __init__(self, in_features: int) -> None:
        from torch_geometric_temporal.nn.recurrent import DCRNN

        super().__init__()
        self.cells = nn.ModuleList([DCRNN(in_features, 64, K=3), DCRNN(64, 64, K=3)])
        self.readout = nn.Linear(64, HORIZON)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        batch, steps, nodes, features = x.shape
        offsets = torch.arange(batch, device=x.device).repeat_interleave(edge_index.shape[1]) * nodes
        union_index = edge_index.repeat(1, batch) + offsets
        union_weight = edge_weight.repeat(batch)
        states: list[Tensor | None] = [None] * len(self.cells)
        for step in range(steps):
            hidden = x[:, step].reshape(batch * nodes, features)
            for layer, cell in enumerate(self.cells):
                hidden = states[layer] = cell(hidden, union_index, union_weight, states[layer])
        return self.readout(hidden).reshape(batch, nodes, HORIZON).transpose(1, 2).unsqueeze(-1)


class _PGTBatchedDCRNN(nn.Module):
    """Two PGT ``BatchedDCRNN`` layers (64 units, K = 3) over ``[batch, time, nodes, features]``,
    then a linear readout of the last step's hidden state to the 12 horizon steps."""

    def __init__(self, in_features: int) -> None:
        from torch_geometric_temporal.nn.recurrent import BatchedDCRNN

        super().__init__()
        self.layers = nn.ModuleList([BatchedDCRNN(in_features, 64, K=3), BatchedDCRNN(64, 64, K=3)])
        self.readout = nn.Linear(64, HORIZON)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, edge_index, edge_weight)
        return self.readout(x[:, -1]).transpose(1, 2).unsqueeze(-1)


def _graph_model(make: Callable[[SensorGraph, int], nn.Module], name: str) -> Builder:
    """A builder for a module called as ``module(x, edge_index, edge_weight)`` that returns
    ``[batch, horizon, nodes, 1]`` (the PGT wrappers above, and every tsl model)."""

    def build(graph: SensorGraph, in_features: int) -> tuple[nn.Module, Forecast]:
        module = make(graph, in_features)
        edge_index, edge_weight = graph.to_pyg()

        def forecast(x: Tensor) -> Tensor:
            _check_input(x, graph.num_sensors, in_features, name)
            out = module(x, edge_index.to(x.device), edge_weight.to(x.device))
            if out.shape != (x.shape[0], HORIZON, graph.num_sensors, 1):
                raise ShapeError(f"{name} returned {list(out.shape)}; expected [{x.shape[0]}, {HORIZON}, {graph.num_sensors}, 1]")
            return out

        return module, forecast

    return build


def _tsl_stcn(graph: SensorGraph, in_features: int) -> nn.Module:
    from tsl.nn.models import STCNModel

    return STCNModel(
        input_size=in_features,
        exog_size=0,
        hidden_size=64,
        ff_size=64,
        output_size=1,
        n_layers=2,
        horizon=HORIZON,
        temporal_kernel_size=3,
        spatial_kernel_size=2,
        temporal_convs_layer=2,
        spatial_convs_layer=1,
        norm="layer",
    )


def _tsl_dcrnn(graph: SensorGraph, in_features: int) -> nn.Module:
    from tsl.nn.models import DCRNNModel

    return DCRNNModel(
        input_size=in_features, output_size=1, horizon=HORIZON, hidden_size=64, kernel_size=2, n_layers=2, cache_support=True
    )


def _tsl_graph_wavenet(graph: SensorGraph, in_features: int) -> nn.Module:
    from tsl.nn.models import GraphWaveNetModel

    return GraphWaveNetModel(
        input_size=in_features,
        output_size=1,
        horizon=HORIZON,
        hidden_size=32,
        ff_size=256,
        n_layers=8,
        temporal_kernel_size=2,
        spatial_kernel_size=2,
        learned_adjacency=True,
        n_nodes=graph.num_sensors,
        emb_size=10,
        dilation=2,
        dilation_mod=2,
        norm="batch",
        dropout=0.3,
    )


PGT, TSL = "PyTorch Geometric Temporal", "Torch Spatiotemporal"

#: Every peer configuration, by the key the benchmark and its JSON use.
PEER_MODELS: dict[str, PeerModel] = {
    "pgt-stgcn": PeerModel(
        "stgcn",
        PGT,
        "STConv x2 + readout",
        "torch_geometric_temporal",
        "two STConv blocks 64-16-64, Kt 3, ChebConv K 3 (as ours); STConv loops over batch and time in Python "
        "(one ChebConv call per sample and step), its temporal convs are PGT's (P * sigmoid(Q) + conv, ReLU), "
        "batch norm over sensors instead of layer norm; our readout: the 4 remaining steps -> 64 -> 12 per sensor",
        _graph_model(lambda graph, features: _PGTSTGCN(graph.num_sensors, features), "PGT STGCN"),
    ),
    "tsl-stcn": PeerModel(
        "stgcn",
        TSL,
        "STCNModel",
        "tsl",
        "tsl has no STGCN; STCNModel is its STGCN-like model: 2 blocks of 2 causal temporal convs (kernel 3, 64 "
        "channels throughout, no 16-channel bottleneck, time kept at 12) + diffusion conv k 2 both directions "
        "(2 hops, as Chebyshev K 3) with layer norm, MLP readout (64 hidden) of the last step",
        _graph_model(_tsl_stcn, "tsl STCNModel"),
    ),
    "pgt-dcrnn": PeerModel(
        "dcrnn",
        PGT,
        "DCRNN cells on a disjoint union",
        "torch_geometric_temporal",
        "encoder only (PGT has no decoder): 2 DCRNN cells x 64, K 3 (PGT's K counts the 0-hop term: 2 diffusion "
        "steps, the paper's K 2), stepped over 12 inputs on the disjoint union of the batch's graph copies "
        "(batch x sensors nodes, as torch_geometric.data.Batch builds it); DConv densifies that union's adjacency "
        "on every call; linear readout of the last hidden state to 12 steps",
        _graph_model(lambda graph, features: _PGTDCRNNUnion(features), "PGT DCRNN"),
    ),
    "pgt-batched-dcrnn": PeerModel(
        "dcrnn",
        PGT,
        "BatchedDCRNN",
        "torch_geometric_temporal",
        "encoder only: 2 BatchedDCRNN layers x 64, K 3 (2 diffusion steps), PGT's own batched DCRNN (it replicates "
        "the edge index per sample and caches the normalisation); linear readout of the last hidden state to 12 steps",
        _graph_model(lambda graph, features: _PGTBatchedDCRNN(features), "PGT BatchedDCRNN"),
    ),
    "tsl-dcrnn": PeerModel(
        "dcrnn",
        TSL,
        "DCRNNModel",
        "tsl",
        "encoder only (tsl replaces the decoder by an MLP readout, 256 hidden): linear input encoder to 64, "
        "2 DCRNN cells x 64, k 2 both directions, support cached (the graph is static)",
        _graph_model(_tsl_dcrnn, "tsl DCRNNModel"),
    ),
    "tsl-graph_wavenet": PeerModel(
        "graph_wavenet",
        TSL,
        "GraphWaveNetModel",
        "tsl",
        "8 layers, 32 residual / 256 skip / 512 end channels, kernel 2, dilations 1, 2, 1, 2, ..., diffusion "
        "k 2 both directions + adaptive adjacency (embeddings of 10), batch norm, dropout 0.3 (as ours); tsl adds "
        "a linear input encoder and applies the graph conv in all 8 layers (the paper's code skips the last)",
        _graph_model(_tsl_graph_wavenet, "tsl GraphWaveNetModel"),
    ),
}


def peer_model(key: str) -> PeerModel:
    """``PEER_MODELS[key]``, or a ValueError listing the keys."""
    if key not in PEER_MODELS:
        raise ValueError(f"unknown peer configuration {key!r}; available: {', '.join(PEER_MODELS)}")
    return PEER_MODELS[key]


def build_peer(key: str, graph: SensorGraph, in_features: int) -> tuple[nn.Module, Forecast]:
    """``(module, forecast)`` of peer configuration ``key`` on ``graph``; ImportError when its library is absent."""
    return peer_model(key).build(graph, in_features)
