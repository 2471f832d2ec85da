r"""Connected sensor subgraphs for sensor-batched training: a region grown from a random sensor,
and the sensors inside it whose whole ``hops``-hop neighbourhood it contains.

One draw (:meth:`SubgraphSampler.sample`, a function of the sampler's seed and the step):

1. a root sensor :math:`r`, uniform over the graph;
2. the region :math:`R`: the first ``sensors`` sensors in breadth-first order from :math:`r`
   over the undirected structure :math:`\mathbf{A} + \mathbf{A}^\top`. A prefix of a
   breadth-first order is connected (every sensor's parent comes before it), so :math:`R` is a
   connected subgraph; only when :math:`r`'s component has fewer than ``sensors`` sensors does
   the search go on from the next root, adding whole components;
3. the seeds :math:`S = \{v \in R : \mathcal{N}_{hops}(v) \subseteq R\}`, the sensors whose
   ``hops``-hop neighbourhood lies inside the region: every sensor within ``hops`` hops of a
   sensor outside :math:`R` is removed (a multi-source search of ``hops`` steps from the
   outside). Should no sensor qualify (a region thinner than ``2 hops``), the root is the only
   seed.

The induced subgraph :math:`\mathbf{A}_{RR}` is a :class:`SensorSubgraph`, a
:class:`~stgraph.SensorGraph` whose operators are normalised on its own degrees exactly as the
full graph's are (:mod:`stgraph.graph.operators`). The training loss is taken on the seeds only
(GraphSAGE-style, Hamilton et al., NeurIPS 2017): a model whose graph part reaches ``K`` hops
then sees, at every seed, the same operator rows as on the full graph when ``hops >= K + 1``
(the degrees of a seed's ``K``-hop neighbours, and of their neighbours, are all inside
:math:`R`), so those seeds' forecasts equal their full-graph forecasts; with fewer hops the
outer context is cut, as in any neighbourhood sampler. Models with global terms (a layer norm
over all sensors, a learned dense adjacency) compute them over :math:`R` instead (each
model's docstring says so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from stgraph.errors import GraphError
from stgraph.graph.sensor_graph import SensorGraph

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SensorSubgraph", "SubgraphSampler"]


class SensorSubgraph(SensorGraph):
    """The induced subgraph of a :class:`~stgraph.SensorGraph` over some of its sensors.

    Attributes:
        positions: ``[nodes]`` int64 rows of the full graph, in the subgraph's order (sensor
            ``k`` here is sensor ``positions[k]`` there): models slice their per-sensor
            parameters with it, the trainer slices the batch.
        seeds: ``[seeds]`` int64 rows of *this* subgraph on which the loss is taken.
        parent_sensors: sensors of the full graph.
    """

    def __init__(self, parent: SensorGraph, positions: np.ndarray, seeds: np.ndarray) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        ids = parent.sensor_ids
        coordinates = None if parent.coordinates is None else parent.coordinates[positions]
        adjacency = parent.adjacency[positions][:, positions]
        super().__init__(adjacency, [ids[i] for i in positions], coordinates=coordinates, name=parent.name, source=parent.source)
        self.positions = positions
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self.parent_sensors = parent.num_sensors
        self._torch_positions: dict[tuple[str, str], torch.Tensor] = {}

    def torch_positions(self, device: torch.device | str | None = None, *, seeds: bool = False) -> torch.Tensor:
        """:attr:`positions` (or, ``seeds=True``, :attr:`seeds`) as an int64 tensor on ``device``, cached."""
        import torch

        device = torch.device(device if device is not None else "cpu")
        key = ("seeds" if seeds else "positions", str(device))
        if key not in self._torch_positions:
            self._torch_positions[key] = torch.from_numpy(self.seeds if seeds else self.positions).to(device)
        return self._torch_positions[key]

    def __repr__(self) -> str:
        return f"SensorSubgraph(sensors={self.num_sensors} of {self.parent_sensors}, seeds={self.seeds.size}, edges={self.num_edges})"


class SubgraphSampler:
    """Draws connected :class:`SensorSubgraph` s of at most ``sensors`` sensors (module notes).

    Args:
        graph: the full graph.
        sensors: sensors per subgraph (the region's size; bounds a training step's memory).
        hops: neighbourhood that must lie inside the region around every seed (the context
            the loss sensors keep); 0 makes every sensor of the region a seed.
        seed: with the step, seeds each draw: the same ``seed`` and step give the same subgraph,
            whatever was drawn before (a resumed run draws what an uninterrupted one would).

    Raises:
        GraphError: ``sensors`` < 1 or ``hops`` < 0.
    """

    def __init__(self, graph: SensorGraph, *, sensors: int, hops: int, seed: int = 0) -> None:
        if sensors < 1 or hops < 0:
            raise GraphError(f"a sensor batch needs sensors >= 1 and hops >= 0, got sensors={sensors}, hops={hops}")
        self.graph = graph
        self.sensors = min(int(sensors), graph.num_sensors)
        self.hops = int(hops)
        pattern = sp.csr_matrix(graph.adjacency, dtype=bool)
        self._undirected = sp.csr_matrix(pattern + pattern.T, dtype=np.int8)
        self.seed = int(seed)

    def sample(self, step: int) -> SensorSubgraph:
        """The subgraph of training step ``step``: a region grown from a random root, seeds inside it."""
        n = self.graph.num_sensors
        rng = np.random.default_rng((self.seed, int(step)))
        region = self._region(int(rng.integers(n)), rng)
        inside = np.zeros(n, dtype=bool)
        inside[region] = True
        near_outside = ~inside
        for _ in range(self.hops):
            near_outside = near_outside | (self._undirected @ near_outside.astype(np.int8) > 0)
        seeds = np.flatnonzero(~near_outside[region])
        if seeds.size == 0:
            seeds = np.zeros(1, dtype=np.int64)  # the root is the region's first sensor
        return SensorSubgraph(self.graph, region, seeds)

    def _region(self, root: int, rng: np.random.Generator) -> np.ndarray:
        """``[sensors]`` rows in breadth-first order from ``root``, then from further random roots
        while ``root``'s component is too small."""
        parts: list[np.ndarray] = []
        taken = 0
        visited = np.zeros(self.graph.num_sensors, dtype=bool)
        while taken < self.sensors:
            order = csgraph.breadth_first_order(self._undirected, root, directed=False, return_predecessors=False)
            order = order[: self.sensors - taken]
            parts.append(order)
            visited[order] = True
            taken += order.size
            if taken < self.sensors:
                left = np.flatnonzero(~visited)
                root = int(left[rng.integers(left.size)])
        return np.concatenate(parts).astype(np.int64)
