"""Runs to serve, and a real ``stgraph serve`` in a subprocess.

- ``toy_run``: an untrained, seeded T-GCN over three sensors with a calibration (intervals)
  and a ``metrics.json``; readings in ``toy_readings``.
- ``sample_run``: an untrained STID on the committed sample (207 METR-LA sensors, 5-minute
  steps, lookback and horizon 12), the run the README's request is written for.
- ``start_server(run, *options)``: ``python -m stgraph serve RUN --port 0 ...``; waits for the
  ready line and ``/health``, stops the server (SIGTERM) at the end of the module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from stgraph.data.series import SensorSeries  # noqa: E402
from stgraph.graph import from_matrix  # noqa: E402
from stgraph.pipeline.calibration import CALIBRATION_FILE, Calibration, save_calibration  # noqa: E402
from stgraph.pipeline.config import DataConfig, ExperimentConfig, ModelConfig, resolve_config  # noqa: E402
from stgraph.pipeline.data import prepare_data, prepare_series  # noqa: E402
from stgraph.pipeline.model_file import save_model_file  # noqa: E402
from stgraph.pipeline.run_dir import build_model, run_metadata  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LOOKBACK, HORIZON = 4, 2
READY = re.compile(r"^stgraph serve: .* on (http://\S+)$")


@pytest.fixture(scope="session")
def toy_readings() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = pd.date_range("2024-05-06 07:00", periods=30, freq="5min", name="timestamp")
    return pd.DataFrame(rng.normal(60, 8, size=(30, 3)).round(2), index=index, columns=["a", "b", "c"])


@pytest.fixture(scope="session")
def toy_run(toy_readings, tmp_path_factory) -> Path:
    values = toy_readings.to_numpy(dtype=np.float32)[:, :, None]
    series = SensorSeries(values, None, toy_readings.index, list(toy_readings.columns), ["speed"])
    adjacency = np.array([[1.0, 0.4, 0.0], [0.4, 1.0, 0.7], [0.0, 0.7, 1.0]])
    data = prepare_series(
        series,
        from_matrix(adjacency, series.sensor_ids),
        lookback=LOOKBACK,
        horizon=HORIZON,
        fractions=(0.6, 0.2, 0.2),
        covariates=["time_of_day"],
        name="toy",
    )
    config = ExperimentConfig(
        data=DataConfig(readings="toy.csv", adjacency="toy.npz", lookback=LOOKBACK, horizon=HORIZON),
        model=ModelConfig(name="tgcn", options={"hidden": 4}),
    )
    torch.manual_seed(0)
    model, kwargs = build_model(config, data)
    out = tmp_path_factory.mktemp("toy") / "toy-tgcn"
    out.mkdir()
    save_model_file(out / "model.pt", {**run_metadata(config, data, kwargs), "state_dict": model.state_dict()})
    margin = np.array([[[2.0]], [[np.inf]]])  # step 2's margin unknown: its bounds are null in JSON
    save_calibration(out / CALIBRATION_FILE, Calibration(coverage=0.9, margin=margin, bounds=None, windows=5, per_sensor=False))
    (out / "metrics.json").write_text(json.dumps({"test": {"average": {"mae": 1.5}}, "history": []}))
    return out


@pytest.fixture(scope="session")
def sample_run(sample_dir, tmp_path_factory) -> Path:
    """What ``stgraph demo`` writes, untrained: the default recipe (STID) on the sample."""
    config = resolve_config(dataset="sample", overrides={"model": {"embedding_dim": 4}})
    data = prepare_data(config.data, root=sample_dir.parent)
    torch.manual_seed(0)
    model, kwargs = build_model(config, data)
    out = tmp_path_factory.mktemp("sample") / "sample-stid-test"
    out.mkdir()
    save_model_file(out / "model.pt", {**run_metadata(config, data, kwargs), "state_dict": model.state_dict()})
    return out


class Server:
    """A running ``stgraph serve`` subprocess."""

    def __init__(self, process: subprocess.Popen[str], url: str, lines: list[str]) -> None:
        self.process, self.url, self.lines = process, url, lines

    def output(self) -> str:
        return "".join(self.lines)


def _pump(stream, lines: list[str]) -> None:
    lines.extend(stream)


@pytest.fixture(scope="module")
def start_server() -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(run: Path, *options: str, env: dict[str, str] | None = None) -> Server:
        command = [sys.executable, "-m", "stgraph", "serve", str(run), "--port", "0", "--threads", "1", *options]
        environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment, cwd=REPO
        )
        lines: list[str] = []
        url = None
        deadline = time.monotonic() + 90
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = READY.match(line.strip())
            if match:
                url = match.group(1)
                break
        if url is None:
            process.kill()
            pytest.fail(f"stgraph serve did not start: {' '.join(command)}\n{''.join(lines)}{process.stdout.read()}")
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        server = Server(process, url, lines)
        started.append(server)
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200, server.output()
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            server.process.kill()
