r"""Chebyshev spectral graph convolution (Defferrard et al., NeurIPS 2016; used by STGCN)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.ops import Operator, propagate

__all__ = ["ChebConv", "chebyshev_terms"]


def chebyshev_terms(x: Tensor, laplacian: Operator | Tensor, order: int) -> list[Tensor]:
    r"""The Chebyshev basis applied to ``x``: :math:`[T_0(\tilde{\mathbf{L}})\mathbf{X}, \dots,
    T_{K-1}(\tilde{\mathbf{L}})\mathbf{X}]` with :math:`K` = ``order`` terms.

    Computes the recurrence of Defferrard et al. (2016, eq. 4):

    .. math::
        T_0\mathbf{X} = \mathbf{X}, \quad T_1\mathbf{X} = \tilde{\mathbf{L}}\mathbf{X}, \quad
        T_k\mathbf{X} = 2\tilde{\mathbf{L}}\,T_{k-1}\mathbf{X} - T_{k-2}\mathbf{X}

    one propagation per term after the first; never forms the matrix polynomials.

    Shapes:
        x: ``[..., nodes, features]`` -> ``order`` tensors of the same shape
    """
    if order < 1:
        raise ValueError(f"Chebyshev order (number of terms) must be >= 1, got {order}")
    terms = [x]
    if order > 1:
        terms.append(propagate(laplacian, x))
    for _ in range(2, order):
        terms.append(2.0 * propagate(laplacian, terms[-1]) - terms[-2])
    return terms


class ChebConv(nn.Module):
    r"""Chebyshev graph convolution (Defferrard, Bresson, Vandergheynst, "Convolutional Neural
    Networks on Graphs with Fast Localized Spectral Filtering", NeurIPS 2016, eq. 4), the graph
    convolution of STGCN (Yu, Yin, Zhu, IJCAI 2018, eq. 3 with ``Ks = order = 3``).

    .. math::
        \mathbf{H} = \sum_{k=0}^{K-1} T_k(\tilde{\mathbf{L}})\,\mathbf{X}\,\mathbf{\Theta}_k + \mathbf{b},
        \quad \tilde{\mathbf{L}} = \frac{2}{\lambda_{max}}\mathbf{L} - \mathbf{I}

    The scaled Laplacian is computed once per graph (``graph.torch_operator("laplacian")``).
    The :math:`K` terms are concatenated along the feature axis and multiplied by one stacked
    weight ``[K * in_features, out_features]`` (one GEMM instead of :math:`K` small ones); the
    parameter count equals STGCN's (:math:`K \cdot C_{in} \cdot C_{out} + C_{out}`).

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        order: number of Chebyshev terms :math:`K` (:math:`T_0 \dots T_{K-1}`; STGCN's ``Ks``).
        bias: add a learned bias.

    Shapes:
        x: ``[..., nodes, in_features]``; laplacian: ``[nodes, nodes]``
        -> ``[..., nodes, out_features]``
    """

    def __init__(self, in_features: int, out_features: int, order: int = 3, bias: bool = True) -> None:
        super().__init__()
        if order < 1:
            raise ValueError(f"ChebConv order (number of terms) must be >= 1, got {order}")
        self.in_features = in_features
        self.out_features = out_features
        self.order = order
        self.linear = nn.Linear(order * in_features, out_features, bias=bias)

    def forward(self, x: Tensor, laplacian: Operator | Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError(f"ChebConv expects x as [..., nodes, {self.in_features}], got {list(x.shape)}")
        return self.linear(torch.cat(chebyshev_terms(x, laplacian, self.order), dim=-1))

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, order={self.order}, bias={self.linear.bias is not None}"
