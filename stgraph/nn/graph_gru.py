r"""A gated recurrent unit whose matrix products are graph convolutions.

DCRNN's DCGRU (diffusion convolution; Li et al., ICLR 2018, Eq. 3) and T-GCN's cell (GCN
convolution; Zhao et al., IEEE T-ITS 2020, Eqs. 3-6) are the same cell with a different graph
convolution, so both models build :class:`GraphGRUCell` and hand it their convolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as recompute

__all__ = ["GraphGRUCell", "SeparableGraphConv"]


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
    instead of 256 for DCRNN's upper layers (:math:`F = H = 64`). The diffusion of a state is
    also the diffusion of the next layer's input: a stacked model passes it in as
    ``state_terms`` / ``x_terms`` (see :meth:`forward`), leaving :math:`F + H` new columns per
    upper layer and step. The same function is computed, up to float rounding; gradients
    too. Other convolutions (T-GCN's GCN) convolve ``[x, h]`` and ``[x, r * h]`` as written.

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
        """Whether the convolutions are separable, so that :meth:`terms` and the ``x_terms`` /
        ``state_terms`` arguments of :meth:`forward` apply."""
        return isinstance(self.gates, SeparableGraphConv) and isinstance(self.candidate, SeparableGraphConv)

    def initial_state(self, x: Tensor) -> Tensor:
        """Zero state ``[batch, nodes, hidden]`` matching ``x`` ``[batch, nodes, features]``."""
        return x.new_zeros(x.shape[0], x.shape[1], self.hidden)

    def terms(self, signal: Tensor, graph: Any) -> Tensor:
        """The graph terms of ``signal`` (an input or a state) as the convolutions use them.

        Shapes:
            signal: ``[batch, nodes, width]`` -> ``[batch, nodes, terms * width]``
        """
        if not self.shares_diffusion:
            raise TypeError(f"{type(self.gates).__name__} is not a separable graph convolution: it has no terms()")
        return self.gates.terms(signal, graph)

    def forward(
        self, x: Tensor, state: Tensor, graph: Any, *, x_terms: Tensor | None = None, state_terms: Tensor | None = None
    ) -> Tensor:
        """One step. ``x_terms`` / ``state_terms``: ``self.terms(x, graph)`` /
        ``self.terms(state, graph)`` if the caller has them already (separable convolutions
        only; computed here otherwise). Under ``checkpoint`` pass neither: they would be kept
        for the backward pass."""
        if (x_terms is not None or state_terms is not None) and not self.shares_diffusion:
            raise TypeError(f"{type(self.gates).__name__} is not a separable graph convolution: pass no terms")
        if self.checkpoint and torch.is_grad_enabled():
            return recompute(self._step, x, state, graph, x_terms, state_terms, use_reentrant=False)
        return self._step(x, state, graph, x_terms, state_terms)

    def _step(self, x: Tensor, state: Tensor, graph: Any, x_terms: Tensor | None, state_terms: Tensor | None) -> Tensor:
        if not self.shares_diffusion:
            gates = torch.sigmoid(self.gates(torch.cat([x, state], dim=-1), graph) + self.gate_bias)
            reset, update = gates.split(self.hidden, dim=-1)
            candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], dim=-1), graph) + self.candidate_bias)
        else:
            reset, update, candidate = self._shared_diffusion_step(x, state, graph, x_terms, state_terms)
        # u * h + (1 - u) * c, written as c + u * (h - c) to save one pass over the state.
        return torch.lerp(candidate, state, update)

    def _shared_diffusion_step(
        self, x: Tensor, state: Tensor, graph: Any, x_terms: Tensor | None, state_terms: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Reset gate, update gate and candidate from one diffusion each of x, h and r * h."""
        inputs, hidden = slice(0, self.in_features), slice(self.in_features, None)
        if x_terms is None:
            x_terms = self.terms(x, graph)
        if state_terms is None:
            state_terms = self.terms(state, graph)
        # The input's share of the gates and of the candidate, biases included: one GEMM.
        from_x = F.linear(
            x_terms,
            torch.cat([self.gates.term_weight(inputs), self.candidate.term_weight(inputs)]),
            torch.cat([self.gate_bias, self.candidate_bias]),
        ).flatten(0, -2)
        width = 2 * self.hidden
        gates = torch.sigmoid(
            torch.addmm(from_x[:, :width], state_terms.flatten(0, -2), self.gates.term_weight(hidden).t())
        ).view(*state.shape[:-1], width)
        reset, update = gates.split(self.hidden, dim=-1)
        reset_terms = self.candidate.terms(reset * state, graph)
        candidate = torch.tanh(
            torch.addmm(from_x[:, width:], reset_terms.flatten(0, -2), self.candidate.term_weight(hidden).t())
        ).view_as(state)
        return reset, update, candidate

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, hidden={self.hidden}, checkpoint={self.checkpoint}"
