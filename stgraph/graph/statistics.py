"""Summary numbers of a weighted sensor adjacency: size, sparsity, connectivity, weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["graph_statistics", "isolated_mask", "weak_components"]


def _off_diagonal(adjacency: sp.spmatrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(adjacency, copy=True)
    matrix.setdiag(0.0)
    matrix.eliminate_zeros()
    return matrix


def isolated_mask(adjacency: sp.spmatrix) -> np.ndarray:
    """``[sensors]`` bool: True where a sensor has no edge to or from another sensor
    (a self-loop alone does not count)."""
    off = _off_diagonal(adjacency)
    isolated: np.ndarray = (off.getnnz(axis=0) + off.getnnz(axis=1)) == 0
    return isolated


def weak_components(adjacency: sp.spmatrix) -> tuple[int, int]:
    """``(components, largest)``: weakly connected components (edge direction ignored) and the
    sensors in the largest; ``(0, 0)`` for a graph without sensors. Stored zeros are no edge."""
    matrix = sp.csr_matrix(adjacency, copy=True)
    matrix.eliminate_zeros()
    if matrix.shape[0] == 0:
        return 0, 0
    components, labels = connected_components(matrix, directed=True, connection="weak")
    return int(components), int(np.bincount(labels).max())


def graph_statistics(adjacency: sp.spmatrix, sensor_ids: list[str]) -> dict[str, Any]:
    """Statistics of ``adjacency`` (``A[i, j]`` = weight of edge ``i -> j``).

    Keys: ``sensors``; ``edges`` (stored non-zero weights, self-loops included);
    ``self_loops``; ``density`` (edges between distinct sensors / ``sensors * (sensors - 1)``);
    ``weak_components`` and ``strong_components`` (connected components ignoring / following
    edge direction); ``largest_weak_component`` (sensors in it); ``isolated_sensors`` (count)
    and ``isolated_sensor_ids``; ``weight_min``, ``weight_max``, ``weight_mean`` over stored
    weights (NaN when there are none); ``symmetric`` (``A == A^T`` exactly).
    """
    matrix = sp.csr_matrix(adjacency)
    n = matrix.shape[0]
    off = _off_diagonal(matrix)
    weak, largest = weak_components(matrix)
    strong, _ = connected_components(matrix, directed=True, connection="strong")
    isolated = isolated_mask(matrix)
    weights = matrix.data
    return {
        "sensors": n,
        "edges": int(matrix.nnz),
        "self_loops": int(np.count_nonzero(matrix.diagonal())),
        "density": float(off.nnz / (n * (n - 1))) if n > 1 else 0.0,
        "weak_components": weak,
        "strong_components": int(strong),
        "largest_weak_component": largest,
        "isolated_sensors": int(isolated.sum()),
        "isolated_sensor_ids": [sensor_ids[i] for i in np.flatnonzero(isolated)],
        "weight_min": float(weights.min()) if weights.size else float("nan"),
        "weight_max": float(weights.max()) if weights.size else float("nan"),
        "weight_mean": float(weights.mean()) if weights.size else float("nan"),
        "symmetric": bool((matrix != matrix.T).nnz == 0),
    }
