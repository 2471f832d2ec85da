"""``python -m benchmarks.memory``: peak memory and step time of a training step with and without
the big-graph options: ``bf16-mixed``, activation checkpointing, sensor batches.

```bash
python -m benchmarks.memory --graph knn-8600 --models stgcn --batch 8 --threads 1
python -m benchmarks.memory --graph knn-2000 --models graph_wavenet --sensor-batch 500 --batch 8 --threads 1
```

Each (model, option) runs in a fresh process (:func:`benchmarks.speed.model_step.run_isolated`),
so its peak resident set is its own: the model (paper sizes,
:data:`~benchmarks.speed.model_step.PAPER_CONFIGS`) and one batch of random 12-step windows
are built, the peak is reset (``/proc/self/clear_refs``), then ``--warmup`` untimed and ``--steps``
timed training steps run (step ``s`` draws sensor batch ``s``), each :meth:`ForecastModule.training_step <stgraph.train.module.ForecastModule.training_step>`
(the trainer's step: sensor batches and checkpointing as ``stgraph train`` applies them),
backward and an Adam step. ``bf16-mixed`` is what Lightning's plugin does on the CPU: the
training step under ``torch.autocast("cpu", dtype=torch.bfloat16)``, backward outside it.

Columns: peak RSS over the steps (MiB, the process's ``VmHWM``, model and inputs included), its
increase over the RSS before the steps (activations, gradients, Adam's moments, the kernels'
caches), and the median step time. As in ``stgraph train``, freed memory stays in the process
(:func:`stgraph.ops.reuse_freed_memory`), so the peak is the heap's high-water mark. The graph is
``knn-<sensors>`` (random points, 10 nearest neighbours; :mod:`benchmarks.speed.graphs`);
``sensor-batch`` trains on subgraphs of ``--sensor-batch`` sensors with 2 hops. Results:
``benchmarks/results/memory-<graph>.{md,json}`` with the machine (refused if present, unless
``--force``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from benchmarks.accuracy.card import RESULTS, library_versions, machine, write_result
from benchmarks.speed.graphs import load_graph
from benchmarks.speed.model_step import PAPER_CONFIGS, run_isolated, window_inputs
from stgraph import models
from stgraph.ops import reuse_freed_memory
from stgraph.pipeline.config import TrainingConfig
from stgraph.train.module import ForecastModule

NAME = "memory"
#: option name -> TrainingConfig fields (``sensor-batch``'s size comes from ``--sensor-batch``)
OPTIONS: dict[str, dict[str, Any]] = {
    "float32": {},
    "bf16-mixed": {"precision": "bf16-mixed"},
    "checkpointing": {"checkpointing": True},
    "sensor-batch": {"sensor_batch": {"hops": 2}},
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default="knn-8600", help="knn-<sensors>, metr-la or pems-bay (default knn-8600)")
    parser.add_argument("--models", default="stgcn,graph_wavenet", help="comma-separated (default stgcn,graph_wavenet)")
    parser.add_argument("--options", default=",".join(OPTIONS), help=f"comma-separated (default {','.join(OPTIONS)})")
    parser.add_argument("--batch", type=int, default=8, help="windows per step (default 8)")
    parser.add_argument("--sensor-batch", type=int, default=2000, help="sensors per subgraph of sensor-batch (default 2000)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first, while the heap settles (default 2)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--force", action="store_true", help="replace existing results")
    return parser


def _rss_mb(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(
    model_name: str, graph_name: str, option: str, batch: int, warmup: int, steps: int, sensor_batch: int
) -> dict[str, Any]:
    """One configuration's peak memory and step times, in this process (see the module notes)."""
    warnings.filterwarnings("ignore", message=r".*self\.log\(\).*")  # no Trainer here: nothing to log to
    reuse_freed_memory()  # as stgraph train does: freed memory stays mapped, RSS keeps its high-water mark
    torch.manual_seed(0)
    graph = load_graph(graph_name)
    config = PAPER_CONFIGS[model_name]
    model = models.create(model_name, num_sensors=graph.num_sensors, **config)
    fields = {
        key: dict(value, sensors=sensor_batch) if key == "sensor_batch" else value for key, value in OPTIONS[option].items()
    }
    training = TrainingConfig(**fields)
    module = ForecastModule(model, graph, torch.zeros(1), torch.ones(1), training).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = window_inputs(batch, graph.num_sensors, config["in_features"])
    y = torch.randn(batch, 12, graph.num_sensors, 1)
    mask = torch.ones_like(y, dtype=torch.bool)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=training.precision == "bf16-mixed")
    before = _rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset VmHWM to the current RSS: the graph's construction is not counted
    times = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = module.training_step((x, y, mask), step)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    peak = _rss_mb("VmHWM")
    return {
        "model": model_name,
        "graph": graph_name,
        "sensors": graph.num_sensors,
        "option": f"sensor-batch {sensor_batch}" if option == "sensor-batch" else option,
        "batch": batch,
        "peak_rss_mb": round(peak, 1),
        "increase_mb": round(peak - before, 1),
        "step_s": round(statistics.median(times[warmup:]), 3),
    }


def _row(result: dict[str, Any], base: dict[str, Any] | None) -> str:
    """A table row; the ratios against ``base`` (the model's float32 row; 1 for that row itself)."""
    base = base or result
    ratio = f" | {result['increase_mb'] / base['increase_mb']:.2f}x | {result['step_s'] / base['step_s']:.2f}x"
    return (
        f"| {result['model']} | {result['option']} | {result['peak_rss_mb']:,.0f} | {result['increase_mb']:,.0f} | "
        f"{result['step_s']:.2f}{ratio} |"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    name = f"{NAME}-{args.graph}"
    md, js = args.results / f"{name}.md", args.results / f"{name}.json"
    if not args.force and (md.exists() or js.exists()):
        raise SystemExit(f"{md} exists; pass --force to replace it")
    # the load says how much the other processes of a shared machine take from the times
    info = {
        **machine(),
        **library_versions(),
        "torch_threads": args.threads,
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(info))
    header = [
        f"Training step, batch {args.batch}, graph {args.graph}, {args.threads} thread(s); median of {args.steps} steps "
        f"after {args.warmup} untimed.",
        "",
        "| model | option | peak RSS MiB | increase MiB | step s | memory vs float32 | time vs float32 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(header), flush=True)
    rows, results = list(header), []
    for model_name in args.models.split(","):
        base = None
        for option in args.options.split(","):
            request = {
                "model_name": model_name,
                "graph_name": args.graph,
                "option": option,
                "batch": args.batch,
                "sensor_batch": args.sensor_batch,
            }
            timing = {"warmup": args.warmup, "steps": args.steps, "threads": args.threads}
            result = run_isolated("benchmarks.memory", {**request, **timing})
            results.append(result)
            line = _row(result, base)
            base = base or (result if option == "float32" else None)
            rows.append(line)
            print(line, flush=True)
    write_result(name, "\n".join(rows), {"machine": info, "results": results}, args.results)
    return 0


def _serve(request: str) -> None:
    """A :func:`run_isolated` subprocess: one configuration in, one JSON line out."""
    options = json.loads(request)
    torch.set_num_threads(options.pop("threads"))
    print(json.dumps(measure(**options)))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1].startswith("{"):
        _serve(sys.argv[1])
    else:
        sys.exit(main())
