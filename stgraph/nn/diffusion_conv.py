r"""Diffusion convolution (DCRNN; Li, Yu, Shahabi, Liu, ICLR 2018), in its two published forms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.errors import ShapeError
from stgraph.ops import Operator, propagate

__all__ = ["VARIANTS", "DiffusionConv", "DiffusionPlan", "diffusion_plan", "diffusion_terms"]

VARIANTS = ("reference", "power")


@dataclass(frozen=True)
class _Product:
    """``products[source]`` propagated over ``transitions[transition]`` (scaled by 2 if
    ``doubled``), minus ``products[minus]`` if given: one new entry of the products list."""

    transition: int
    source: int
    doubled: bool = False
    minus: int | None = None


@dataclass(frozen=True)
class DiffusionPlan:
    r"""How :func:`diffusion_terms` computes its terms, fixed by ``order``, the number of
    transitions, the variant and ``include_self``; the values of ``x`` play no part.

    The *products* are what :func:`stgraph.ops.propagate` computes: ``products[0]`` is the input
    :math:`\mathbf{X}`, and ``steps[i]`` says how ``products[i + 1]`` is made. Each *term* is a
    combination ``((product, coefficient), ...)`` of products. Most terms are one product with
    coefficient 1. In the ``"reference"`` variant the last term of each transition,
    :math:`\mathbf{X}_K = 2\mathbf{P}\mathbf{X}_{K-1} - \mathbf{X}_{K-2}`, feeds no further
    product, so it is kept as the combination :math:`2\,(\mathbf{P}\mathbf{X}_{K-1}) -
    \mathbf{X}_{K-2}` of two products: a layer that multiplies the terms by a weight folds the
    2 and the subtraction into the weight (:meth:`fold`), so neither is an element-wise pass
    over the features. With DCRNN's ``order=2`` every reference term is then a plain product.

    Attributes:
        steps: one :class:`_Product` per product after the input.
        terms: per term, its ``(product, coefficient)`` pairs.
        projected: the products that some term uses, ascending: the columns a layer multiplies
            by its weight (``x`` is left out when no term uses it).
    """

    steps: tuple[_Product, ...]
    terms: tuple[tuple[tuple[int, float], ...], ...]

    @cached_property
    def projected(self) -> tuple[int, ...]:
        return tuple(sorted({product for term in self.terms for product, _ in term}))

    @cached_property
    def is_identity(self) -> bool:
        """Every term is one projected product with coefficient 1, in product order."""
        return self.terms == tuple(((product, 1.0),) for product in self.projected)

    def fold(self, weight: Tensor) -> Tensor:
        r"""A weight over the terms turned into the weight over the projected products.

        With terms :math:`\mathbf{Z}_t = \sum_p c_{t,p}\mathbf{U}_p`,
        :math:`\sum_t \mathbf{Z}_t\mathbf{\Theta}_t = \sum_p \mathbf{U}_p \sum_t c_{t,p}\mathbf{\Theta}_t`.

        Shapes:
            weight: ``[out, terms, features]`` -> ``[out, len(projected), features]``
        """
        if self.is_identity:
            return weight
        column = {product: i for i, product in enumerate(self.projected)}
        coefficients = [[0.0] * len(column) for _ in self.terms]
        for row, term in zip(coefficients, self.terms):
            for product, coefficient in term:
                row[column[product]] += coefficient
        return torch.einsum("otf,tp->opf", weight, weight.new_tensor(coefficients))


@cache
def diffusion_plan(order: int, num_transitions: int, variant: str = "reference", include_self: bool = True) -> DiffusionPlan:
    """The :class:`DiffusionPlan` of :func:`diffusion_terms` (see there for the math)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown diffusion variant {variant!r}; expected one of {list(VARIANTS)}")
    if order < 0 or num_transitions < 0:
        raise ValueError(f"diffusion order and number of transitions must be >= 0, got {order} and {num_transitions}")
    steps: list[_Product] = []
    terms: list[tuple[tuple[int, float], ...]] = [((0, 1.0),)] if include_self else []

    def product(transition: int, source: int, doubled: bool = False, minus: int | None = None) -> int:
        steps.append(_Product(transition, source, doubled, minus))
        return len(steps)

    if variant == "power":
        for transition in range(num_transitions):
            current = 0
            for _ in range(order):
                current = product(transition, current)
                terms.append(((current, 1.0),))
        return DiffusionPlan(tuple(steps), tuple(terms))
    previous = 0  # X_0, carried over between transitions as DCRNN's code does
    for transition in range(num_transitions):
        if order == 0:
            break
        current = product(transition, previous)
        terms.append(((current, 1.0),))
        for _ in range(2, order):  # X_k = 2 P X_{k-1} - X_{k-2}, needed by the next product
            previous, current = current, product(transition, current, doubled=True, minus=previous)
            terms.append(((current, 1.0),))
        if order >= 2:  # X_K feeds no product: keep it as 2 (P X_{K-1}) - X_{K-2}
            terms.append(((product(transition, current), 2.0), (previous, -1.0)))
            previous = current  # the next transition starts from X_{K-1}, not from X
    return DiffusionPlan(tuple(steps), tuple(terms))


def _doubled(transition: Operator | Tensor) -> Operator | Tensor:
    """:math:`2\\mathbf{P}`, kept on an Operator; multiplying by 2 is exact, so
    ``propagate(2P, x)`` equals ``2 * propagate(P, x)`` bit for bit."""
    if isinstance(transition, Operator):
        return transition.cached(
            "stgraph.nn.diffusion_conv:doubled",
            lambda op: Operator.from_csr(op.crow_indices, op.col_indices, 2 * op.values, op.num_nodes),
        )
    return 2 * transition


def _products(x: Tensor, transitions: Sequence[Operator | Tensor], plan: DiffusionPlan) -> list[Tensor]:
    """The products of ``plan`` (``[x, ...]``), one :func:`~stgraph.ops.propagate` each.

    Shapes:
        x: ``[..., nodes, features]`` -> ``1 + len(plan.steps)`` tensors of that shape
    """
    products = [x]
    doubled: dict[int, Operator | Tensor] = {}  # a dense transition is scaled once per call
    for step in plan.steps:
        transition = transitions[step.transition]
        if step.doubled:
            if step.transition not in doubled:
                doubled[step.transition] = _doubled(transition)
            transition = doubled[step.transition]
        out = propagate(transition, products[step.source])
        products.append(out if step.minus is None else torch.sub(out, products[step.minus]))
    return products


def diffusion_terms(
    x: Tensor,
    transitions: Sequence[Operator | Tensor],
    order: int,
    variant: str = "reference",
    include_self: bool = True,
) -> list[Tensor]:
    r"""The diffusion terms of ``x`` over each transition, in the order they are concatenated.

    ``variant="power"`` computes the DCRNN paper's terms (eq. 2) and Graph WaveNet's code (its
    ``gcn`` multiplies the previous term by the transition again, per transition):

    .. math::
        [\mathbf{X},\ \mathbf{P}_1\mathbf{X}, \dots, \mathbf{P}_1^{K}\mathbf{X},\ \dots,\
         \mathbf{P}_S\mathbf{X}, \dots, \mathbf{P}_S^{K}\mathbf{X}]

    ``variant="reference"`` computes what DCRNN's reference code (``model/dcrnn_cell.py``,
    ``_gconv``) does, which produced the published numbers: per transition :math:`\mathbf{P}`,

    .. math::
        \mathbf{X}_1 = \mathbf{P}\mathbf{X}_0, \quad
        \mathbf{X}_k = 2\mathbf{P}\mathbf{X}_{k-1} - \mathbf{X}_{k-2}\ (k = 2..K)

    and the pair :math:`(\mathbf{X}_{K-1}, \mathbf{X}_K)` carries over to the next transition:
    :math:`\mathbf{X}_0` is reset to the input only for the first transition. With :math:`K = 2`
    and transitions :math:`\mathbf{P}_f, \mathbf{P}_b` the terms are
    :math:`[\mathbf{X}, \mathbf{P}_f\mathbf{X}, 2\mathbf{P}_f^2\mathbf{X} - \mathbf{X},
    \mathbf{P}_b\mathbf{P}_f\mathbf{X}, 2\mathbf{P}_b^2\mathbf{P}_f\mathbf{X} - \mathbf{P}_f\mathbf{X}]`.
    With :math:`K = 1` nothing carries over and both variants agree. Either way one
    :func:`~stgraph.ops.propagate` per transition and step; intermediate reference terms
    (:math:`2 \le k < K`) propagate over :math:`2\mathbf{P}`, kept on the operator, so the
    doubling is no pass over the features.

    Args:
        x: sensor features.
        transitions: operators :math:`\mathbf{P}_s`, applied as ``P @ x`` along the node axis.
        order: hops :math:`K` per transition (0 keeps only the input term).
        variant: ``"reference"`` or ``"power"``.
        include_self: start the list with the input term :math:`\mathbf{X}` (:math:`k = 0`).

    Shapes:
        x: ``[..., nodes, features]`` -> ``include_self + len(transitions) * order`` tensors of
        that shape
    """
    plan = diffusion_plan(order, len(transitions), variant, include_self)
    products = _products(x, transitions, plan)
    terms = []
    for term in plan.terms:
        (first, coefficient), *rest = term
        value = products[first] if coefficient == 1.0 else coefficient * products[first]
        for product, coefficient in rest:
            value = value + coefficient * products[product]
        terms.append(value)
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
      two terms carry over from one transition to the next. This is what produced DCRNN's
      published numbers, so it is the default although it differs from the paper.
    - ``variant="power"``: the paper's :math:`\mathbf{Z}_{s,k} = \mathbf{P}_s^k\mathbf{X}`, also
      what Graph WaveNet's graph convolution computes (use it with ``num_transitions=3`` for the
      forward, backward and adaptive adjacencies).

    The transitions :math:`\mathbf{P}_s` are the random-walk operators
    ``graph.torch_operator("forward")`` and ``("backward")`` (applied as ``P @ x``, the
    transpose of the paper's :math:`\mathbf{D}_O^{-1}\mathbf{W}`, exactly as both reference
    codes apply them) or any dense ``[nodes, nodes]`` tensor such as
    :class:`AdaptiveAdjacency`'s output (the reference codes call them "supports").

    ``order`` counts hops (powers of each transition) :math:`K`, as ``order`` does in every
    graph layer here (:class:`ChebConv`): with :math:`S` transitions the layer has
    :math:`1 + S K` terms (:math:`S K` without ``include_self``). The parameter is one stacked
    weight ``[out_features, terms * in_features]`` (``linear.weight``), the count of DCRNN's
    ``[input_size * num_matrices, output_size]`` (term-major rather than feature-major rows; the
    function is the same).

    How it is computed (:class:`DiffusionPlan`): the propagated products are concatenated along
    the feature axis and multiplied by the weight in one GEMM. For the reference variant the
    last term of each transition, :math:`2\mathbf{P}\mathbf{Z}_{K-1} - \mathbf{Z}_{K-2}`, is not
    formed: its 2 and its subtraction are folded into the (small) weight,
    :math:`\mathbf{Z}_{K-2}\mathbf{\Theta}_{K-2} + (2\mathbf{P}\mathbf{Z}_{K-1} -
    \mathbf{Z}_{K-2})\mathbf{\Theta}_K = \mathbf{Z}_{K-2}(\mathbf{\Theta}_{K-2} -
    \mathbf{\Theta}_K) + (\mathbf{P}\mathbf{Z}_{K-1})(2\mathbf{\Theta}_K)`, which saves two
    element-wise passes per transition forward and two backward. The result is the same function
    up to float rounding.

    :meth:`terms` and :meth:`term_weight` expose the two halves, so that a caller convolving
    ``[x, h]`` can diffuse ``x`` and ``h`` separately and reuse them (see
    :class:`~stgraph.nn.FusedGraphGRU`): the convolution is linear in its input, feature by
    feature.

    Args:
        in_features: features per sensor in ``x``.
        out_features: features per sensor in the output.
        order: hops :math:`K`, the highest power of each transition (DCRNN: 2).
        num_transitions: number :math:`S` of transitions passed to ``forward`` (2: forward and
            backward walks).
        variant: ``"reference"`` (DCRNN code) or ``"power"`` (DCRNN paper, Graph WaveNet code).
        include_self: include the :math:`k = 0` term :math:`\mathbf{X}\mathbf{\Theta}_0`.
        bias: add a learned bias.

    Shapes:
        x: ``[..., nodes, in_features]``; transitions: ``num_transitions`` operators
        ``[nodes, nodes]`` -> ``[..., nodes, out_features]``
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        order: int = 2,
        num_transitions: int = 2,
        variant: str = "reference",
        include_self: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown diffusion variant {variant!r}; expected one of {list(VARIANTS)}")
        if order < 0 or num_transitions < 0:
            raise ValueError(f"order and num_transitions must be >= 0, got {order} and {num_transitions}")
        self.num_terms = int(include_self) + num_transitions * order
        if self.num_terms == 0:
            raise ValueError("DiffusionConv needs at least one term: include_self=True or order * num_transitions > 0")
        self.in_features = in_features
        self.out_features = out_features
        self.order = order
        self.num_transitions = num_transitions
        self.variant = variant
        self.include_self = include_self
        self.plan = diffusion_plan(order, num_transitions, variant, include_self)
        self.linear = nn.Linear(self.num_terms * in_features, out_features, bias=bias)

    def terms(self, x: Tensor, transitions: Sequence[Operator | Tensor]) -> Tensor:
        """The propagated products of ``x`` that the weight multiplies, concatenated product by
        product; ``x`` may be any slice of the input features (see :meth:`term_weight`).

        Shapes:
            x: ``[..., nodes, width]`` -> ``[..., nodes, len(plan.projected) * width]``
        """
        if isinstance(transitions, (Operator, Tensor)) or len(transitions) != self.num_transitions:
            got = 1 if isinstance(transitions, (Operator, Tensor)) else len(transitions)
            raise ShapeError(f"DiffusionConv was built for {self.num_transitions} transitions, got {got}")
        products = _products(x, transitions, self.plan)
        return torch.cat([products[p] for p in self.plan.projected], dim=-1)

    def term_weight(self, features: slice = slice(None)) -> Tensor:
        """The weight that multiplies :meth:`terms` of the input features ``features``: the
        convolution of ``x`` is ``terms(x) @ term_weight().T + bias``, and of ``[a, b]`` it is
        ``terms(a) @ term_weight(slice(0, a_width)).T + terms(b) @ term_weight(slice(a_width, None)).T + bias``.

        Shapes:
            -> ``[out_features, len(plan.projected) * width]``, ``width`` features in the slice
        """
        weight = self.linear.weight.view(self.out_features, self.num_terms, self.in_features)
        folded = self.plan.fold(weight[:, :, features])
        return folded.reshape(self.out_features, -1)

    def forward(self, x: Tensor, transitions: Sequence[Operator | Tensor]) -> Tensor:
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            raise ShapeError(f"DiffusionConv expects x as [..., nodes, {self.in_features}], got {list(x.shape)}")
        return F.linear(self.terms(x, transitions), self.term_weight(), self.linear.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, order={self.order}, num_transitions={self.num_transitions}, "
            f"variant={self.variant!r}, include_self={self.include_self}, bias={self.linear.bias is not None}"
        )
