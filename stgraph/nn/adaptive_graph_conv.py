r"""AGCRN's node-adaptive graph convolution over a data-adaptive graph (Bai, Yao, Li, Wang,
Wang, NeurIPS 2020, eqs. 3-5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.nn.chebyshev_conv import chebyshev_terms

__all__ = ["NodeAdaptiveGraphConv", "embedding_adjacency"]


def embedding_adjacency(embedding: Tensor) -> Tensor:
    r"""AGCRN's data-adaptive graph (DAGG): :math:`\mathbf{A} =
    \mathrm{SoftMax}(\mathrm{ReLU}(\mathbf{E}\mathbf{E}^\top))`, softmax over each row.

    Graph WaveNet's :class:`~stgraph.nn.AdaptiveAdjacency` with one embedding in both places
    (:math:`\mathbf{E}_1 = \mathbf{E}_2 = \mathbf{E}`), so :math:`\mathbf{E}\mathbf{E}^\top` is
    symmetric but the row softmax is not. The embedding is an argument, not a parameter here,
    because AGCRN's node-adaptive weights read the same :math:`\mathbf{E}`.

    Shapes:
        embedding: ``[nodes, embedding_dim]`` -> ``[nodes, nodes]``, rows summing to 1
    """
    if embedding.ndim != 2:
        raise ShapeError(f"embedding_adjacency expects an embedding [nodes, embedding_dim], got {list(embedding.shape)}")
    return F.softmax(F.relu(embedding @ embedding.T), dim=1)


class NodeAdaptiveGraphConv(nn.Module):
    r"""Node-adaptive graph convolution (AGCRN's NAPL + DAGG; Bai et al., NeurIPS 2020).

    Each sensor :math:`n` has its own weights and bias, read from its embedding row
    :math:`\mathbf{e}_n \in \mathbb{R}^d` times shared pools:

    .. math::
        \mathbf{H}_n = \sum_{k=0}^{K} \big(T_k(\mathbf{A})\mathbf{X}\big)_n\,\mathbf{W}_{n,k}
            + \mathbf{b}_n, \quad
        \mathbf{W}_{n,k} = \sum_{j=1}^{d} e_{n,j}\,\mathcal{W}_{j,k}, \quad
        \mathbf{b}_n = \mathbf{e}_n\,\mathcal{B}

    with :math:`\mathcal{W} \in \mathbb{R}^{d \times (K+1) \times C_{in} \times C_{out}}`,
    :math:`\mathcal{B} \in \mathbb{R}^{d \times C_{out}}` and :math:`T_k` the recurrence of the
    authors' code (LeiBAI/AGCRN, ``AGCN.py``): :math:`T_0 = \mathbf{I}`, :math:`T_1 = \mathbf{A}`,
    :math:`T_k = 2\mathbf{A}T_{k-1} - T_{k-2}`, applied to ``x`` term by term
    (:func:`~stgraph.nn.chebyshev_terms` with ``A`` as the operator) rather than formed as
    matrices; the same numbers. ``order`` counts hops, :math:`K`, as in every graph layer
    here: the authors' ``cheb_k`` (terms) is ``order + 1``; their default ``cheb_k=2`` is
    ``order=1``, supports :math:`[\mathbf{I}, \mathbf{A}]`.

    The paper's graph convolution applies :math:`\mathbf{I} + \mathbf{A}` under one weight; the code
    (followed here) gives :math:`\mathbf{I}` and :math:`\mathbf{A}` weights of their own.

    Both pools are Glorot-uniform initialised (the authors' training script re-initialises
    every parameter of more than one dimension so).

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        embedding_dim: width :math:`d` of the sensor embedding the weights are read from.
        order: hops :math:`K` (default 1: the authors' ``cheb_k=2``).

    Shapes:
        x: ``[..., nodes, in_features]``, embedding: ``[nodes, embedding_dim]``, adjacency:
        ``[nodes, nodes]`` dense (:func:`embedding_adjacency`) -> ``[..., nodes, out_features]``
    """

    def __init__(self, in_features: int, out_features: int, *, embedding_dim: int, order: int = 1) -> None:
        super().__init__()
        if min(in_features, out_features, embedding_dim) < 1 or order < 0:
            raise ValueError(
                "NodeAdaptiveGraphConv: in_features, out_features and embedding_dim must be >= 1 and order >= 0; "
                f"got {in_features}, {out_features}, {embedding_dim} and {order}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.embedding_dim = embedding_dim
        self.order = order
        self.weight_pool = nn.Parameter(torch.empty(embedding_dim, order + 1, in_features, out_features))
        self.bias_pool = nn.Parameter(torch.empty(embedding_dim, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.weight_pool)
        nn.init.xavier_uniform_(self.bias_pool)

    def forward(self, x: Tensor, embedding: Tensor, adjacency: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError(f"NodeAdaptiveGraphConv expects x as [..., nodes, {self.in_features}], got {list(x.shape)}")
        if embedding.shape != (x.shape[-2], self.embedding_dim):
            raise ShapeError(
                f"NodeAdaptiveGraphConv expects an embedding [{x.shape[-2]}, {self.embedding_dim}] for x {list(x.shape)}; "
                f"got {list(embedding.shape)}"
            )
        terms = torch.stack(chebyshev_terms(x, adjacency, self.order), dim=-2)  # [..., nodes, K + 1, in]
        weights = torch.einsum("nd,dkio->nkio", embedding, self.weight_pool)  # [nodes, K + 1, in, out]
        bias = embedding @ self.bias_pool  # [nodes, out]
        return torch.einsum("...nki,nkio->...no", terms, weights) + bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"embedding_dim={self.embedding_dim}, order={self.order}"
        )
