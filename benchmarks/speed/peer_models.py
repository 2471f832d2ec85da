r"""The peers' models at the configurations our speed benchmark uses, built the way their users build them.

PyTorch Geometric Temporal ("PGT", 0.56), Torch Spatiotemporal ("tsl", 0.9) and BasicTS (1.1)
are optional: they are imported only inside the builders, so this module imports without them. Each builder
takes a :class:`~stgraph.SensorGraph` and the input features, and returns ``(module, forecast)``
where ``forecast(x)`` runs the peer on a batch and returns the forecast in our layout, so one
timing loop (:func:`benchmarks.speed.model_step.step_measurements`) serves ours and theirs.

The graph reaches the peers as PyG's ``(edge_index, edge_weight)`` (:meth:`SensorGraph.to_pyg`:
sources in row 0), the input each library's own way (both take ``[batch, time, nodes,
features]``; BasicTS and PGT's GMAN take the readings and the calendar apart, and the wrappers
below split our windows for them), on the same 12 -> 12 windows as ours, calendar columns where
:func:`~benchmarks.speed.model_step.window_inputs` puts them. Where a peer's configuration cannot match
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

from benchmarks.speed.model_step import DAY_OF_WEEK_FEATURE, STEPS_PER_DAY, TIME_OF_DAY_FEATURE
from stgraph import SensorGraph
from stgraph.errors import ShapeError
from stgraph.nn.calendar import day_of_week_index, extend_calendar, time_of_day_slot

__all__ = ["HORIZON", "LOOKBACK", "PEER_MODELS", "PeerModel", "build_peer", "peer_model"]

LOOKBACK = HORIZON = 12
Forecast = Callable[[Tensor], Tensor]
Builder = Callable[[SensorGraph, int], tuple[nn.Module, Forecast]]


@dataclass(frozen=True)
class PeerModel:
    """One peer implementation of one of our models.

    Attributes:
        model: our registry name it is compared with (``"stgcn"``, ``"agcrn"``, ...).
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


def _calendar(x: Tensor) -> tuple[Tensor, Tensor]:
    """Slot of the day (0..287) and day of week (0..6) of each window's 12 steps, int64
    ``[batch, 12]``, read from sensor 0's calendar features (the same for every sensor; where
    :func:`~benchmarks.speed.model_step.window_inputs` puts them)."""
    return time_of_day_slot(x[:, :, 0, TIME_OF_DAY_FEATURE], STEPS_PER_DAY), day_of_week_index(x[:, :, 0, DAY_OF_WEEK_FEATURE])


class _BasicTSSTID(nn.Module):
    """BasicTS's ``STID`` at the paper's METR-LA widths (32-wide window, sensor, time-of-day and
    day-of-week embeddings, 3 residual MLP layers), fed as BasicTS feeds it: the readings
    ``[batch, 12, nodes]`` and timestamps ``[batch, 12, 2]`` normalised to ``[0, 1)``."""

    def __init__(self, sensors: int) -> None:
        from basicts.models.STID import STID, STIDConfig

        super().__init__()
        config = STIDConfig(
            input_len=LOOKBACK,
            output_len=HORIZON,
            num_features=sensors,
            input_hidden_size=32,
            spatial_hidden_size=32,
            tid_hidden_size=32,
            diw_hidden_size=32,
            num_layers=3,
            if_time_in_day=True,
            if_day_in_week=True,
            num_time_in_day=STEPS_PER_DAY,
            num_day_in_week=7,
        )
        self.stid = STID(config)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        timestamps = torch.stack([x[:, :, 0, TIME_OF_DAY_FEATURE], x[:, :, 0, DAY_OF_WEEK_FEATURE] / 7], dim=-1)
        out: Tensor = self.stid(x[..., 0], timestamps)
        return out.unsqueeze(-1)


class _TslAGCRN(nn.Module):
    """tsl's ``AGCRNModel`` (2 AGCRN cells x 64, node embeddings of 10): it learns its own graph,
    so the benchmark's edge tensors are not passed."""

    def __init__(self, sensors: int, in_features: int) -> None:
        from tsl.nn.models import AGCRNModel

        super().__init__()
        self.model = AGCRNModel(
            input_size=in_features, output_size=1, horizon=HORIZON, n_nodes=sensors, hidden_size=64, emb_size=10, n_layers=2
        )

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        out: Tensor = self.model(x)
        return out


class _PGTAGCRN(nn.Module):
    """Two PGT ``AGCRN`` cells (64 units, K 2, embeddings of 10, the node embeddings a parameter
    of ours as PGT's example makes them) stepped over the 12 inputs, then the authors' output
    layer: one linear map of the last hidden state to the 12 horizon steps."""

    def __init__(self, sensors: int, in_features: int) -> None:
        from torch_geometric_temporal.nn.recurrent import AGCRN

        super().__init__()
        self.embedding = nn.Parameter(torch.randn(sensors, 10))
        self.cells = nn.ModuleList(
            AGCRN(number_of_nodes=sensors, in_channels=features, out_channels=64, K=2, embedding_dimensions=10)
            for features in (in_features, 64)
        )
        self.readout = nn.Linear(64, HORIZON)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        hidden = x
        for cell in self.cells:
            state = None
            states = []
            for step in range(hidden.shape[1]):
                state = cell(hidden[:, step], self.embedding, state)
                states.append(state)
            hidden = torch.stack(states, dim=1)
        return self.readout(hidden[:, -1]).transpose(1, 2).unsqueeze(-1)


class _PGTMTGNN(nn.Module):
    """PGT's ``MTGNN`` at the authors' METR-LA settings (train_multi_step.py: 3 layers, 32/32/64/128
    channels, dilated inception kernels 2, 3, 6, 7, learned graph of 20 neighbours from
    embeddings of 40, mix-hop depth 2, retain 0.05, dropout 0.3), input ``[batch, features,
    nodes, 12]``; it learns its own graph, so the benchmark's edge tensors are not passed."""

    def __init__(self, sensors: int, in_features: int) -> None:
        from torch_geometric_temporal.nn.attention import MTGNN

        super().__init__()
        self.model = MTGNN(
            gcn_true=True,
            build_adj=True,
            gcn_depth=2,
            num_nodes=sensors,
            kernel_set=[2, 3, 6, 7],
            kernel_size=7,
            dropout=0.3,
            subgraph_size=min(20, sensors),
            node_dim=40,
            dilation_exponential=1,
            conv_channels=32,
            residual_channels=32,
            skip_channels=64,
            end_channels=128,
            seq_length=LOOKBACK,
            in_dim=in_features,
            out_dim=HORIZON,
            layers=3,
            propalpha=0.05,
            tanhalpha=3,
            layer_norm_affline=True,
        )

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        out: Tensor = self.model(x.permute(0, 3, 2, 1))
        return out


class _PGTGMAN(nn.Module):
    """PGT's ``GMAN`` at the paper's METR-LA settings (L 5, 8 heads of 8, causal temporal
    attention, batch-norm momentum 0.1), fed as PGT feeds it: readings ``[batch, 12, nodes]``, a
    fixed spatial embedding ``[nodes, 64]`` (the node2vec file the authors' code reads; random
    here, its values do not change the cost) and ``(day of week, slot of the day)`` of the 12
    input and 12 forecast steps ``[batch, 24, 2]``."""

    def __init__(self, sensors: int) -> None:
        from torch_geometric_temporal.nn.attention import GMAN

        super().__init__()
        self.model = GMAN(L=5, K=8, d=8, num_his=LOOKBACK, bn_decay=0.1, steps_per_day=STEPS_PER_DAY, use_bias=True, mask=True)
        self.register_buffer("spatial", torch.randn(sensors, 64))

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        slot, day = extend_calendar(*_calendar(x), HORIZON, STEPS_PER_DAY)
        temporal = torch.stack([day, slot], dim=-1).to(x.dtype)
        out: Tensor = self.model(x[..., 0], self.spatial, temporal)
        return out.unsqueeze(-1)


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


PGT, TSL, BASICTS = "PyTorch Geometric Temporal", "Torch Spatiotemporal", "BasicTS"

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
    "basicts-stid": PeerModel(
        "stid",
        BASICTS,
        "STID",
        "basicts",
        "3 residual MLP layers of 128, embeddings of 32 (as ours); BasicTS 1.1 embeds the 12 readings only "
        "(the authors' code and ours embed readings, time of day and day of week: 12 x 3 inputs), has no dropout "
        "(the authors' 0.15) and reads the calendar of the window's last step from its timestamps",
        _graph_model(lambda graph, features: _BasicTSSTID(graph.num_sensors), "BasicTS STID"),
    ),
    "tsl-agcrn": PeerModel(
        "agcrn",
        TSL,
        "AGCRNModel",
        "tsl",
        "2 AGCRN cells x 64, node embeddings of 10, supports [I, A] (as ours); tsl adds a linear input encoder "
        "(1 -> 64, so the first cell reads 64 features, not 1) and reads the 12 steps out of the last state "
        "with one linear map",
        _graph_model(lambda graph, features: _TslAGCRN(graph.num_sensors, features), "tsl AGCRNModel"),
    ),
    "pgt-agcrn": PeerModel(
        "agcrn",
        PGT,
        "AGCRN cells x2 + readout",
        "torch_geometric_temporal",
        "2 PGT AGCRN cells x 64, K 2 (supports [I, A]), node embeddings of 10 (as ours; PGT has no AGCRN model, "
        "only the cell: stepped over the 12 inputs here), the authors' output layer: last state -> 12 steps",
        _graph_model(lambda graph, features: _PGTAGCRN(graph.num_sensors, features), "PGT AGCRN"),
    ),
    "pgt-mtgnn": PeerModel(
        "mtgnn",
        PGT,
        "MTGNN",
        "torch_geometric_temporal",
        "the authors' METR-LA settings (3 layers, 32/32/64/128 channels, kernels 2, 3, 6, 7, 20-neighbour learned "
        "graph from embeddings of 40, mix-hop depth 2, dropout 0.3), speed + time of day (as ours); PGT keeps "
        "the authors' three unused residual convolutions and trains every sensor at once (no sub-graph split)",
        _graph_model(lambda graph, features: _PGTMTGNN(graph.num_sensors, features), "PGT MTGNN"),
    ),
    "pgt-gman": PeerModel(
        "gman",
        PGT,
        "GMAN",
        "torch_geometric_temporal",
        "L 5, 8 heads of 8, causal temporal attention (as ours); the spatial embedding is an input (PGT's users "
        "load the node2vec file; ours computes it once per graph and caches it), PGT one-hot encodes the calendar "
        "in a Python loop over the batch and repeats the causal mask per head and sensor",
        _graph_model(lambda graph, features: _PGTGMAN(graph.num_sensors), "PGT GMAN"),
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
