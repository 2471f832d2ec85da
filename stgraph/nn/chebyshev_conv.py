r"""Chebyshev spectral graph convolution (Defferrard et al., NeurIPS 2016; used by STGCN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.ops import Operator, propagate

__all__ = ["ChebConv", "chebyshev_series", "chebyshev_terms"]


def chebyshev_terms(x: Tensor, laplacian: Operator | Tensor, order: int) -> list[Tensor]:
    r"""The Chebyshev basis applied to ``x``: :math:`[T_0(\tilde{\mathbf{L}})\mathbf{X}, \dots,
    T_K(\tilde{\mathbf{L}})\mathbf{X}]`, polynomial order :math:`K` = ``order``, :math:`K + 1` terms.

    Computes the recurrence of Defferrard et al. (2016, eq. 4):

    .. math::
        T_0\mathbf{X} = \mathbf{X}, \quad T_1\mathbf{X} = \tilde{\mathbf{L}}\mathbf{X}, \quad
        T_k\mathbf{X} = 2\tilde{\mathbf{L}}\,T_{k-1}\mathbf{X} - T_{k-2}\mathbf{X}

    one propagation per term after the first; never forms the matrix polynomials.

    Shapes:
        x: ``[..., nodes, features]`` -> ``order + 1`` tensors of the same shape
    """
    if order < 0:
        raise ValueError(f"Chebyshev order (highest polynomial degree) must be >= 0, got {order}")
    terms = [x]
    if order >= 1:
        terms.append(propagate(laplacian, x))
    for _ in range(2, order + 1):
        terms.append(2.0 * propagate(laplacian, terms[-1]) - terms[-2])
    return terms


def chebyshev_series(projections: Tensor, laplacian: Operator | Tensor) -> Tensor:
    r""":math:`\sum_{k=0}^{K} T_k(\tilde{\mathbf{L}})\,\mathbf{Z}_k` by Clenshaw's recurrence,
    for ``projections[k]`` = :math:`\mathbf{Z}_k`.

    .. math::
        \mathbf{B}_{K+1} = \mathbf{B}_{K+2} = 0, \quad
        \mathbf{B}_k = \mathbf{Z}_k + 2\tilde{\mathbf{L}}\mathbf{B}_{k+1} - \mathbf{B}_{k+2}
        \;(k = K \dots 1), \quad
        \text{result} = \mathbf{Z}_0 + \tilde{\mathbf{L}}\mathbf{B}_1 - \mathbf{B}_2

    :math:`K` propagations of the :math:`\mathbf{Z}_k`'s width, like the forward recurrence of
    :func:`chebyshev_terms` but on whatever features the ``Z_k`` have.

    Shapes:
        projections: ``[K + 1, ..., nodes, features]`` -> ``[..., nodes, features]``
    """
    order = projections.shape[0] - 1
    if order == 0:
        return projections[0]
    following = torch.zeros_like(projections[0])  # B_{k+2}
    current = projections[order]  # B_K = Z_K
    for k in range(order - 1, 0, -1):
        current, following = torch.add(projections[k], propagate(laplacian, current), alpha=2.0) - following, current
    return projections[0] + propagate(laplacian, current) - following


class ChebConv(nn.Module):
    r"""Chebyshev graph convolution (Defferrard, Bresson, Vandergheynst, "Convolutional Neural
    Networks on Graphs with Fast Localized Spectral Filtering", NeurIPS 2016, eq. 4), the graph
    convolution of STGCN (Yu, Yin, Zhu, IJCAI 2018, eq. 3).

    .. math::
        \mathbf{H} = \sum_{k=0}^{K} T_k(\tilde{\mathbf{L}})\,\mathbf{X}\,\mathbf{\Theta}_k + \mathbf{b},
        \quad \tilde{\mathbf{L}} = \frac{2}{\lambda_{max}}\mathbf{L} - \mathbf{I}

    ``order`` counts hops (the highest power of the Laplacian) :math:`K`, as ``order`` does in
    every graph layer here (:class:`DiffusionConv`): the layer has :math:`K + 1` terms
    :math:`T_0 \dots T_K` and mixes sensors up to :math:`K` hops apart. The papers count
    terms instead: STGCN's :math:`K_s = 3` (Defferrard's :math:`K`) is ``order=2``.

    The scaled Laplacian is computed once per graph (``graph.torch_operator("laplacian")``).
    The weight is STGCN's stacked ``[(K + 1) * in_features, out_features]`` (parameter count
    :math:`(K + 1) \cdot C_{in} \cdot C_{out} + C_{out}`), applied in the cheaper of two
    orders, which are equal by linearity:

    - ``out_features >= in_features``: propagate, then project. The :math:`K + 1` terms
      :math:`T_k\mathbf{X}` (:func:`chebyshev_terms`) are concatenated along the feature axis
      and multiplied by the stacked weight: one GEMM, :math:`K` propagations of
      ``in_features`` columns.
    - ``out_features < in_features`` (STGCN's 64 -> 16 bottleneck): project, then propagate.
      One batched GEMM gives every :math:`\mathbf{Z}_k = \mathbf{X}\mathbf{\Theta}_k`, and
      Clenshaw's recurrence (:func:`chebyshev_series`) sums :math:`T_k(\tilde{\mathbf{L}})\mathbf{Z}_k`
      with :math:`K` propagations of only ``out_features`` columns (4x fewer bytes moved
      for STGCN) and no concatenation.

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        order: hops :math:`K`, the highest Chebyshev polynomial degree (default 2: STGCN's
            :math:`K_s = 3` terms).
        bias: add a learned bias.

    Shapes:
        x: ``[..., nodes, in_features]``; laplacian: ``[nodes, nodes]``
        -> ``[..., nodes, out_features]``
    """

    def __init__(self, in_features: int, out_features: int, order: int = 2, bias: bool = True) -> None:
        super().__init__()
        if order < 0:
            raise ValueError(f"ChebConv order (highest polynomial degree) must be >= 0, got {order}")
        self.in_features = in_features
        self.out_features = out_features
        self.order = order
        self.num_terms = order + 1
        self.linear = nn.Linear(self.num_terms * in_features, out_features, bias=bias)

    def forward(self, x: Tensor, laplacian: Operator | Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError(f"ChebConv expects x as [..., nodes, {self.in_features}], got {list(x.shape)}")
        if self.out_features >= self.in_features:
            out: Tensor = self.linear(torch.cat(chebyshev_terms(x, laplacian, self.order), dim=-1))
            return out
        # Row block k of ``stacked`` is Theta_k^T, so one GEMM gives [Z_0 | Z_1 | ... | Z_K].
        stacked = self.linear.weight.view(self.out_features, self.num_terms, self.in_features).transpose(0, 1)
        z = F.linear(x, stacked.reshape(self.num_terms * self.out_features, self.in_features))
        projections = torch.unflatten(z, -1, (self.num_terms, self.out_features)).movedim(-2, 0)  # [K + 1, ..., nodes, out] views
        series = chebyshev_series(projections, laplacian)
        return series if self.linear.bias is None else series + self.linear.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, order={self.order}, bias={self.linear.bias is not None}"
