r"""A gated recurrent unit whose matrix products are graph convolutions.

DCRNN's DCGRU (diffusion convolution; Li et al., ICLR 2018, Eq. 3) and T-GCN's cell (GCN
convolution; Zhao et al., IEEE T-ITS 2020, Eqs. 3-6) are the same cell with a different graph
convolution, so both models build :class:`GraphGRUCell` and hand it their convolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as recompute

__all__ = ["GraphGRUCell", "SeparableGraphConv", "ShareWeights"]


@runtime_checkable
class SeparableGraphConv(Protocol):
    """A graph convolution computed as ``terms(x, graph) @ term_weight().T`` (+ bias).

    Its graph part acts on each input feature alone, so the convolution of ``[x, h]`` is
    ``terms(x) @ term_weight(x features).T + terms(h) @ term_weight(h features).T``: a caller
    may diffuse ``x`` and ``h`` separately and reuse either. :class:`~stgraph.nn.DiffusionConv`
    is one.
    """

    def terms(self, x: Tensor, graph: Any) -> Tensor: ...

    def term_weight(self, features: slice = ...) -> Tensor: ...


class ShareWeights(NamedTuple):
    """A :class:`GraphGRUCell`'s weights over the graph terms (:meth:`GraphGRUCell.share_weights`)."""

    input: Tensor
    input_bias: Tensor
    state: Tensor
    candidate_state: Tensor


class GraphGRUCell(nn.Module):
    r"""GRU cell with graph-convolutional gates (DCGRU / T-GCN cell).

    .. math::
        [\mathbf{r}_t, \mathbf{u}_t] &= \sigma\big(\Theta_{ru} \star_\mathcal{G} [\mathbf{X}_t, \mathbf{H}_{t-1}] + \mathbf{b}_{ru}\big) \\
        \mathbf{C}_t &= \tanh\big(\Theta_C \star_\mathcal{G} [\mathbf{X}_t, \mathbf{r}_t \odot \mathbf{H}_{t-1}] + \mathbf{b}_C\big) \\
        \mathbf{H}_t &= \mathbf{u}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{u}_t) \odot \mathbf{C}_t

    The reset and update gates come out of **one** graph convolution with ``2 * hidden``
    outputs, as in both reference codes. As there, weights are Glorot-uniform and the gate bias
    starts at 1 (so the cell starts out neither resetting nor updating) and the candidate bias at
    0. The biases live in the cell, so any graph convolution without its own bias plugs in.

    **Shared diffusion.** With a :class:`SeparableGraphConv` (diffusion convolution), the
    graph part of :math:`\Theta \star_\mathcal{G} [\mathbf{X}, \mathbf{H}]` is that of
    :math:`\mathbf{X}` and that of :math:`\mathbf{H}` side by side, so the cell diffuses
    :math:`\mathbf{X}_t`, :math:`\mathbf{H}_{t-1}` and :math:`\mathbf{r}_t \odot
    \mathbf{H}_{t-1}` once each, and the input's terms serve both the gates and the candidate
    (one GEMM gives the input's share of both). Propagated columns per support and step fall
    from :math:`2(F + H)` (diffusing ``[x, h]`` and ``[x, r * h]``) to :math:`F + 2H`: 192
    instead of 256 for DCRNN's upper layers (:math:`F = H = 64`). A stacked model goes further
    (:meth:`share_weights`, :meth:`step_from_shares`): a state's diffusion is also the next
    layer's input's, so it diffuses each new state once and multiplies it by one GEMM with the
    stacked weights of all its consumers (this cell's gates at the next step and the layer
    above's input), leaving :math:`F + H` new columns per upper layer and step and one gradient
    per term instead of a sum of two. The same function is computed, up to float rounding;
    gradients too. Other convolutions (T-GCN's GCN) convolve ``[x, h]`` and ``[x, r * h]`` as
    written.

    **Checkpointing.** With ``checkpoint=True`` the step runs under
    :func:`torch.utils.checkpoint.checkpoint` (non-reentrant) while gradients are recorded:
    only its inputs are kept for the backward pass, which recomputes the step (one more
    forward pass of the step for much less activation memory).

    Args:
        in_features: features per sensor in ``x`` at one step.
        hidden: hidden units per sensor.
        conv: ``conv(in_features, out_features)`` builds a bias-free graph convolution whose
            ``forward(x, graph)`` maps ``[..., nodes, in_features]`` to
            ``[..., nodes, out_features]``; ``graph`` is whatever that convolution takes (an
            operator, or a list of operators for diffusion convolution). Called twice.
        checkpoint: recompute the step in the backward pass instead of keeping its
            intermediates (default False).

    Shapes:
        x: ``[batch, nodes, in_features]``, state: ``[batch, nodes, hidden]`` ->
        new state ``[batch, nodes, hidden]``
    """

    def __init__(
        self, in_features: int, hidden: int, conv: Callable[[int, int], nn.Module], *, checkpoint: bool = False
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.hidden = hidden
        self.checkpoint = checkpoint
        self.gates = conv(in_features + hidden, 2 * hidden)
        self.candidate = conv(in_features + hidden, hidden)
        self.gate_bias = nn.Parameter(torch.empty(2 * hidden))
        self.candidate_bias = nn.Parameter(torch.empty(hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in (self.gates, self.candidate):
            for weight in conv.parameters():
                if weight.ndim >= 2:
                    nn.init.xavier_uniform_(weight)
        nn.init.ones_(self.gate_bias)
        nn.init.zeros_(self.candidate_bias)

    @property
    def shares_diffusion(self) -> bool:
        """Whether the convolutions are separable, so that :meth:`terms`, :meth:`share_weights`
        and :meth:`step_from_shares` apply."""
        return isinstance(self.gates, SeparableGraphConv) and isinstance(self.candidate, SeparableGraphConv)

    def initial_state(self, x: Tensor) -> Tensor:
        """Zero state ``[batch, nodes, hidden]`` matching ``x`` ``[batch, nodes, features]``."""
        return x.new_zeros(x.shape[0], x.shape[1], self.hidden)

    def terms(self, signal: Tensor, graph: Any) -> Tensor:
        """The graph terms of ``signal`` (an input or a state) as the convolutions use them.

        Shapes:
            signal: ``[..., nodes, width]`` -> ``[..., nodes, terms * width]``
        """
        if not self.shares_diffusion:
            raise TypeError(f"{type(self.gates).__name__} is not a separable graph convolution: it has no terms()")
        return self.gates.terms(signal, graph)

    def share_weights(self) -> ShareWeights:
        """The cell's weights over :meth:`terms`, split by what they multiply (separable
        convolutions only). Compute them once per sequence: they are the same at every step.

        Shapes:
            input ``[3 * hidden, terms * in_features]`` (gates' rows, then the candidate's),
            input_bias ``[3 * hidden]``, state ``[2 * hidden, terms * hidden]``,
            candidate_state ``[hidden, terms * hidden]``
        """
        if not self.shares_diffusion:
            raise TypeError(f"{type(self.gates).__name__} is not a separable graph convolution: it has no share weights")
        inputs, hidden = slice(0, self.in_features), slice(self.in_features, None)
        return ShareWeights(
            input=torch.cat([self.gates.term_weight(inputs), self.candidate.term_weight(inputs)]),
            input_bias=torch.cat([self.gate_bias, self.candidate_bias]),
            state=self.gates.term_weight(hidden),
            candidate_state=self.candidate.term_weight(hidden),
        )

    def forward(self, x: Tensor, state: Tensor, graph: Any) -> Tensor:
        """One step: the new state."""
        if self.checkpoint and torch.is_grad_enabled():
            return recompute(self._step, x, state, graph, use_reentrant=False)
        return self._step(x, state, graph)

    def _step(self, x: Tensor, state: Tensor, graph: Any) -> Tensor:
        if self.shares_diffusion:
            weights = self.share_weights()
            input_share = F.linear(self.terms(x, graph), weights.input, weights.input_bias)
            state_share = F.linear(self.terms(state, graph), weights.state)
            return self.step_from_shares(state, input_share, state_share, graph, weights)
        gates = torch.sigmoid(self.gates(torch.cat([x, state], dim=-1), graph) + self.gate_bias)
        reset, update = gates.split(self.hidden, dim=-1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], dim=-1), graph) + self.candidate_bias)
        # u * h + (1 - u) * c, written as c + u * (h - c) to save one pass over the state.
        return torch.lerp(candidate, state, update)

    def step_from_shares(
        self, state: Tensor | None, input_share: Tensor, state_share: Tensor | None, graph: Any, weights: ShareWeights
    ) -> Tensor:
        r"""One step given the input's and the state's shares of the pre-activations.

        ``input_share`` is ``terms(x) @ weights.input.T + weights.input_bias`` (gates, then
        candidate) and ``state_share`` is ``terms(state) @ weights.state.T``. A stacked model
        computes them where the input and the state are made, so that each is diffused once and
        multiplied by one GEMM for all its consumers (see :class:`~stgraph.models.DCRNN`). Only
        :math:`\mathbf{r} \odot \mathbf{H}` is diffused here. ``state=None`` (with
        ``state_share=None``) is the zero initial state, whose terms are all zero: then
        :math:`\mathbf{H}_t = (1 - \mathbf{u}_t) \odot \mathbf{C}_t` with nothing diffused.

        Shapes:
            state ``[batch, nodes, hidden]``, input_share ``[batch, nodes, 3 * hidden]``,
            state_share ``[batch, nodes, 2 * hidden]`` -> new state ``[batch, nodes, hidden]``
        """
        if (state is None) != (state_share is None):
            raise ValueError("step_from_shares: state and state_share are both given or both None (zero state)")
        gate_input, candidate_input = input_share.split([2 * self.hidden, self.hidden], dim=-1)
        if state is None:
            update = torch.sigmoid(gate_input[..., self.hidden :])
            candidate = torch.tanh(candidate_input)
            return candidate - update * candidate
        reset, update = torch.sigmoid(gate_input + state_share).split(self.hidden, dim=-1)
        reset_terms = self.candidate.terms(reset * state, graph)
        candidate = torch.tanh(
            torch.addmm(candidate_input.reshape(-1, self.hidden), reset_terms.flatten(0, -2), weights.candidate_state.t())
        ).view_as(state)
        # u * h + (1 - u) * c, written as c + u * (h - c) to save one pass over the state.
        return torch.lerp(candidate, state, update)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, hidden={self.hidden}, checkpoint={self.checkpoint}"
