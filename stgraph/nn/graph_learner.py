r"""MTGNN's graph learning layer (Wu, Pan, Long, Jiang, Chang, Zhang, KDD 2020, eq. 1-6)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["GraphLearner"]


class GraphLearner(nn.Module):
    r"""A sparse, directed adjacency learned from two sensor embeddings (MTGNN, eq. 1-6).

    .. math::
        \mathbf{M}_1 = \tanh(\alpha\,\mathbf{E}_1\mathbf{\Theta}_1),\quad
        \mathbf{M}_2 = \tanh(\alpha\,\mathbf{E}_2\mathbf{\Theta}_2),\quad
        \mathbf{A} = \mathrm{ReLU}(\tanh(\alpha(\mathbf{M}_1\mathbf{M}_2^\top -
            \mathbf{M}_2\mathbf{M}_1^\top)))

    then, in every row, all but the ``neighbors`` largest entries are set to 0 (eq. 5-6,
    ``subgraph_size`` in the code). :math:`\mathbf{\Theta}_{1,2}` are linear maps with bias
    (``nn.Linear``, as in the code), the embeddings :math:`\mathbf{E}_{1,2}` start standard
    normal (``nn.Embedding``'s initialisation). The antisymmetric term makes the graph
    uni-directional: :math:`A_{ij} > 0` implies :math:`A_{ji} = 0`, and the diagonal is 0.

    Tie-breaking noise: the authors' code (nnzhan/MTGNN, ``layer.py``, ``graph_constructor``)
    ranks ``adj + rand_like(adj) * 0.01`` for the top-k, at every call: the tanh saturates at 1,
    so many entries of a row tie and the noise picks among them at random. The noise (scale
    ``tie_noise``) is kept here in training mode. The code draws it in evaluation too, so
    its test forecasts vary between calls; here evaluation ranks the entries without noise
    (ties go to the lowest sensor index), so a trained model's forecasts are reproducible.
    The noise only chooses the mask: the kept weights are those of :math:`\mathbf{A}`.

    Args:
        num_sensors: sensors :math:`N`.
        embedding_dim: embedding width (``node_dim``, 40 in the code).
        neighbors: entries kept per row, :math:`k` (``subgraph_size``, 20).
        saturation: :math:`\alpha` (``tanhalpha``, 3).
        tie_noise: scale of the uniform noise added before ranking in training (0.01).

    Shapes:
        output: ``[num_sensors, num_sensors]`` dense; row ``i`` holds sensor ``i``'s weights
        on the sensors it receives from (``out = A @ x`` in the mix-hop layer)
    """

    def __init__(
        self, num_sensors: int, embedding_dim: int = 40, *, neighbors: int = 20, saturation: float = 3.0, tie_noise: float = 0.01
    ) -> None:
        super().__init__()
        if num_sensors < 1 or embedding_dim < 1:
            raise ValueError(f"GraphLearner: num_sensors and embedding_dim must be >= 1, got {num_sensors} and {embedding_dim}")
        if not 1 <= neighbors <= num_sensors:
            raise ValueError(f"GraphLearner: neighbors must be in 1..num_sensors ({num_sensors}), got {neighbors}")
        if tie_noise < 0:
            raise ValueError(f"GraphLearner: tie_noise must be >= 0, got {tie_noise}")
        self.num_sensors = num_sensors
        self.embedding_dim = embedding_dim
        self.neighbors = neighbors
        self.saturation = saturation
        self.tie_noise = tie_noise
        self.source_embedding = nn.Embedding(num_sensors, embedding_dim)
        self.target_embedding = nn.Embedding(num_sensors, embedding_dim)
        self.source_linear = nn.Linear(embedding_dim, embedding_dim)
        self.target_linear = nn.Linear(embedding_dim, embedding_dim)

    def dense(self) -> Tensor:
        r"""The full :math:`\mathbf{A}` before the top-k mask (the code's ``fullA``)."""
        m1 = torch.tanh(self.saturation * self.source_linear(self.source_embedding.weight))
        m2 = torch.tanh(self.saturation * self.target_linear(self.target_embedding.weight))
        return torch.relu(torch.tanh(self.saturation * (m1 @ m2.T - m2 @ m1.T)))

    def forward(self) -> Tensor:
        adjacency = self.dense()
        ranked = adjacency.detach()
        if self.training and self.tie_noise > 0:
            ranked = ranked + torch.rand_like(ranked) * self.tie_noise
        keep = ranked.topk(self.neighbors, dim=1).indices
        mask = torch.zeros_like(adjacency).scatter_(1, keep, 1.0)
        return adjacency * mask

    def extra_repr(self) -> str:
        return f"num_sensors={self.num_sensors}, embedding_dim={self.embedding_dim}, neighbors={self.neighbors}"
