"""A trained imputer on disk: ``RUN/imputer.pt``, plain tensors and lists, checked on load.

``stgraph impute --model learned --save-run RUN`` writes it; ``stgraph impute --run RUN`` fills
new readings of the same sensors at the same interval without training again. The file holds
the network's weights and settings, the z-score, the adjacency (CSR arrays), the sensor ids and
the interval; it loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from stgraph.errors import SensorDataError
from stgraph.impute.learned import ImputerSettings, ResidualImputer, TrainedImputer
from stgraph.io.atomic import atomic_path

__all__ = ["IMPUTER_FILE", "check_readings", "load_imputer", "save_imputer"]

IMPUTER_FILE = "imputer.pt"


def save_imputer(imputer: TrainedImputer, run_dir: str | os.PathLike[str]) -> Path:
    """Write ``run_dir/imputer.pt`` (atomic); returns its path."""
    path = Path(run_dir) / IMPUTER_FILE
    adjacency = imputer.adjacency
    state = {
        "state_dict": imputer.model.state_dict(),
        "settings": dataclasses.asdict(imputer.settings),
        "mean": imputer.mean,
        "std": imputer.std,
        "sensor_ids": list(imputer.sensor_ids),
        "interval_ns": int(imputer.interval.value),
        "adjacency": {
            "indptr": torch.from_numpy(adjacency.indptr.astype(np.int64)),
            "indices": torch.from_numpy(adjacency.indices.astype(np.int64)),
            "data": torch.from_numpy(adjacency.data.astype(np.float64)),
        },
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)
    return path


def load_imputer(run_dir: str | os.PathLike[str]) -> TrainedImputer:
    """Read ``run_dir/imputer.pt``.

    Raises:
        SensorDataError: the run directory has no ``imputer.pt``.
    """
    path = Path(run_dir) / IMPUTER_FILE
    if not path.is_file():
        raise SensorDataError(f"{run_dir}: no {IMPUTER_FILE}; write one with stgraph impute --model learned --save-run {run_dir}")
    state = torch.load(path, weights_only=True)
    settings = ImputerSettings(**state["settings"])
    model = ResidualImputer(hidden=settings.hidden, layers=settings.layers)
    model.load_state_dict(state["state_dict"])
    ids = [str(s) for s in state["sensor_ids"]]
    csr = state["adjacency"]
    adjacency = sp.csr_matrix((csr["data"].numpy(), csr["indices"].numpy(), csr["indptr"].numpy()), shape=(len(ids), len(ids)))
    interval = pd.Timedelta(int(state["interval_ns"]), unit="ns")
    return TrainedImputer(model.eval(), float(state["mean"]), float(state["std"]), adjacency, ids, interval, settings)


def check_readings(
    imputer: TrainedImputer, source: str, sensor_ids: list[str], interval: pd.Timedelta, run_dir: str
) -> np.ndarray:
    """Positions of the run's sensors in ``sensor_ids``; refuses other sensors or another interval.

    Raises:
        SensorDataError: naming the interval of each side, or the sensors found on one side only.
    """
    if interval != imputer.interval:
        raise SensorDataError(
            f"{source}: readings every {interval}, but the imputer in {run_dir} was trained on readings every {imputer.interval}"
        )
    position = {sensor: i for i, sensor in enumerate(sensor_ids)}
    missing = [s for s in imputer.sensor_ids if s not in position]
    extra = sorted(set(sensor_ids) - set(imputer.sensor_ids))
    if missing or extra:
        parts = [f"sensor(s) {', '.join(missing[:10])} of the run are not in the readings"] if missing else []
        parts += [f"sensor(s) {', '.join(extra[:10])} are not among the run's"] if extra else []
        raise SensorDataError(f"{source}: {'; '.join(parts)} ({run_dir})")
    return np.asarray([position[s] for s in imputer.sensor_ids], dtype=np.int64)
