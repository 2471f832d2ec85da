"""The serving benchmark's table, the issue's two targets and the result page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["P99_TARGET_MS", "SPEEDUP_TARGET", "markdown", "table", "targets", "verdict_text"]

#: issue 16: p99 below 100 ms at 8 concurrent clients for STGCN (with the server's default batching)
P99_TARGET_MS, P99_MODEL, P99_CLIENTS = 100.0, "stgcn", 8
#: issue 16: request batching at least 3x the requests/s of one-at-a-time at 32 clients, each model
SPEEDUP_TARGET, SPEEDUP_CLIENTS = 3.0, 32

COLUMNS = (
    "model",
    "batching",
    "clients",
    "requests",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "errors",
    "503",
    "mean batch",
    "client CPU %",
    "server CPU %",
)


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One Markdown row per (model, batching mode, clients) measured."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "| --- | --- | " + " | ".join("---:" for _ in COLUMNS[2:]) + " |"]
    for row in rows:
        cells = [
            row["model"],
            row["batching"],
            str(row["clients"]),
            str(row["requests"]),
            _number(row["requests_per_s"]),
            _number(row["p50_ms"]),
            _number(row["p90_ms"]),
            _number(row["p99_ms"]),
            str(row["errors"]),
            str(row["busy_503"]),
            _number(row.get("mean_batch"), 2),
            _number(row.get("client_cpu_pct"), 0),
            _number(row.get("server_cpu_pct"), 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _find(rows: Sequence[dict[str, Any]], model: str, batched: bool, clients: int) -> dict[str, Any] | None:
    for row in rows:
        if row["model"] == model and row["batched"] == batched and row["clients"] == clients:
            return row
    return None


def targets(rows: Sequence[dict[str, Any]], models: Sequence[str]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and ``met`` (``None``: not measured,
    because the configuration was not run or no request succeeded there).

    - STGCN's p99 latency at 8 clients, with batching (the server's default), below 100 ms;
    - per model, batching's requests/s at 32 clients at least 3x one-at-a-time's
      (``--batch-window-ms 0``).
    """
    verdicts: list[dict[str, Any]] = []
    row = _find(rows, P99_MODEL, True, P99_CLIENTS)
    p99 = row["p99_ms"] if row is not None else math.nan
    verdicts.append(
        {
            "target": f"{P99_MODEL} p99 < {P99_TARGET_MS:.0f} ms at {P99_CLIENTS} clients (batching)",
            "measured": f"{p99:.1f} ms" if math.isfinite(p99) else "-",
            "value": p99,
            "met": bool(p99 < P99_TARGET_MS) if math.isfinite(p99) else None,
        }
    )
    for model in models:
        batched, single = _find(rows, model, True, SPEEDUP_CLIENTS), _find(rows, model, False, SPEEDUP_CLIENTS)
        ratio = math.nan
        if batched is not None and single is not None and single["requests_per_s"] > 0:
            ratio = batched["requests_per_s"] / single["requests_per_s"]
        verdicts.append(
            {
                "target": f"{model} batching >= {SPEEDUP_TARGET:.0f}x the req/s of one-at-a-time at {SPEEDUP_CLIENTS} clients",
                "measured": f"{ratio:.2f}x" if math.isfinite(ratio) else "-",
                "value": ratio,
                "met": bool(ratio >= SPEEDUP_TARGET) if math.isfinite(ratio) else None,
            }
        )
    return verdicts


def verdict_text(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "not met")


def markdown(rows: Sequence[dict[str, Any]], verdicts: Sequence[dict[str, Any]], info: dict[str, Any]) -> str:
    machine, server = info["machine"], info["server"]
    runs = "; ".join(f"{model}: `{path}` ({info['run_origin'][model]})" for model, path in info["runs"].items())
    lines = [
        "# Serving: `stgraph serve` under load on 127.0.0.1",
        "",
        f"Command: `{info['command']}`.",
        "",
        f"Protocol: for each model and batching mode one server (`{server['command']}`) is started, then "
        f"reused for the client counts {info['clients']} in that order. Before each measurement: one request "
        f"whose answer is checked (`forecast` is `[horizon][sensors]`), then warm-up requests at the same "
        f"concurrency ({info['warmup']}), not counted. The load is closed-loop: each of the C clients (asyncio tasks on one "
        f"`httpx.AsyncClient`, one connection each) sends its next request when the previous one is answered, "
        f"until {info['requests']} requests are sent or {info['max_seconds']:g} s have passed. Batching: "
        f"`--batch-window-ms {info['batch_window_ms']:g}`; off: `--batch-window-ms 0`, one model call per request; "
        f"both with `--max-batch {server['max_batch']}`. "
        f"Server threads: `--threads {server['threads']}`. Bodies: {info['bodies']} different windows of "
        f"{info['lookback']} steps x {info['sensors']} sensors from `{info['readings']}`, encoded before timing. "
        "req/s counts answers with 200 over the wall time from the first request sent to the last answer; "
        "latency (nearest-rank percentiles) is over the 200s only; errors are answers that are neither 200 "
        "nor 503 and requests without an answer; 503 (queue full) is counted apart. mean batch: requests "
        "answered per model call over the measurement, from `/health`'s counters when it reports them. "
        "client / server CPU %: CPU time of the load generator (this process) and of the server (all its "
        "threads) per second of the measurement, 100 = one core busy.",
        "",
        f"Runs: {runs}. "
        + (
            "A run not given is one short `stgraph train --dataset sample` (the committed sample, METR-LA's 207 sensors, CPU). "
            if any(origin != "given" for origin in info["run_origin"].values())
            else ""
        )
        + "Latency depends on the model's size and the request, not on how well it trained: the forecasts' "
        "accuracy is beside the point here.",
        "",
        "The load generator runs on the same machine as the server and takes CPU from it.",
        "",
        *table(rows),
        "",
        *_alone(info.get("model_alone")),
        "## Targets (issue 16)",
        "",
        "| target | measured | verdict |",
        "| --- | ---: | --- |",
        *(f"| {v['target']} | {v['measured']} | {verdict_text(v['met'])} |" for v in verdicts),
        "",
        f"Machine: {machine['cpu']}, {machine['cpu_cores']} cores, {machine['os']}; {machine['date']}; "
        f"server torch threads {server['threads']}; stgraph {info['versions']['stgraph_commit']}, "
        f"torch {info['versions']['torch']}, httpx {info['httpx']}, Python {info['versions']['python']}.",
    ]
    return "\n".join(lines)


def _alone(alone: dict[str, list[dict[str, Any]]] | None) -> list[str]:
    """The model's forward pass alone (no HTTP), ms per window at each batch size."""
    if not alone:
        return []
    batches = [row["batch"] for row in next(iter(alone.values()))]
    lines = [
        "## The model alone",
        "",
        "One forward pass in this process (no HTTP, the same run and threads), median of 7 after a warm-up, "
        "ms per window: batching saves at most the gap between batch 1 and the larger batches.",
        "",
        "| model | " + " | ".join(f"batch {batch}" for batch in batches) + " |",
        "| --- | " + " | ".join("---:" for _ in batches) + " |",
    ]
    for model, rows in alone.items():
        lines.append(f"| {model} | " + " | ".join(f"{row['ms_per_window']:.2f}" for row in rows) + " |")
    return [*lines, ""]
