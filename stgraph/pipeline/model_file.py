"""The trained-model file of a run (``model.pt``): everything needed to forecast, nothing pickled.

It holds plain tensors, lists, dicts, strings and numbers only, so it loads with
``torch.load(path, weights_only=True)`` and the model can be rebuilt without our trainer::

    state = torch.load("runs/x/model.pt", weights_only=True)
    model = stgraph.models.create(state["model"]["name"], **state["model"]["kwargs"])
    model.load_state_dict(state["state_dict"])

Keys:
    ``format``: ``"stgraph.forecast/2"``. Files of format 1 still load: they differ only in
    STGCN's ``order``, which counted Chebyshev terms (3) and now counts hops (2), as in every
    graph layer; :func:`load_model_file` translates it.
    ``model``: ``{"name": registry name, "kwargs": constructor keyword arguments}``.
    ``state_dict``: the model's weights (CPU tensors).
    ``sensor_ids``: the node order of inputs and outputs.
    ``graph``: CSR adjacency (``indptr``, ``indices``, ``weights``), ``coordinates``
    (``[sensors, 2]`` or None), ``name`` and ``fingerprint`` (:meth:`SensorGraph.fingerprint`).
    ``scaler``: ``mean``, ``std`` and ``count`` per feature of the series (float64 tensors,
    ``[features]``, or ``[sensors, features]`` when ``per_sensor``), the feature ``names``;
    fitted on the observed readings of the training period.
    ``data``: ``name``, ``interval`` (``"5min"``), input ``features``, forecast ``targets``,
    ``covariates``, ``lookback``, ``horizon``, ``null_value``, ``units``.
    ``config``: the fully resolved experiment configuration (plain dict).
    ``epoch``, ``global_step``, ``val_mae``: when it was saved and how good it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from stgraph import models
from stgraph.errors import GraphError
from stgraph.graph import SensorGraph
from stgraph.io.atomic import atomic_path

__all__ = ["FORMAT", "RunModel", "graph_from_state", "graph_state", "load_model_file", "save_model_file"]

FORMAT = "stgraph.forecast/2"
_FORMAT_1 = "stgraph.forecast/1"


def graph_state(graph: SensorGraph) -> dict[str, Any]:
    """A SensorGraph as plain tensors and strings."""
    m = graph.adjacency
    return {
        "indptr": torch.from_numpy(m.indptr.astype(np.int64)),
        "indices": torch.from_numpy(m.indices.astype(np.int64)),
        "weights": torch.from_numpy(m.data.astype(np.float64)),
        "coordinates": None if graph.coordinates is None else torch.from_numpy(np.asarray(graph.coordinates, dtype=np.float64)),
        "name": graph.name,
        "fingerprint": graph.fingerprint(),
    }


def graph_from_state(state: dict[str, Any], sensor_ids: list[str], source: str | None = None) -> SensorGraph:
    """Inverse of :func:`graph_state`; the fingerprint must match."""
    n = len(sensor_ids)
    matrix = sp.csr_matrix((state["weights"].numpy(), state["indices"].numpy(), state["indptr"].numpy()), shape=(n, n))
    coordinates = None if state["coordinates"] is None else state["coordinates"].numpy()
    graph = SensorGraph(matrix, sensor_ids, coordinates=coordinates, name=state["name"], source=source)
    if graph.fingerprint() != state["fingerprint"]:
        raise GraphError(f"{source or 'checkpoint'}: the stored graph does not match its fingerprint; the file is damaged")
    return graph


def save_model_file(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` (see the module docstring) atomically."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


@dataclass
class RunModel:
    """A trained model loaded from ``model.pt``, ready to forecast.

    Attributes:
        model: the rebuilt ``torch.nn.Module`` in eval mode.
        graph: the run's :class:`SensorGraph`.
        state: the raw file contents (see the module docstring).
    """

    model: torch.nn.Module
    graph: SensorGraph
    state: dict[str, Any]

    @property
    def sensor_ids(self) -> list[str]:
        return list(self.state["sensor_ids"])

    @property
    def interval(self) -> pd.Timedelta:
        return pd.Timedelta(self.state["data"]["interval"])


def load_model_file(path: str | os.PathLike[str]) -> RunModel:
    """Load ``model.pt`` with ``weights_only=True`` and rebuild model and graph."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained model here (expected the model.pt of a finished run)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") not in (FORMAT, _FORMAT_1):
        raise ValueError(
            f"{path}: not an stgraph model file (format {state.get('format') if isinstance(state, dict) else None!r})"
        )
    kwargs = dict(state["model"]["kwargs"])
    if state["format"] == _FORMAT_1 and state["model"]["name"] == "stgcn" and "order" in kwargs:
        kwargs["order"] -= 1  # Chebyshev terms -> hops (see the module notes)
    model = models.create(state["model"]["name"], **kwargs)
    model.load_state_dict(state["state_dict"])
    model.eval()
    graph = graph_from_state(state["graph"], list(state["sensor_ids"]), source=str(path))
    return RunModel(model=model, graph=graph, state=state)
