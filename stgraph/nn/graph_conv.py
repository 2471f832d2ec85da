r"""Graph convolution of Kipf & Welling (ICLR 2017), on the propagation core."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.ops import Operator, propagate

__all__ = ["GCNConv"]


class GCNConv(nn.Module):
    r"""Graph convolution (Kipf & Welling, "Semi-Supervised Classification with Graph
    Convolutional Networks", ICLR 2017, eq. 2), as used by T-GCN.

    .. math::
        \mathbf{H} = \hat{\mathbf{A}}\mathbf{X}\mathbf{W} + \mathbf{b},
        \quad \hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}(\mathbf{A} + \mathbf{I})\tilde{\mathbf{D}}^{-1/2}

    The normalised operator :math:`\hat{\mathbf{A}}` is computed once per graph
    (``graph.torch_operator("gcn")``); this layer only applies it. Since
    :math:`(\hat{\mathbf{A}}\mathbf{X})\mathbf{W} = \hat{\mathbf{A}}(\mathbf{X}\mathbf{W})`, the
    graph product runs on the narrower of ``in_features`` and ``out_features``.

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        bias: add a learned bias :math:`\mathbf{b}`.

    Shapes:
        x: ``[..., nodes, in_features]`` (e.g. ``[batch, time, nodes, in_features]``);
        operator: ``[nodes, nodes]`` (:class:`~stgraph.ops.Operator` or dense tensor)
        -> ``[..., nodes, out_features]``
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.linear = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: Tensor, operator: Operator | Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError(f"GCNConv expects x as [..., nodes, {self.in_features}], got {list(x.shape)}")
        if self.out_features < self.in_features:
            out = propagate(operator, self.linear(x))
        else:
            out = self.linear(propagate(operator, x))
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"
