"""``python -m benchmarks.scaling``: training samples/s, peak memory and time per epoch against
the number of sensors.

```bash
python -m benchmarks.scaling                                       # 207, 2,000, 8,600, 20,000 sensors
python -m benchmarks.scaling --sensors 8600 --steps 35000 --models stid --train-steps 5
python -m benchmarks.scaling --sensors 2000 --set training.precision=bf16-mixed --tag bf16
python -m benchmarks.scaling --write                               # also benchmarks/results/scaling-cpu.{md,json}
python -m benchmarks.scaling --sensors 8600 --models stid --storage memory disk disk-in-memory
```

Each (model, sensors) configuration runs in a fresh subprocess (so that its peak RSS is its
own): it builds a synthetic network (:func:`stgraph.data.synthetic.synthetic_network`: sensors
clustered in California's bounding box, kNN graph, 15-minute speeds with weekday rush hours,
2 % missing) of ``--steps`` steps (default 35,000: a year of 15-minute readings, the issue's
8,600 x 35,000 target), resolves the model's packaged configuration with
:func:`stgraph.pipeline.resolve_config` and trains it through the public pipeline
(:func:`stgraph.train.train`) for ``--warmup`` + ``--train-steps`` steps (``training.max_steps``).
Validation and test get just enough steps for a few batches, so the run's final evaluation
stays small; the run directory goes to a temporary folder.

``--storage`` says where the series lives while it trains: ``memory`` (the default: the arrays
the synthetic network was built as), ``disk`` (written first, in a separate process, as the
``.stseries`` directory that ``stgraph convert`` makes, then memory-mapped: windows are read
from the file as batches ask for them) or ``disk-in-memory`` (the same directory read into
memory, ``data.in_memory``); ``disk`` against ``disk-in-memory`` is the cost of the
memory-mapped read path, everything else equal. Several storages make one row each.

Every ``--set section.key=value`` is passed to the configuration after these defaults, so an
option of the pipeline is a flag here, not a code change (``training.precision=bf16-mixed``,
``training.sensor_batch=...``, ``training.strategy=ddp training.devices=2``); with
``data.readings=PATH`` or ``data.dataset=NAME`` the readings come from there instead of the
synthetic network (``--sensors`` is then only the row label).

A row: the model and its parameters, sensors, steps, batch, training windows, the measured steps
and their mean wall time (from the end of the warm-up step to the end of the last, data loading
included), **samples/s** (batch / time per step), **epoch (s)** (time per step x batches per
epoch: extrapolated from the measured steps, not an epoch run), and peak RSS of the process
(``resource.getrusage``): after the data are built, at the end of the measured steps, and at the
end (after the run's evaluation). Rows are printed as they finish; ``--write`` writes Markdown
and JSON with the machine to ``benchmarks/results/scaling-<device>[-<tag>].{md,json}`` (refused
if present, unless ``--force``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.accuracy.card import RESULTS, library_versions, machine, write_result

NAME = "scaling"
SENSORS = (207, 2000, 8600, 20000)
MODELS = ("stgcn", "graph_wavenet", "stid")
STORAGES = ("memory", "disk", "disk-in-memory")
ROW_PREFIX = "SCALING-ROW "
REPO = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, nargs="+", default=list(SENSORS), help="default: 207 2000 8600 20000")
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="default: stgcn graph_wavenet stid")
    parser.add_argument("--steps", type=int, default=35000, help="steps of the series (default 35000: a year at 15 min)")
    parser.add_argument("--interval", default="15min")
    parser.add_argument("--train-steps", type=int, default=10, help="measured training steps (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="training steps before the measured ones (default 2)")
    parser.add_argument("--threads", type=int, default=None, help="training.threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--storage", nargs="+", choices=STORAGES, default=["memory"], help="where the series lives (default memory)"
    )
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="configuration overrides, passed through")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per configuration (default 3600)")
    parser.add_argument("--write", action="store_true", help="write the table to --results")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for --write (default benchmarks/results)")
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("--force", action="store_true", help="replace existing results")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a configuration as JSON: run it in this process
    parser.add_argument("--write-series", help=argparse.SUPPRESS)  # a configuration as JSON: write its series to disk
    return parser


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: kilobytes


def _small_parts(steps: int, lookback: int, horizon: int, batch: int) -> list[float]:
    """Validation and test shares holding a couple of batches of windows each; the rest trains."""
    share = min(0.2, math.ceil((lookback + horizon + 2 * batch) / steps * 1e4) / 1e4)
    return [round(1 - 2 * share, 4), share, share]


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration (``spec``: model, sensors, steps, ...) and return its row."""
    import torch
    from lightning.pytorch.callbacks import Callback

    from stgraph.data.synthetic import synthetic_network
    from stgraph.pipeline import resolve_config
    from stgraph.pipeline.config import parse_overrides
    from stgraph.pipeline.data import prepare_data, prepare_series
    from stgraph.train import train

    user = parse_overrides(spec["set"])
    own_data = any(key in user.get("data", {}) for key in ("readings", "dataset"))
    base = (
        ["data.dataset=sample"] if not own_data else []
    )  # a valid config; the data passed to train() are the synthetic network's
    config = resolve_config(model=spec["model"], overrides=[*base, *spec["set"]])
    lookback, horizon, batch = config.data.lookback, config.data.horizon, config.data.batch_size
    defaults = {
        "training.max_steps": spec["warmup"] + spec["train_steps"],
        "training.progress_bar": False,
        "training.coverage": None,
        "training.checkpoint_every": None,
        "training.patience": None,
        "data.split": _small_parts(spec["steps"], lookback, horizon, batch),
    }
    if spec.get("threads"):
        defaults["training.threads"] = spec["threads"]
    overrides = [f"{key}={json.dumps(value)}" for key, value in defaults.items()] + list(spec["set"])
    config = resolve_config(model=spec["model"], overrides=[*base, *overrides])
    started = time.perf_counter()
    if own_data:
        data = prepare_data(config.data)
    else:
        if spec.get("storage", "memory") == "memory":
            series, graph = synthetic_network(spec["sensors"], spec["steps"], interval=spec["interval"], seed=spec["seed"])
        else:
            series, graph = _open_written(Path(spec["folder"]), in_memory=spec["storage"] == "disk-in-memory")
        data = prepare_series(
            series,
            graph,
            lookback=lookback,
            horizon=horizon,
            fractions=config.data.split,
            covariates=config.data.covariates,
            name=f"synthetic-{spec['sensors']}",
            units="mph",
        )
    data_seconds = time.perf_counter() - started
    data_rss = _peak_rss_gb()

    class StepClock(Callback):  # type: ignore[misc]
        """Wall time at the end of every training step, and the peak RSS after the last."""

        def __init__(self) -> None:
            self.ends: list[float] = []
            self.parameters = 0
            self.rss = 0.0

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self.parameters = sum(p.numel() for p in pl_module.parameters())

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            self.ends.append(time.perf_counter())
            self.rss = _peak_rss_gb()

    clock = StepClock()
    with tempfile.TemporaryDirectory(prefix="stgraph-scaling-") as folder:
        train(config, Path(folder) / "run", data=data, callbacks=[clock], echo=lambda line: None, show_table=False)
    measured = clock.ends[spec["warmup"] - 1 :] if spec["warmup"] > 0 else clock.ends
    steps_timed = len(measured) - 1
    per_step = (measured[-1] - measured[0]) / steps_timed if steps_timed > 0 else float("nan")
    windows = data.split.sizes()["train"]
    return {
        "model": spec["model"],
        "parameters": clock.parameters,
        "sensors": data.series.num_sensors,
        "steps": data.series.num_steps,
        "batch": batch,
        "train_windows": windows,
        "measured_steps": steps_timed,
        "seconds_per_step": per_step,
        "samples_per_s": batch / per_step if per_step > 0 else float("nan"),
        "epoch_s_extrapolated": per_step * math.ceil(windows / batch),
        "data_seconds": data_seconds,
        "data_rss_gb": data_rss,
        "train_peak_rss_gb": clock.rss,
        "peak_rss_gb": _peak_rss_gb(),
        "threads": torch.get_num_threads(),
        "storage": spec.get("storage", "memory"),
        "overrides": list(spec["set"]),
    }


def write_series(spec: dict[str, Any]) -> None:
    """The synthetic network of ``spec`` as ``<folder>/series.stseries`` (:func:`stgraph.data.convert.convert_readings`
    of a PEMS0x-style ``.npz``) and ``<folder>/graph.npz``."""
    import numpy as np

    from stgraph.data.convert import convert_readings
    from stgraph.data.synthetic import synthetic_network
    from stgraph.graph.storage import save_graph

    folder = Path(spec["folder"])
    series, graph = synthetic_network(spec["sensors"], spec["steps"], interval=spec["interval"], seed=spec["seed"])
    values = np.where(series.mask, series.values, np.nan).astype(np.float32)  # a missing reading as NaN
    np.savez(folder / "series.npz", data=values)
    del values
    save_graph(graph, folder / "graph.npz")
    start = str(series.timestamps[0])
    convert_readings(folder / "series.npz", folder / "series.stseries", start=start, interval=spec["interval"])
    (folder / "series.npz").unlink()


def _open_written(folder: Path, *, in_memory: bool) -> tuple[Any, Any]:
    """The series and graph :func:`write_series` wrote, the series memory-mapped unless ``in_memory``."""
    from stgraph.data.memmap import open_series
    from stgraph.graph import SensorGraph
    from stgraph.graph.storage import load_graph

    series = open_series(folder / "series.stseries", in_memory=in_memory)
    graph = load_graph(folder / "graph.npz")  # the same sensors in the same order, named as the file names them
    return series, SensorGraph(graph.adjacency, series.sensor_ids, coordinates=graph.coordinates, name=graph.name)


def run_isolated(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """:func:`measure` in a fresh interpreter; a failure is a row with ``error``. A ``spec`` with
    a ``storage`` on disk needs its ``folder`` written first (:func:`write_series`, also in a
    fresh interpreter, so that building the network is not in the measured process's peak)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    command = [sys.executable, "-m", "benchmarks.scaling", "--one", json.dumps(spec)]
    try:
        if spec.get("storage", "memory") != "memory" and not (Path(spec["folder"]) / "series.stseries").is_dir():
            writer = [sys.executable, "-m", "benchmarks.scaling", "--write-series", json.dumps(spec)]
            written = subprocess.run(writer, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
            if written.returncode != 0:
                tail = (written.stderr.strip().splitlines() or ["no output"])[-1]
                return {"model": spec["model"], "sensors": spec["sensors"], "error": f"writing the series: {tail}"}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    except subprocess.TimeoutExpired:
        return {"model": spec["model"], "sensors": spec["sensors"], "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(ROW_PREFIX):
            row: dict[str, Any] = json.loads(line[len(ROW_PREFIX) :])
            return row
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return {"model": spec["model"], "sensors": spec["sensors"], "error": f"exit {done.returncode}: {tail}"}


HEADER = (
    "| model | parameters | sensors | series | steps | batch | samples/s | s/step | epoch (s, extrapolated) | "
    "RSS after data (GB) | peak RSS training (GB) | peak RSS (GB) |"
)


def row_line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"| {row['model']} | | {row['sensors']:,} | | | | failed: {row['error']} | | | | | |"
    return (
        f"| {row['model']} | {row['parameters']:,} | {row['sensors']:,} | {row.get('storage', 'memory')} | {row['steps']:,} | {row['batch']} | "
        f"{row['samples_per_s']:.1f} | {row['seconds_per_step']:.3f} | {row['epoch_s_extrapolated']:,.0f} | "
        f"{row['data_rss_gb']:.2f} | {row['train_peak_rss_gb']:.2f} | {row['peak_rss_gb']:.2f} |"
    )


def _markdown(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [
        "# Scaling: training throughput, memory and epoch time against the number of sensors",
        "",
        f"Command: `{info['command']}`. Machine: {m.get('cpu')}, {m.get('cpu_cores')} cores, {m.get('os')}, {m.get('date')}. "
        f"Versions: {info['versions']}. Synthetic networks (stgraph.data.synthetic, seed {info['seed']}), "
        f"{info['measured']} measured steps after {info['warmup']} warm-up; epoch time = time per step x batches "
        "per epoch (extrapolated, not measured); RSS from getrusage in a fresh process per row.",
        "",
        HEADER,
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[row_line(row) for row in rows],
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.one:
        print(ROW_PREFIX + json.dumps(measure(json.loads(args.one))), flush=True)
        return 0
    if args.write_series:
        write_series(json.loads(args.write_series))
        return 0
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    name = f"{NAME}-{device}" + (f"-{args.tag}" if args.tag else "")
    if args.write and not args.force and any((args.results / f"{name}.{ext}").exists() for ext in ("md", "json")):
        print(
            f"python -m benchmarks.scaling: error: {args.results / name}.md exists; pass --force to replace it", file=sys.stderr
        )
        return 1
    info = {
        "command": "python -m benchmarks.scaling " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "versions": library_versions(),
        "seed": args.seed,
        "measured": args.train_steps,
        "warmup": args.warmup,
    }
    m = info["machine"]
    print(f"machine: {m.get('cpu')}, {m.get('cpu_cores')} cores, {m.get('os')}; {info['versions']}", flush=True)
    print(HEADER, flush=True)
    rows = []
    disk = Path(tempfile.mkdtemp(prefix="stgraph-scaling-series-"))
    try:
        rows = _run_all(args, disk)
    finally:
        shutil.rmtree(disk, ignore_errors=True)
    if args.write:
        write_result(name, _markdown(rows, info), {**info, "rows": rows}, folder=args.results)
    return 0 if all("error" not in row for row in rows) else 1


def _run_all(args: argparse.Namespace, disk: Path) -> list[dict[str, Any]]:
    """Every (sensors, model, storage) row, printed as it finishes; a network written to disk once per size."""
    rows = []
    for sensors in args.sensors:
        for model, storage in ((m, s) for m in args.models for s in args.storage):
            spec = {
                "model": model,
                "sensors": sensors,
                "steps": args.steps,
                "interval": args.interval,
                "train_steps": args.train_steps,
                "warmup": args.warmup,
                "threads": args.threads,
                "seed": args.seed,
                "set": args.set,
                "storage": storage,
                "folder": str(disk / str(sensors)),
            }
            (disk / str(sensors)).mkdir(exist_ok=True)
            row = run_isolated(spec, args.timeout)
            rows.append(row)
            print(row_line(row), flush=True)
        shutil.rmtree(disk / str(sensors), ignore_errors=True)  # the next size's network replaces it
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
