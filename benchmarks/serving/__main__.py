"""``python -m benchmarks.serving``: throughput and p50 / p99 latency of ``stgraph serve`` on
127.0.0.1 at 1, 8 and 32 concurrent clients, with and without request batching.

```bash
python -m benchmarks.serving                                  # trains short STGCN and Graph WaveNet runs first
python -m benchmarks.serving --run stgcn=runs/a --run graph_wavenet=runs/b --requests 4000
python -m benchmarks.serving --models stgcn --clients 8 --requests 200 --max-seconds 10 --tag smoke
```

For each model (``--models``) the run is ``--run MODEL=DIR`` or a short ``stgraph train
--dataset sample`` (the committed sample: 207 sensors) trained into ``--work`` (default: a
temporary folder, removed at the end). For each model and batching mode
(``--batch-window-ms``, then ``0``: one model call per request) one server is started
(:class:`.server.Server`), warmed up and loaded at each client count in turn (:mod:`.load`),
then shut down. Prints the table and the issue's two targets, and writes
``<out>/serving-<tag>.{md,json}`` (refused if present, unless ``--force``). The load
generator shares the machine with the server: run it on a quiet machine for numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.accuracy.card import RESULTS, library_versions, machine, write_result
from benchmarks.serving.load import run_load, summarise
from benchmarks.serving.model_cost import model_cost
from benchmarks.serving.payloads import SAMPLE_READINGS, request_bodies
from benchmarks.serving.report import COLUMNS, markdown, table, targets, verdict_text
from benchmarks.serving.server import Server, train_run
from stgraph import models as registry
from stgraph.pipeline.run_dir import load_run_config

#: ``/health``'s counters since the server started: requests answered, model calls (batches run)
COUNTERS = ("requests", "model_calls")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", nargs="+", default=["stgcn", "graph_wavenet"], help="registry names (default stgcn graph_wavenet)"
    )
    parser.add_argument("--run", action="append", default=[], metavar="MODEL=DIR", help="serve this run directory for MODEL")
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32], help="concurrent clients (default 1 8 32)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement, at most (default 2000)")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="seconds per measurement, at most (default 30)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="warm-up requests per measurement (default 2 per client, at least 8)"
    )
    parser.add_argument(
        "--batch-window-ms", type=float, default=5.0, help="the batching mode's --batch-window-ms (default 5, the server's)"
    )
    parser.add_argument("--max-batch", type=int, default=64, help="the server's --max-batch (default 64)")
    parser.add_argument("--threads", type=int, default=2, help="the server's --threads, and training's (default 2)")
    parser.add_argument("--train-steps", type=int, default=20, help="optimiser steps of a default run (default 20)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the default runs, kept (default: a temporary one)")
    parser.add_argument("--tag", default="cpu", help="result files serving-<tag>.{md,json} (default cpu)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--force", action="store_true", help="replace existing results")
    return parser


def _runs(args: argparse.Namespace) -> dict[str, Path]:
    given: dict[str, Path] = {}
    for pair in args.run:
        name, _, folder = pair.partition("=")
        if not folder:
            raise SystemExit(f"--run expects MODEL=DIR, got {pair!r}")
        try:
            given[registry.name_of(registry.get(name))] = Path(folder).expanduser().resolve()
        except ValueError as error:
            raise SystemExit(f"--run: {error}") from None
    for name, folder in given.items():
        if not (folder / "model.pt").is_file():
            raise SystemExit(f"--run {name}={folder}: no model.pt there (not a finished run directory)")
    return given


def _counters(health: dict[str, Any]) -> tuple[float, float] | None:
    """``/health``'s (requests answered, model calls), or ``None`` if it does not report them."""
    answered, calls = (health.get(key) for key in COUNTERS)
    if isinstance(answered, (int, float)) and isinstance(calls, (int, float)):
        return float(answered), float(calls)
    return None


def _check_answer(server: Server, body: bytes, horizon: int, sensors: int) -> None:
    """One request whose answer must be 200 with ``forecast`` as ``[horizon][sensors]``."""
    try:
        answer = httpx.post(f"{server.url}/forecast", content=body, headers={"content-type": "application/json"}, timeout=60.0)
    except httpx.HTTPError as error:
        raise RuntimeError(f"POST {server.url}/forecast: no answer ({error!r})\n{server.stderr_tail()}") from None
    forecast = answer.json().get("forecast") if answer.status_code == 200 else None
    shape = (len(forecast), {len(step) for step in forecast}) if isinstance(forecast, list) else None
    if shape != (horizon, {sensors}):
        raise RuntimeError(
            f"POST {server.url}/forecast: expected 200 with forecast [{horizon}][{sensors}], got {answer.status_code} "
            f"(forecast steps, sensors per step: {shape}): {answer.text[:500]}\n{server.stderr_tail()}"
        )


def _measure(
    server: Server, bodies: list[bytes], clients: int, args: argparse.Namespace, horizon: int, sensors: int
) -> dict[str, Any]:
    url = f"{server.url}/forecast"
    _check_answer(server, bodies[-1], horizon, sensors)
    warmup = args.warmup if args.warmup is not None else max(2 * clients, 8)
    start: dict[str, Any] = {}

    def ready() -> None:  # between the warm-up and the measurement, nothing in flight
        start.update(counters=_counters(server.health()), server_cpu=server.cpu_seconds(), client_cpu=time.process_time())

    load = run_load(
        url, bodies, clients=clients, requests=args.requests, max_seconds=args.max_seconds, warmup=warmup, ready=ready
    )
    client_cpu = time.process_time() - start["client_cpu"]
    server_cpu, server_after = start["server_cpu"], server.cpu_seconds()
    before, after = start["counters"], _counters(server.health())
    summary = summarise(load)
    # CPU per wall second, in % of one core: whether the load generator, sharing the machine, is the bottleneck
    summary["client_cpu_pct"] = 100 * client_cpu / summary["seconds"]
    summary["server_cpu_pct"] = (
        100 * (server_after - server_cpu) / summary["seconds"] if server_cpu is not None and server_after is not None else None
    )
    if before is not None and after is not None and after[1] > before[1]:
        summary["model_calls"] = after[1] - before[1]
        summary["mean_batch"] = (after[0] - before[0]) / (after[1] - before[1])
    else:
        summary["model_calls"] = summary["mean_batch"] = None
    return summary


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.batch_window_ms <= 0:
        raise SystemExit("--batch-window-ms is the batching mode's window: give a positive number (0 is always measured)")
    if min(args.clients) < 1 or args.requests < 1 or args.max_seconds <= 0:
        raise SystemExit("--clients and --requests must be positive integers and --max-seconds a positive number")
    try:
        models = list(dict.fromkeys(registry.name_of(registry.get(name)) for name in args.models))
    except ValueError as error:
        raise SystemExit(f"--models: {error}") from None
    name = f"serving-{args.tag}"
    existing = [str(args.out / f"{name}.{suffix}") for suffix in ("md", "json") if (args.out / f"{name}.{suffix}").exists()]
    if existing and not args.force:
        print(f"error: {', '.join(existing)} exist; pass --force to replace them")
        return 2
    given = _runs(args)
    if set(given) - set(models):
        raise SystemExit(f"--run names {', '.join(sorted(set(given) - set(models)))}, not in --models ({' '.join(models)})")
    work = args.work if args.work is not None else Path(tempfile.mkdtemp(prefix="stgraph-serving-bench-"))
    try:
        return _benchmark(args, models, given, work, name, argv)
    except RuntimeError as error:
        print(f"python -m benchmarks.serving: error: {error}", file=sys.stderr)
        return 1
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


def _benchmark(
    args: argparse.Namespace, models: list[str], given: dict[str, Path], work: Path, name: str, argv: list[str] | None
) -> int:
    info_machine = machine()
    print(f"machine: {info_machine['cpu']}, {info_machine['cpu_cores']} cores; {info_machine['os']}; {info_machine['date']}")
    runs: dict[str, Path] = {}
    origin: dict[str, str] = {}
    for model in models:
        if model in given:
            runs[model], origin[model] = given[model], "given"
        else:
            action = "reusing the run in" if (work / model / "model.pt").is_file() else "training it on the sample into"
            print(f"{model}: {action} {work / model} ({args.train_steps} steps)", flush=True)
            runs[model] = train_run(model, work / model, max_steps=args.train_steps, threads=args.threads)
            origin[model] = f"stgraph train --dataset sample --epochs 1 --max-steps {args.train_steps}"
    options = {model: load_run_config(runs[model])["data"] for model in models}
    lookbacks = {int(data["lookback"]) for data in options.values()}
    bodies = {lookback: request_bodies(args.requests, lookback) for lookback in lookbacks}
    sensors = len(json.loads(next(iter(bodies.values()))[0])["sensors"])
    rows: list[dict[str, Any]] = []
    exits: dict[str, int | None] = {}
    print("| " + " | ".join(COLUMNS) + " |", flush=True)
    modes = [(True, f"{args.batch_window_ms:g} ms"), (False, "off")]
    for model in models:
        data = options[model]
        for batched, label in modes:
            window = args.batch_window_ms if batched else 0.0
            server_options = ["--batch-window-ms", f"{window:g}", "--max-batch", str(args.max_batch)]
            server_options += ["--threads", str(args.threads)]
            with Server(runs[model], server_options) as server:
                for clients in args.clients:
                    summary = _measure(server, bodies[int(data["lookback"])], clients, args, int(data["horizon"]), sensors)
                    row = {"model": model, "batching": label, "batched": batched, "batch_window_ms": window, **summary}
                    rows.append(row)
                    print(table([row])[-1], flush=True)
            exits[f"{model} {label}"] = server.exit_code
            if server.exit_code not in (0, -2):
                print(f"warning: {model} server ({label}) exited with {server.exit_code} on SIGINT")
    verdicts = targets(rows, models)
    # what batching can save at most: the model's own cost per window at each batch size
    batches = sorted({1, *args.clients})
    alone = {model: model_cost(runs[model], batches, threads=args.threads) for model in models}
    for model, cost in alone.items():
        print(f"{model} alone: " + ", ".join(f"batch {row['batch']} {row['ms_per_window']:.2f} ms/window" for row in cost))
    info: dict[str, Any] = {
        "command": "python -m benchmarks.serving " + " ".join(argv if argv is not None else sys.argv[1:]),
        "models": models,
        "runs": {model: str(path) for model, path in runs.items()},
        "run_origin": origin,
        "clients": args.clients,
        "requests": args.requests,
        "max_seconds": args.max_seconds,
        "warmup": args.warmup if args.warmup is not None else "2 per client (at least 8)",
        "train_steps": args.train_steps,
        "server_exit_codes": exits,
        "batch_window_ms": args.batch_window_ms,
        "server": {
            "command": f"python -m stgraph serve RUN_DIR --host 127.0.0.1 --port PORT --batch-window-ms "
            f"{args.batch_window_ms:g}|0 --max-batch {args.max_batch} --threads {args.threads}",
            "reused": "one server per model and batching mode, across the client counts",
            "max_batch": args.max_batch,
            "threads": args.threads,
        },
        "readings": str(SAMPLE_READINGS.relative_to(SAMPLE_READINGS.parents[2])),
        "lookback": sorted(lookbacks)[0] if len(lookbacks) == 1 else sorted(lookbacks),
        "sensors": sensors,
        "bodies": min(len(group) for group in bodies.values()),
        "machine": info_machine,
        "versions": library_versions(),
        "httpx": httpx.__version__,
    }
    info["model_alone"] = alone
    page = markdown(rows, verdicts, info)
    print()
    for verdict in verdicts:
        print(f"target: {verdict['target']}: {verdict['measured']}, {verdict_text(verdict['met'])}")
    md, js = write_result(name, page, {**info, "rows": rows, "targets": verdicts}, folder=args.out)
    print(f"written: {md}, {js}")
    return 0 if all(math.isfinite(row["requests_per_s"]) and row["ok"] > 0 for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
