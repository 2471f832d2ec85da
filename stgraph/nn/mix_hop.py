r"""MTGNN's mix-hop propagation layer (Wu, Pan, Long, Jiang, Chang, Zhang, KDD 2020, eq. 7-8)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stgraph.ops import Operator, propagate

__all__ = ["MixHopPropagation", "self_loop_row_normalized"]


def self_loop_row_normalized(adjacency: Tensor) -> Tensor:
    r""":math:`\tilde{\mathbf{D}}^{-1}(\mathbf{A} + \mathbf{I})`, :math:`\tilde{D}_{ii} =
    1 + \sum_j A_{ij}`: the operator MTGNN's ``mixprop`` builds from a dense adjacency
    (``adj + eye``, divided by its row sums). Differentiable with respect to ``adjacency``.

    Shapes:
        adjacency: ``[nodes, nodes]`` with non-negative weights -> ``[nodes, nodes]``, rows sum to 1
    """
    looped = adjacency + torch.eye(adjacency.shape[0], device=adjacency.device, dtype=adjacency.dtype)
    return looped / looped.sum(dim=1, keepdim=True)


class MixHopPropagation(nn.Module):
    r"""Mix-hop propagation with information selection (MTGNN, eq. 7-8).

    .. math::
        \mathbf{H}^{(0)} = \mathbf{X},\quad
        \mathbf{H}^{(k)} = \beta\,\mathbf{X} + (1 - \beta)\,\mathbf{P}\,\mathbf{H}^{(k-1)},\quad
        \mathbf{H}_{out} = \big[\mathbf{H}^{(0)} \,\|\, \mathbf{H}^{(1)} \,\|\, \cdots \,\|\,
            \mathbf{H}^{(K)}\big]\mathbf{W} + \mathbf{b}

    with :math:`\mathbf{P}` a row-normalised operator (:func:`self_loop_row_normalized`),
    :math:`K` = ``order`` (``gcn_depth``, 2) and :math:`\beta` = ``retain`` (``propalpha``,
    0.05): the share of the layer's input kept at every hop, so deep propagation does not wash
    the sensor's own signal out. The paper's per-hop selections :math:`\mathbf{W}^{(k)}` are,
    as in the code (``mixprop``: concatenation, then one 1x1 convolution), one linear map over
    the concatenated hops, which is the same function.

    The operator is applied as ``P @ x`` (:func:`stgraph.ops.propagate`), as the code's
    ``nconv`` (``einsum('ncwl,vw->ncvl')``) does.

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        order: hops :math:`K`.
        retain: :math:`\beta` in ``[0, 1]``.

    Shapes:
        x: ``[..., nodes, in_features]`` -> ``[..., nodes, out_features]``
    """

    def __init__(self, in_features: int, out_features: int, *, order: int = 2, retain: float = 0.05) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"MixHopPropagation: order must be >= 1, got {order}")
        if not 0.0 <= retain <= 1.0:
            raise ValueError(f"MixHopPropagation: retain must be in [0, 1], got {retain}")
        self.order = order
        self.retain = retain
        self.linear = nn.Linear((order + 1) * in_features, out_features)

    def forward(self, x: Tensor, operator: Operator | Tensor) -> Tensor:
        hops = [x]
        hidden = x
        for _ in range(self.order):
            hidden = self.retain * x + (1.0 - self.retain) * propagate(operator, hidden)
            hops.append(hidden)
        out: Tensor = self.linear(torch.cat(hops, dim=-1))
        return out

    def extra_repr(self) -> str:
        return f"order={self.order}, retain={self.retain}"
