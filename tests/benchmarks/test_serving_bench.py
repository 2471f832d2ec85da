"""The serving benchmark (benchmarks/serving): nearest-rank percentiles and the load's counts
worked out by hand, request bodies built from real windows, the issue's target verdicts, the
closed loop against a stub HTTP server, and ``python -m benchmarks.serving`` end to end
against ``stgraph serve`` at a tiny size (skipped while the server is not in the tree)."""

from __future__ import annotations

import importlib
import json
import math
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from benchmarks.serving.load import Load, percentile, run_load, summarise
from benchmarks.serving.payloads import forecast_body, request_bodies
from benchmarks.serving.report import markdown, table, targets
from stgraph.data.series import SensorSeries


def test_percentile_is_nearest_rank():
    assert percentile([0.3, 0.1, 0.4, 0.2], 50) == 0.2  # ceil(0.5 * 4) = 2nd smallest
    assert percentile([0.3, 0.1, 0.4, 0.2], 25) == 0.1
    assert percentile([0.3, 0.1, 0.4, 0.2], 99) == 0.4  # ceil(3.96) = 4th
    hundred = list(range(100, 0, -1))
    assert (percentile(hundred, 50), percentile(hundred, 90), percentile(hundred, 99), percentile(hundred, 100)) == (
        50,
        90,
        99,
        100,
    )
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="percentile share"):
        percentile([1.0], 0)


def test_summary_counts_503_apart_and_times_only_the_200s():
    load = Load(clients=2, latencies=[0.010, 0.030, 0.020, 0.001, 0.002, 5.0], statuses=[200, 200, 200, 503, 500, 0])
    load.seconds = 1.5
    summary = summarise(load)
    assert (summary["requests"], summary["ok"], summary["busy_503"], summary["errors"]) == (6, 3, 1, 2)
    assert summary["requests_per_s"] == pytest.approx(3 / 1.5)
    assert summary["p50_ms"] == pytest.approx(20.0) and summary["p99_ms"] == pytest.approx(30.0)
    assert summary["mean_ms"] == pytest.approx(20.0)
    empty = summarise(Load(clients=1, latencies=[0.1], statuses=[503], seconds=1.0))
    assert empty["requests_per_s"] == 0 and math.isnan(empty["p99_ms"])


def _series() -> SensorSeries:
    values = np.arange(6 * 3, dtype=np.float32).reshape(6, 3, 1)
    mask = np.ones_like(values, dtype=bool)
    mask[4, 1, 0] = False
    stamps = pd.date_range("2012-03-01 23:45", periods=6, freq="5min")
    return SensorSeries(values, mask, stamps, ["s1", "s2", "s3"], ["speed"], source="tiny.csv")


def test_a_body_is_one_window_at_five_minute_steps_with_null_for_missing():
    body = forecast_body(_series(), end=5, lookback=4)
    assert body["timestamps"] == ["2012-03-01T23:50:00", "2012-03-01T23:55:00", "2012-03-02T00:00:00", "2012-03-02T00:05:00"]
    assert body["sensors"] == ["s1", "s2", "s3"]
    assert body["values"] == [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [9.0, 10.0, 11.0], [12.0, None, 14.0]]
    json.dumps(body, allow_nan=False)  # strict JSON: null, never NaN
    with pytest.raises(ValueError, match=r"tiny\.csv: a window of 4 steps ending at step 7"):
        forecast_body(_series(), end=7, lookback=4)


def test_bodies_are_different_windows_of_the_sample():
    bodies = [json.loads(body) for body in request_bodies(3, lookback=12)]
    assert len({json.dumps(body["values"]) for body in bodies}) == 3
    for i, body in enumerate(bodies):
        stamps = pd.DatetimeIndex(body["timestamps"])
        assert len(stamps) == 12 and (stamps.to_series().diff().dropna() == pd.Timedelta("5min")).all()
        assert stamps[0] == pd.Timestamp("2012-03-01") + i * pd.Timedelta("5min")
        assert len(body["sensors"]) == 207 and {len(row) for row in body["values"]} == {207}


def _row(model: str, batched: bool, clients: int, per_s: float, p99: float) -> dict:
    return {
        "model": model,
        "batching": "5 ms" if batched else "off",
        "batched": batched,
        "clients": clients,
        "requests": 100,
        "requests_per_s": per_s,
        "p50_ms": p99 / 2,
        "p90_ms": p99,
        "p99_ms": p99,
        "errors": 0,
        "busy_503": 0,
        "mean_batch": 4.0 if batched else 1.0,
        "client_cpu_pct": 50.0,
        "server_cpu_pct": None,
    }


def test_targets_say_met_not_met_or_not_measured():
    rows = [
        _row("stgcn", True, 8, 200.0, 99.9),
        _row("stgcn", False, 8, 100.0, 150.0),  # one-at-a-time's p99 is not the target's
        _row("stgcn", True, 32, 300.0, 200.0),
        _row("stgcn", False, 32, 100.0, 400.0),
        _row("graph_wavenet", True, 32, 290.0, 300.0),
        _row("graph_wavenet", False, 32, 100.0, 500.0),
    ]
    verdicts = targets(rows, ["stgcn", "graph_wavenet", "dcrnn"])
    assert [v["met"] for v in verdicts] == [True, True, False, None]
    assert verdicts[1]["value"] == pytest.approx(3.0) and verdicts[2]["measured"] == "2.90x"
    rows[0]["p99_ms"] = 100.0
    assert targets(rows, [])[0]["met"] is False
    assert targets(rows[1:], [])[0]["met"] is None  # no batched STGCN run at 8 clients
    assert table([_row("stgcn", True, 8, 200.0, 80.0)])[-1] == (
        "| stgcn | 5 ms | 8 | 100 | 200.0 | 40.0 | 80.0 | 80.0 | 0 | 0 | 4.00 | 50 | - |"
    )


def test_the_page_carries_the_protocol_the_table_and_the_verdicts():
    rows = [_row("stgcn", True, 8, 200.0, 80.0)]
    info = {
        "command": "python -m benchmarks.serving --models stgcn",
        "machine": {"cpu": "Test CPU", "cpu_cores": 2, "os": "Linux", "date": "2026-12-01T20:00:00+00:00"},
        "server": {"command": "python -m stgraph serve RUN_DIR ...", "max_batch": 64, "threads": 2},
        "runs": {"stgcn": "/tmp/run"},
        "run_origin": {"stgcn": "given"},
        "clients": [8],
        "warmup": 16,
        "requests": 100,
        "max_seconds": 30.0,
        "batch_window_ms": 5.0,
        "bodies": 100,
        "lookback": 12,
        "sensors": 207,
        "readings": "datasets/sample/readings.csv.gz",
        "versions": {"stgraph_commit": "abc1234", "torch": "2.13.0", "python": "3.11.7"},
        "httpx": "0.28.1",
    }
    page = markdown(rows, targets(rows, ["stgcn"]), info)
    assert table(rows)[-1] in page.splitlines()
    assert "| stgcn p99 < 100 ms at 8 clients (batching) | 80.0 ms | met |" in page
    assert "| stgcn batching >= 3x the req/s of one-at-a-time at 32 clients | - | not measured |" in page
    assert "A run not given" not in page and "Test CPU, 2 cores" in page


class _Stub(BaseHTTPRequestHandler):
    """Answers every other POST with 503, the others with 200; counts what it received."""

    protocol_version = "HTTP/1.1"
    received: ClassVar[list[int]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        with self.lock:
            self.received.append(1)
            status = 503 if len(self.received) % 2 == 0 else 200
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_closed_loop_sends_exactly_the_requests_asked_for():
    _Stub.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/forecast"
        at_ready: list[int] = []
        load = run_load(
            url,
            [b"{}", b"[]"],
            clients=3,
            requests=10,
            max_seconds=30,
            warmup=4,
            ready=lambda: at_ready.append(len(_Stub.received)),
        )
        assert at_ready == [4] and len(_Stub.received) == 14  # the warm-up is sent, not recorded
        assert len(load.statuses) == len(load.latencies) == 10
        assert sorted(load.statuses) == [200] * 5 + [503] * 5 and load.seconds > 0
        assert len(run_load(url, [b"{}"], clients=2, requests=10**6, max_seconds=0.2).statuses) < 10**6
        refused = run_load("http://127.0.0.1:1/forecast", [b"{}"], clients=1, requests=2, max_seconds=5, timeout=2)
        assert refused.statuses == [0, 0] and summarise(refused)["errors"] == 2
    finally:
        server.shutdown()
        server.server_close()


def test_benchmark_runs_against_the_real_server(tmp_path, capsys):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    try:
        importlib.import_module("stgraph.cli.serve_cmd")
    except ImportError:
        pytest.skip("stgraph serve is not in this tree (stgraph.cli.serve_cmd)")
    from benchmarks.serving.__main__ import main
    from stgraph.cli.main import main as stgraph

    run = tmp_path / "run"
    train = ["train", "--dataset", "sample", "--model", "stgcn", "--set", "model.channels=[[4,2,4],[4,2,4]]"]
    train += ["training.threads=1", "training.coverage=null", "--accelerator", "cpu", "--no-progress", "--max-steps", "1"]
    assert stgraph([*train, "--out", str(run)]) == 0
    results = tmp_path / "results"
    arguments = ["--models", "stgcn", "--run", f"stgcn={run}", "--clients", "1", "4", "--requests", "12"]
    arguments += ["--max-seconds", "10", "--warmup", "2", "--threads", "1", "--tag", "smoke", "--out", str(results)]
    assert main(arguments) == 0
    payload = json.loads((results / "serving-smoke.json").read_text())
    assert [(row["batched"], row["clients"]) for row in payload["rows"]] == [(True, 1), (True, 4), (False, 1), (False, 4)]
    assert all(row["ok"] == row["requests"] == 12 and row["errors"] == 0 for row in payload["rows"])
    if sys.platform == "linux":  # CPU time from time.process_time here and /proc/<pid>/stat for the server
        assert all(row["client_cpu_pct"] > 0 and row["server_cpu_pct"] > 0 for row in payload["rows"])
    assert all(row["mean_batch"] == 1.0 for row in payload["rows"] if not row["batched"] and row["mean_batch"] is not None)
    assert payload["targets"][0]["met"] is None  # STGCN at 8 clients was not run: not measured
    page = (results / "serving-smoke.md").read_text()
    assert "| stgcn | off | 4 | 12 |" in page and "## Targets (issue 16)" in page
    # the model alone at batch 1 and each client count: per-window cost is the pass over its batch
    alone = payload["model_alone"]["stgcn"]
    assert [row["batch"] for row in alone] == [1, 4]
    assert all(row["ms"] > 0 and row["ms_per_window"] == pytest.approx(row["ms"] / row["batch"]) for row in alone)
    assert "## The model alone" in page and "| stgcn | " in page.split("## The model alone")[1]
    capsys.readouterr()
    assert main(arguments) == 2  # results exist: refused without --force
    assert "pass --force" in capsys.readouterr().out
