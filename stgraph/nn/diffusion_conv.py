r"""Diffusion convolution (DCRNN; Li, Yu, Shahabi, Liu, ICLR 2018), in its two published forms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.ops import Operator, propagate

__all__ = ["DiffusionConv", "diffusion_terms", "VARIANTS"]

VARIANTS = ("reference", "power")


def diffusion_terms(
    x: Tensor,
    supports: Sequence[Operator | Tensor],
    order: int,
    variant: str = "reference",
    include_self: bool = True,
) -> list[Tensor]:
    r"""The diffusion terms of ``x`` over each support, in the order they are concatenated.

    ``variant="power"`` computes the DCRNN paper's terms (eq. 2) and Graph WaveNet's code (its
    ``gcn`` multiplies the previous term by the support again, per support):

    .. math::
        [\mathbf{X},\ \mathbf{P}_1\mathbf{X}, \dots, \mathbf{P}_1^{K}\mathbf{X},\ \dots,\
         \mathbf{P}_S\mathbf{X}, \dots, \mathbf{P}_S^{K}\mathbf{X}]

    ``variant="reference"`` computes what DCRNN's reference code (``model/dcrnn_cell.py``,
    ``_gconv``) does, which produced the published numbers: per support :math:`\mathbf{P}`,

    .. math::
        \mathbf{X}_1 = \mathbf{P}\mathbf{X}_0, \quad
        \mathbf{X}_k = 2\mathbf{P}\mathbf{X}_{k-1} - \mathbf{X}_{k-2}\ (k = 2..K)

    and the pair :math:`(\mathbf{X}_{K-1}, \mathbf{X}_K)` carries over to the next support:
    :math:`\mathbf{X}_0` is reset to the input only for the first support. With :math:`K = 2`
    and supports :math:`\mathbf{P}_f, \mathbf{P}_b` the terms are
    :math:`[\mathbf{X}, \mathbf{P}_f\mathbf{X}, 2\mathbf{P}_f^2\mathbf{X} - \mathbf{X},
    \mathbf{P}_b\mathbf{P}_f\mathbf{X}, 2\mathbf{P}_b^2\mathbf{P}_f\mathbf{X} - \mathbf{P}_f\mathbf{X}]`.
    With :math:`K = 1` nothing carries over and both variants agree.

    Args:
        x: sensor features.
        supports: operators :math:`\mathbf{P}_s`, applied as ``P @ x`` along the node axis.
        order: diffusion steps :math:`K` per support (0 keeps only the input term).
        variant: ``"reference"`` or ``"power"``.
        include_self: start the list with the input term :math:`\mathbf{X}` (:math:`k = 0`).

    Shapes:
        x: ``[..., nodes, features]`` -> ``include_self + len(supports) * order`` tensors of
        that shape
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown diffusion variant {variant!r}; expected one of {list(VARIANTS)}")
    if order < 0:
        raise ValueError(f"diffusion order must be >= 0, got {order}")
    terms = [x] if include_self else []
    if order == 0:
        return terms
    if variant == "power":
        for support in supports:
            current = x
            for _ in range(order):
                current = propagate(support, current)
                terms.append(current)
        return terms
    previous = x  # X_0, carried over between supports as DCRNN's code does
    for support in supports:
        current = propagate(support, previous)
        terms.append(current)
        for _ in range(2, order + 1):
            following = 2.0 * propagate(support, current) - previous
            terms.append(following)
            previous, current = current, following
        # No reset here: the next support starts from the X_0 this one ended with.
    return terms


class DiffusionConv(nn.Module):
    r"""Bidirectional diffusion convolution (Li, Yu, Shahabi, Liu, "Diffusion Convolutional
    Recurrent Neural Network: Data-Driven Traffic Forecasting", ICLR 2018, eq. 2).

    .. math::
        \mathbf{H} = \mathbf{X}\mathbf{\Theta}_0 + \sum_{s=1}^{S}\sum_{k=1}^{K}
            \mathbf{Z}_{s,k}\,\mathbf{\Theta}_{s,k} + \mathbf{b}

    where the terms :math:`\mathbf{Z}_{s,k}` come from :func:`diffusion_terms`:

    - ``variant="reference"`` (default): DCRNN's reference code, the Chebyshev-like recurrence
      :math:`\mathbf{Z}_{s,k} = 2\mathbf{P}_s\mathbf{Z}_{s,k-1} - \mathbf{Z}_{s,k-2}` whose last
      two terms carry over from one support to the next. This is what produced DCRNN's
      published numbers, so it is the default although it differs from the paper.
    - ``variant="power"``: the paper's :math:`\mathbf{Z}_{s,k} = \mathbf{P}_s^k\mathbf{X}`, also
      what Graph WaveNet's graph convolution computes (use it with ``num_supports=3`` for the
      forward, backward and adaptive adjacencies).

    The supports are the random-walk operators ``graph.torch_operator("forward")`` and
    ``("backward")`` (applied as ``P @ x``, the transpose of the paper's
    :math:`\mathbf{D}_O^{-1}\mathbf{W}`, exactly as both reference codes apply them) or any dense
    ``[nodes, nodes]`` tensor such as :class:`AdaptiveAdjacency`'s output. All terms are
    concatenated along the feature axis and multiplied by one stacked weight
    ``[terms * in_features, out_features]``: one GEMM rather than one per term. The parameter
    count equals DCRNN's ``[input_size * num_matrices, output_size]`` (term-major rather than
    feature-major rows; the function is the same).

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        order: diffusion steps :math:`K` per support (DCRNN: 2).
        num_supports: number of operators passed to ``forward`` (2: forward and backward walks).
        variant: ``"reference"`` (DCRNN code) or ``"power"`` (DCRNN paper, Graph WaveNet code).
        include_self: include the :math:`k = 0` term :math:`\mathbf{X}\mathbf{\Theta}_0`.
        bias: add a learned bias.

    Shapes:
        x: ``[..., nodes, in_features]``; supports: ``num_supports`` operators ``[nodes, nodes]``
        -> ``[..., nodes, out_features]``
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        order: int = 2,
        num_supports: int = 2,
        variant: str = "reference",
        include_self: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown diffusion variant {variant!r}; expected one of {list(VARIANTS)}")
        if order < 0 or num_supports < 0:
            raise ValueError(f"order and num_supports must be >= 0, got {order} and {num_supports}")
        self.num_terms = int(include_self) + num_supports * order
        if self.num_terms == 0:
            raise ValueError("DiffusionConv needs at least one term: include_self=True or order * num_supports > 0")
        self.in_features = in_features
        self.out_features = out_features
        self.order = order
        self.num_supports = num_supports
        self.variant = variant
        self.include_self = include_self
        self.linear = nn.Linear(self.num_terms * in_features, out_features, bias=bias)

    def forward(self, x: Tensor, supports: Sequence[Operator | Tensor]) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError(f"DiffusionConv expects x as [..., nodes, {self.in_features}], got {list(x.shape)}")
        if isinstance(supports, (Operator, Tensor)) or len(supports) != self.num_supports:
            got = 1 if isinstance(supports, (Operator, Tensor)) else len(supports)
            raise ShapeError(f"DiffusionConv was built for {self.num_supports} supports, got {got}")
        terms = diffusion_terms(x, supports, self.order, self.variant, self.include_self)
        return self.linear(torch.cat(terms, dim=-1))

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, order={self.order}, num_supports={self.num_supports}, "
            f"variant={self.variant!r}, include_self={self.include_self}, bias={self.linear.bias is not None}"
        )
