r"""A gated recurrent unit whose matrix products are graph convolutions.

DCRNN's DCGRU (diffusion convolution; Li et al., ICLR 2018, Eq. 3) and T-GCN's cell (GCN
convolution; Zhao et al., IEEE T-ITS 2020, Eqs. 3-6) are the same cell with a different graph
convolution, so both models build :class:`GraphGRUCell` and hand it their convolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as recompute

__all__ = ["GraphGRUCell"]

# The graph convolution the cell is built with (GraphGRUCell[DiffusionConv] for DCRNN).
_Conv = TypeVar("_Conv", bound=nn.Module)


class GraphGRUCell(nn.Module, Generic[_Conv]):
    r"""GRU cell with graph-convolutional gates (DCGRU / T-GCN cell).

    .. math::
        [\mathbf{r}_t, \mathbf{u}_t] &= \sigma\big(\Theta_{ru} \star_\mathcal{G} [\mathbf{X}_t, \mathbf{H}_{t-1}] + \mathbf{b}_{ru}\big) \\
        \mathbf{C}_t &= \tanh\big(\Theta_C \star_\mathcal{G} [\mathbf{X}_t, \mathbf{r}_t \odot \mathbf{H}_{t-1}] + \mathbf{b}_C\big) \\
        \mathbf{H}_t &= \mathbf{u}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{u}_t) \odot \mathbf{C}_t

    The reset and update gates come out of **one** graph convolution with ``2 * hidden``
    outputs, as in both reference codes. As there, weights are Glorot-uniform and the gate bias
    starts at 1 (so the cell starts out neither resetting nor updating) and the candidate bias at
    0. The biases live in the cell, so any graph convolution without its own bias plugs in.

    This is the definition: each step convolves ``[x, h]`` and ``[x, r * h]`` as written.
    :class:`~stgraph.nn.FusedGraphGRU` runs stacks of these cells with diffusion convolutions
    over whole sequences with fewer propagations, computing the same function.

    **Checkpointing.** With ``checkpoint=True`` the step runs under
    :func:`torch.utils.checkpoint.checkpoint` (non-reentrant) while gradients are recorded:
    only its inputs are kept for the backward pass, which recomputes the step (one more
    forward pass of the step for much less activation memory).

    Args:
        in_features: features per sensor in ``x`` at one step.
        hidden: hidden units per sensor.
        conv: ``conv(in_features, out_features)`` builds a bias-free graph convolution whose
            ``forward(x, operator)`` maps ``[..., nodes, in_features]`` to
            ``[..., nodes, out_features]``. Called twice.
        checkpoint: recompute the step in the backward pass instead of keeping its
            intermediates (default False).

    Shapes:
        x: ``[batch, nodes, in_features]``, state: ``[batch, nodes, hidden]``, operator: what
        ``conv``'s layers take (GCN: one ``[nodes, nodes]`` operator; diffusion: the list of
        transitions) -> new state ``[batch, nodes, hidden]``
    """

    def __init__(self, in_features: int, hidden: int, conv: Callable[[int, int], _Conv], *, checkpoint: bool = False) -> None:
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

    def initial_state(self, x: Tensor) -> Tensor:
        """Zero state ``[batch, nodes, hidden]`` matching ``x`` ``[batch, nodes, features]``."""
        return x.new_zeros(x.shape[0], x.shape[1], self.hidden)

    def forward(self, x: Tensor, state: Tensor, operator: Any) -> Tensor:
        """One step: the new state."""
        if self.checkpoint and torch.is_grad_enabled():
            new_state: Tensor = recompute(self._step, x, state, operator, use_reentrant=False)  # checkpoint() is unannotated
            return new_state
        return self._step(x, state, operator)

    def _step(self, x: Tensor, state: Tensor, operator: Any) -> Tensor:
        gates = torch.sigmoid(self.gates(torch.cat([x, state], dim=-1), operator) + self.gate_bias)
        reset, update = self._split_gates(gates)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * state], dim=-1), operator) + self.candidate_bias)
        # u * h + (1 - u) * c, written as c + u * (h - c) to save one pass over the state.
        return torch.lerp(candidate, state, update)

    def _split_gates(self, gates: Tensor) -> tuple[Tensor, Tensor]:
        """Reset and update gates ``[..., nodes, hidden]`` from the gate convolution's
        ``[..., nodes, 2 * hidden]``: each sensor's first and second half of features (Eq. 3 as
        written). A subclass may lay them out otherwise (T-GCN's reference code does)."""
        reset, update = gates.chunk(2, dim=-1)
        return reset, update

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, hidden={self.hidden}, checkpoint={self.checkpoint}"
