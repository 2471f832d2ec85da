"""A catalog dataset (readings and graph) from a data root, for the accuracy benchmark.

The default root is the ``shared/data`` folder beside the checkout (``../shared/data``), where
this project's real data lives; ``--data-root`` or ``$STGRAPH_DATA`` point elsewhere. Files
follow :mod:`stgraph.data.catalog`: ``<root>/<key>/<file>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stgraph.data import SensorSeries, load_series
from stgraph.data.catalog import Dataset, get_dataset
from stgraph.errors import SensorDataError
from stgraph.graph import SensorGraph, from_matrix
from stgraph.graph.readers import read_sensor_ids

__all__ = ["LoadedDataset", "default_data_root", "load_dataset"]

REPO = Path(__file__).resolve().parents[2]


def default_data_root() -> Path:
    """``$STGRAPH_DATA`` if set, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("STGRAPH_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@dataclass
class LoadedDataset:
    """Readings aligned to the graph, with the catalog entry they came from."""

    info: Dataset
    series: SensorSeries
    graph: SensorGraph
    folder: Path | None


def load_dataset(key: str, root: str | os.PathLike | None = None) -> LoadedDataset:
    """Load catalog dataset ``key`` from ``root`` (default :func:`default_data_root`).

    Readings without timestamps (Los-loop's ``los_speed.csv``) get the catalog's start and
    interval. The graph is the release's adjacency file; datasets that ship only distances
    are not supported here yet (the error says so).
    """
    info = get_dataset(key)
    folder = Path(root) if root is not None else default_data_root()
    folder = folder / info.key
    files = {file.role: folder / file.name for file in reversed(info.files)}
    readings = files.get("readings")
    if readings is None or not readings.is_file():
        raise SensorDataError(f"{info.name}: readings file {readings} not found (data root {folder.parent}); "
                              f"run `stgraph download {info.key}` or pass --data-root")
    ids = read_sensor_ids(files["sensor_ids"]) if "sensor_ids" in files and files["sensor_ids"].is_file() else None
    series = load_series(readings, null_value=info.null_value, sensor_ids=ids, **info.layout())
    adjacency = files.get("adjacency")
    if adjacency is None or not adjacency.is_file():
        raise SensorDataError(f"{info.name}: no adjacency file in {folder}; the accuracy benchmark needs the release's adjacency")
    graph = from_matrix(adjacency, ids or series.sensor_ids)
    graph.name = info.key
    return LoadedDataset(info=info, series=series.align_to(graph), graph=graph, folder=folder)
