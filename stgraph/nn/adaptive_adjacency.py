r"""Graph WaveNet's self-adaptive adjacency (Wu, Pan, Long, Jiang, Zhang, IJCAI 2019, eq. 5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stgraph.errors import ShapeError

__all__ = ["AdaptiveAdjacency"]


class AdaptiveAdjacency(nn.Module):
    r"""A learned dense adjacency from two sensor embeddings (Graph WaveNet, eq. 5).

    .. math::
        \tilde{\mathbf{A}}_{adp} = \mathrm{SoftMax}(\mathrm{ReLU}(\mathbf{E}_1\mathbf{E}_2^\top)),
        \quad \mathbf{E}_1, \mathbf{E}_2 \in \mathbb{R}^{N \times d}

    with the softmax over each row (``dim=1``), so every row sums to 1. The embeddings are
    initialised from a standard normal distribution, as in Graph WaveNet's code
    (``torch.randn(num_nodes, 10)``); :meth:`init_from_adjacency` gives its optional SVD
    initialisation.

    Direction: :func:`stgraph.ops.propagate` applies a matrix as ``M @ x``. Graph WaveNet's code
    multiplies features by its matrices over their first index (``einsum('ncvl,vw->ncwl')``),
    i.e. it applies :math:`\tilde{\mathbf{A}}_{adp}^\top` to ``x``; pass ``adjacency.mT`` to
    reproduce that exactly (its transitions are applied the same way, which is what
    ``graph.torch_operator("forward")`` returns).

    Args:
        num_sensors: number of sensors :math:`N`.
        embedding_dim: embedding width :math:`d` (Graph WaveNet: 10).

    Shapes:
        output: ``[num_sensors, num_sensors]`` dense, differentiable w.r.t. both embeddings
    """

    def __init__(self, num_sensors: int, embedding_dim: int = 10) -> None:
        super().__init__()
        if num_sensors < 1 or embedding_dim < 1:
            raise ValueError(f"num_sensors and embedding_dim must be >= 1, got {num_sensors} and {embedding_dim}")
        self.num_sensors = num_sensors
        self.embedding_dim = embedding_dim
        self.source_embedding = nn.Parameter(torch.randn(num_sensors, embedding_dim))
        self.target_embedding = nn.Parameter(torch.randn(num_sensors, embedding_dim))

    @torch.no_grad()
    def init_from_adjacency(self, adjacency: Tensor) -> None:
        r"""Graph WaveNet's ``aptinit``: :math:`\mathbf{E}_1 = \mathbf{U}_d\Sigma_d^{1/2}`,
        :math:`\mathbf{E}_2 = \mathbf{V}_d\Sigma_d^{1/2}` from the truncated SVD of a dense
        ``[num_sensors, num_sensors]`` adjacency (so :math:`\mathbf{E}_1\mathbf{E}_2^\top` is its
        best rank-:math:`d` approximation)."""
        adjacency = torch.as_tensor(adjacency, dtype=self.source_embedding.dtype, device=self.source_embedding.device)
        if adjacency.shape != (self.num_sensors, self.num_sensors):
            raise ShapeError(f"init_from_adjacency expects [{self.num_sensors}, {self.num_sensors}], got {list(adjacency.shape)}")
        u, s, vh = torch.linalg.svd(adjacency)
        root = s[: self.embedding_dim].sqrt()
        self.source_embedding.copy_(u[:, : self.embedding_dim] * root)
        self.target_embedding.copy_(vh[: self.embedding_dim].T * root)

    def forward(self, positions: Tensor | None = None) -> Tensor:
        """The adjacency over all sensors, or over the sensors at ``positions`` (``[nodes]``
        int64): the embeddings' rows there, with each row's softmax over those sensors only,
        as the induced subgraph of a static graph is re-normalised on its own degrees.

        Shapes:
            returns ``[num_sensors, num_sensors]``, or ``[nodes, nodes]`` with ``positions``
        """
        source: Tensor = self.source_embedding
        target: Tensor = self.target_embedding
        if positions is not None:
            source, target = source.index_select(0, positions), target.index_select(0, positions)
        return F.softmax(F.relu(source @ target.T), dim=1)

    def extra_repr(self) -> str:
        return f"num_sensors={self.num_sensors}, embedding_dim={self.embedding_dim}"
