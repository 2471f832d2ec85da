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
    ``model``: ``{"name": registry name, "kwargs": constructor keyword arguments}``, and
    ``"quantiles"`` (the levels) for a quantile model: the registered model, built from
    ``kwargs`` with ``channels × Q`` outputs, wrapped in :class:`stgraph.nn.QuantileHead`,
    whose ``state_dict`` prefixes the model's keys with ``model.``.
    ``state_dict``: the model's weights (CPU tensors).
    ``sensor_ids``: the node order of inputs and outputs.
    ``graph``: CSR adjacency (``indptr``, ``indices``, ``weights``), ``coordinates``
    (``[sensors, 2]`` or None), ``name`` and ``fingerprint`` (:meth:`SensorGraph.fingerprint`).
    ``scaler``: ``mean``, ``std`` and ``count`` per feature of the series (float64 tensors,
    ``[features]``, or ``[sensors, features]`` when ``per_sensor``), the feature ``names``;
    fitted on the observed readings of the training period.
    ``data``: ``name``, ``interval`` (``"5min"``), input ``features``, forecast ``targets``,
    ``covariates``, ``missing_inputs`` (``zero`` or ``mask``,
    :func:`stgraph.data.windows.fill_missing_inputs`; absent in files written before it
    existed, which means ``zero``), ``lookback``, ``horizon``, ``null_value``, ``units``.
    ``config``: the fully resolved experiment configuration (plain dict).
    ``epoch``, ``global_step``, ``val_mae``: when it was saved and how good it was.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from stgraph import models
from stgraph.errors import GraphError, RunError
from stgraph.graph import SensorGraph
from stgraph.io.atomic import atomic_write
from stgraph.nn.quantile_head import QuantileHead

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
    """Write ``state`` (see the module docstring) atomically.

    The file is serialised in memory first (a model is megabytes) and written by
    :func:`~stgraph.io.atomic.atomic_write`: a full disk or a read-only folder is then a
    :class:`~stgraph.io.atomic.WriteError` naming ``path`` (``torch.save`` onto a file reports
    it as a RuntimeError without the cause).

    Raises:
        WriteError: ``path`` could not be written; it is left as it was.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getbuffer())


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
    """Load ``model.pt`` with ``weights_only=True`` and rebuild model and graph.

    Raises:
        FileNotFoundError: no file at ``path``.
        RunError: one line naming the file and what is wrong: truncated or corrupt, not an
            stgraph model file, keys missing, or weights that do not fit the model its
            ``model`` entry describes (which tensors, which shapes). Never the advice to load
            with ``weights_only=False``: that would run whatever code the file holds.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained model here (expected the model.pt of a finished run)")
    state = _torch_load(path)
    if not isinstance(state, dict) or state.get("format") not in (FORMAT, _FORMAT_1):
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise RunError(f"{path}: not an stgraph model file (format {found!r}; expected {FORMAT!r})")
    try:
        name, kwargs = state["model"]["name"], dict(state["model"]["kwargs"])
        weights, sensor_ids, graph_entry = state["state_dict"], list(state["sensor_ids"]), state["graph"]
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path}: damaged stgraph model file (entry {error} missing or malformed)") from None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise RunError(f"{path}: damaged stgraph model file ('state_dict' is not a mapping of names to tensors)")
    if state["format"] == _FORMAT_1 and name == "stgcn" and isinstance(kwargs.get("order"), int):
        kwargs["order"] -= 1  # Chebyshev terms -> hops (see the module notes)
    try:
        model: torch.nn.Module = models.create(name, **kwargs)
        if state["model"].get("quantiles"):
            model = QuantileHead(model, channels=len(state["data"]["targets"]), quantiles=state["model"]["quantiles"])
    except (TypeError, ValueError, KeyError) as error:
        raise RunError(f"{path}: cannot rebuild model {name!r} from the file's kwargs ({_first_line(error)})") from None
    _check_weights(path, name, model, weights)
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:  # pragma: no cover (_check_weights names keys and shapes first)
        raise RunError(f"{path}: the weights do not fit model {name!r} ({_first_line(error)})") from None
    model.eval()
    try:
        graph = graph_from_state(graph_entry, sensor_ids, source=str(path))
    except GraphError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise RunError(f"{path}: damaged stgraph model file (the stored graph: {_first_line(error)})") from None
    return RunModel(model=model, graph=graph, state=state)


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``, its failures as one-line RunErrors without torch's advice."""
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":  # torch.save writes a zip archive (stgraph never the legacy format)
            raise RunError(
                f"{path}: not a model file written by torch.save (no zip archive: truncated, corrupt or another format)"
            )
    try:
        with warnings.catch_warnings():
            # a plain pickle's protocol draws a warning about the weights-only unpickler; the error says it
            warnings.filterwarnings("ignore", message=".*pickle protocol.*", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's text suggests weights_only=False, i.e. running the file's code: never shown
        raise RunError(
            f"{path}: not an stgraph model file (it holds Python objects other than tensors and plain values, "
            "which are never unpickled)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError, IndexError, TypeError) as error:
        message = _first_line(error).split(". ")[0]
        if "weights_only" in message or "pickle" in message.lower():
            message = "not a torch archive of tensors"
        raise RunError(f"{path}: truncated or corrupt model file ({message})") from None


def _check_weights(path: Path, name: str, model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    wrong = [key for key in expected if key in weights and tuple(weights[key].shape) != tuple(expected[key].shape)]
    problems = []
    if wrong:
        key = wrong[0]
        more = f" and {len(wrong) - 1} more" if len(wrong) > 1 else ""
        problems.append(f"{key!r} is {list(weights[key].shape)} in the file, {list(expected[key].shape)} in the model{more}")
    if missing:
        problems.append(f"{len(missing)} weights missing (first {missing[0]!r})")
    if unexpected:
        problems.append(f"{len(unexpected)} weights the model does not have (first {unexpected[0]!r})")
    if problems:
        raise RunError(f"{path}: the weights do not fit model {name!r} as its kwargs describe it: " + "; ".join(problems))


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
