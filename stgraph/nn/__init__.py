"""Graph and temporal layers for spatio-temporal forecasting models.

Graph layers take ``x`` as ``[..., nodes, features]`` and the graph operator they need
(:class:`stgraph.ops.Operator` or dense tensors): ``operator`` (GCN), ``laplacian``
(Chebyshev) or a list of ``transitions`` (diffusion). They compute every graph product through
:func:`stgraph.ops.propagate`. ``order`` counts hops (the highest power of the operator) in
every layer. :func:`multi_head_attention` attends along the second-to-last axis of
``[..., length, width]`` (sensors as given; steps after swapping time and nodes).
"""

from stgraph.nn.adaptive_adjacency import AdaptiveAdjacency
from stgraph.nn.adaptive_graph_conv import NodeAdaptiveGraphConv, embedding_adjacency
from stgraph.nn.attention import multi_head_attention
from stgraph.nn.calendar import check_calendar_features, day_of_week_index, time_of_day_slot
from stgraph.nn.chebyshev_conv import ChebConv, chebyshev_terms
from stgraph.nn.checkpointing import block_lists, checkpointed_blocks
from stgraph.nn.curriculum import HorizonCurriculum
from stgraph.nn.diffusion_conv import DiffusionConv, diffusion_terms
from stgraph.nn.dynamic_graph import DynamicGraphLearner, graph_powers
from stgraph.nn.fused_gru import FusedGraphGRU
from stgraph.nn.graph_conv import GCNConv
from stgraph.nn.graph_gru import GraphGRUCell
from stgraph.nn.graph_learner import GraphLearner
from stgraph.nn.mix_hop import MixHopPropagation, self_loop_row_normalized
from stgraph.nn.packed_dropout import Dropout, dropout, keep_mask
from stgraph.nn.positional_encoding import SinusoidalPositionalEncoding
from stgraph.nn.quantile_head import QuantileHead, check_quantiles
from stgraph.nn.sensor_norm import SensorLayerNorm
from stgraph.nn.temporal_conv import FeatureAlign, GatedDilatedConv, ResidualTemporalConv, TemporalConv

__all__ = [
    "AdaptiveAdjacency",
    "ChebConv",
    "DiffusionConv",
    "Dropout",
    "DynamicGraphLearner",
    "FeatureAlign",
    "FusedGraphGRU",
    "GCNConv",
    "GatedDilatedConv",
    "GraphGRUCell",
    "GraphLearner",
    "HorizonCurriculum",
    "MixHopPropagation",
    "NodeAdaptiveGraphConv",
    "QuantileHead",
    "ResidualTemporalConv",
    "SensorLayerNorm",
    "SinusoidalPositionalEncoding",
    "TemporalConv",
    "block_lists",
    "chebyshev_terms",
    "check_calendar_features",
    "check_quantiles",
    "checkpointed_blocks",
    "day_of_week_index",
    "diffusion_terms",
    "dropout",
    "embedding_adjacency",
    "graph_powers",
    "keep_mask",
    "multi_head_attention",
    "self_loop_row_normalized",
    "time_of_day_slot",
]
