"""Graph and temporal layers for spatio-temporal forecasting models.

Graph layers take ``x`` as ``[..., nodes, features]`` and one or more graph operators
(:class:`stgraph.ops.Operator` or dense tensors), and compute every graph product through
:func:`stgraph.ops.propagate`.
"""

from stgraph.nn.adaptive_adjacency import AdaptiveAdjacency
from stgraph.nn.chebyshev_conv import ChebConv, chebyshev_terms
from stgraph.nn.diffusion_conv import DiffusionConv, diffusion_terms
from stgraph.nn.graph_conv import GCNConv
from stgraph.nn.graph_gru import GraphGRUCell
from stgraph.nn.temporal_conv import FeatureAlign, GatedDilatedConv, ResidualTemporalConv, TemporalConv

__all__ = [
    "AdaptiveAdjacency",
    "ChebConv",
    "DiffusionConv",
    "FeatureAlign",
    "GCNConv",
    "GraphGRUCell",
    "GatedDilatedConv",
    "ResidualTemporalConv",
    "TemporalConv",
    "chebyshev_terms",
    "diffusion_terms",
]
