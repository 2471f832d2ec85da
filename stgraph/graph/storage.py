"""Save a SensorGraph to one ``.npz`` file and load it back without pickle.

Layout (all plain numpy arrays, so ``np.load(..., allow_pickle=False)`` reads it):
``adjacency_data`` float64 ``[edges]``, ``adjacency_indices`` int64 ``[edges]``,
``adjacency_indptr`` int64 ``[sensors + 1]`` (the CSR parts), ``sensor_ids`` unicode
``[sensors]``, and when present ``coordinates`` float64 ``[sensors, 2]`` and ``name``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from stgraph.errors import GraphError
from stgraph.graph.sensor_graph import SensorGraph
from stgraph.io.atomic import atomic_write

__all__ = ["GRAPH_KEYS", "load_graph", "save_graph"]

GRAPH_KEYS = frozenset({"adjacency_data", "adjacency_indices", "adjacency_indptr", "sensor_ids"})


def save_graph(graph: SensorGraph, path: str | os.PathLike[str]) -> Path:
    """Write ``graph`` to ``path`` (compressed ``.npz``) atomically; returns the path."""
    path = Path(path)
    adjacency = graph.adjacency
    arrays = {
        "adjacency_data": adjacency.data.astype(np.float64),
        "adjacency_indices": adjacency.indices.astype(np.int64),
        "adjacency_indptr": adjacency.indptr.astype(np.int64),
        "sensor_ids": np.asarray(graph.sensor_ids, dtype=np.str_),
    }
    if graph.coordinates is not None:
        arrays["coordinates"] = graph.coordinates
    if graph.name:
        arrays["name"] = np.asarray(graph.name, dtype=np.str_)
    with atomic_write(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def load_graph(path: str | os.PathLike[str]) -> SensorGraph:
    """Read a graph written by :func:`save_graph`.

    Raises:
        GraphError: the file lacks the graph arrays or they are inconsistent, naming the file.
    """
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise GraphError(f"{path}: not a SensorGraph .npz file ({error})") from None
    with archive:
        missing = GRAPH_KEYS - set(archive.files)
        if missing:
            raise GraphError(f"{path}: not a SensorGraph file, missing arrays {sorted(missing)}")
        ids = [str(sensor) for sensor in archive["sensor_ids"]]
        n = len(ids)
        indptr = archive["adjacency_indptr"]
        if indptr.shape != (n + 1,):
            raise GraphError(f"{path}: adjacency_indptr has shape {list(indptr.shape)}, expected [{n + 1}] for {n} sensors")
        try:
            adjacency = sp.csr_matrix((archive["adjacency_data"], archive["adjacency_indices"], indptr), shape=(n, n))
        except ValueError as error:
            raise GraphError(f"{path}: inconsistent adjacency arrays ({error})") from None
        coordinates = archive["coordinates"] if "coordinates" in archive.files else None
        name = str(archive["name"]) if "name" in archive.files else None
    return SensorGraph(adjacency, ids, coordinates=coordinates, name=name, source=path)
