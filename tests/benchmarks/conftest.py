"""A tiny Los-loop on disk for the benchmark smoke tests (seconds, CPU)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stgraph.data import catalog
from stgraph.io.download import file_digest

SENSORS, STEPS = 5, 400


@pytest.fixture
def tiny_root(tmp_path, monkeypatch) -> Path:
    """A data root whose ``los-loop/`` holds 5 sensors on a ring and 400 five-minute steps of
    speeds, in the release's layout: ``los_speed.csv`` (a header of sensor ids, no timestamp
    column) and ``los_adj.csv`` (a headerless adjacency). The catalog entry records these files'
    sizes and sha256s for the test: data preparation verifies every file before use."""
    rng = np.random.default_rng(0)
    time = np.arange(STEPS)[:, None]
    speed = 50 + 10 * np.sin(2 * np.pi * time / 288 + np.arange(SENSORS)) + rng.normal(0, 1, (STEPS, SENSORS))
    ring = np.zeros((SENSORS, SENSORS))
    ring[np.arange(SENSORS), (np.arange(SENSORS) + 1) % SENSORS] = 1.0
    folder = tmp_path / "los-loop"
    folder.mkdir()
    pd.DataFrame(speed.round(4), columns=[str(773800 + i) for i in range(SENSORS)]).to_csv(folder / "los_speed.csv", index=False)
    np.savetxt(folder / "los_adj.csv", ring + ring.T, delimiter=",", fmt="%g")
    entry = catalog.DATASETS["los-loop"]
    files = tuple(
        dataclasses.replace(f, size=(folder / f.name).stat().st_size, sha256=file_digest(folder / f.name), git_blob=None)
        for f in entry.files
    )
    monkeypatch.setitem(catalog.DATASETS, "los-loop", dataclasses.replace(entry, files=files))
    return tmp_path
