"""``python -m benchmarks.own_data``: the default ``stgraph train`` on every own-data test network,
beside historical average and last value.

```bash
python -m benchmarks.own_data                      # all networks, seed 0, the default recipe
python -m benchmarks.own_data --seeds 3 --networks transit-hourly
python -m benchmarks.own_data --model stgcn        # a named model with its packaged YAML
```

Each network (:mod:`benchmarks.own_data.networks`) is written as a user's files and trained
exactly as ``stgraph train --readings R.csv --distances E.csv`` (no ``--model``) trains it: the
same configuration layers, the same data preparation, the same comparison with the baselines
(:mod:`stgraph.pipeline.compare`), on the test windows. The table gives MAE / RMSE at the
report steps and on average; "beats" is the run's own ``beats_baselines`` (MAE and RMSE below
the better baseline's at every reported step and on average), per seed. Results:
``benchmarks/results/own-data.{md,json}`` with the machine card.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.accuracy.card import library_versions, machine, write_result
from benchmarks.data_root import default_data_root
from benchmarks.own_data.networks import NETWORKS, build
from stgraph.metrics.masked import HorizonMetrics
from stgraph.metrics.report import REPORT_STEPS, horizon_label
from stgraph.pipeline.config import parse_overrides, resolve_config
from stgraph.pipeline.data import interval_text, prepare_data


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.own_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="+", choices=sorted(NETWORKS), default=list(NETWORKS), help="networks to run")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    parser.add_argument("--model", help="a named model with its packaged YAML (default: no model named, the default recipe)")
    parser.add_argument("--data-root", type=Path, default=None, help="folder holding pems03-graph/, los-loop/, ...")
    parser.add_argument("--set", nargs="+", default=[], dest="overrides", metavar="KEY=VALUE", help="configuration overrides")
    parser.add_argument("--quick", action="store_true", help="2 optimiser steps per run: checks that the benchmark runs")
    parser.add_argument("--results", type=Path, default=None, help="folder for own-data.{md,json} (default benchmarks/results)")
    return parser


def _cells(metrics: HorizonMetrics) -> list[tuple[str, float, float]]:
    cells = [(str(step), *(metrics.at(step)[k] for k in ("mae", "rmse"))) for step in REPORT_STEPS if step <= metrics.horizon]
    average = metrics.average()
    return [*cells, ("average", average["mae"], average["rmse"])]


def run_network(name: str, root: Path, folder: Path, seed: int, model: str | None, overrides: list[str]) -> dict[str, Any]:
    """Build network ``name`` into ``folder``, train on it as ``stgraph train`` would, and return
    the rows (model and baselines) and the verdict."""
    from stgraph.train.run import train

    files = build(name, root, folder / "files")
    layers = parse_overrides(overrides)
    layers.setdefault("data", {}).update(files)
    training = {"seed": seed, "progress_bar": False, "accelerator": "cpu", "devices": 1, "threads": 1}
    layers["training"] = {**training, **layers.get("training", {})}
    config = resolve_config(model=model, overrides=layers)
    data = prepare_data(config.data)
    started = time.perf_counter()
    result = train(config, folder / "run", data=data, show_table=False, echo=lambda line: None)
    comparison = result.comparison
    assert comparison is not None  # every network has a test part
    rows = {config.model.name: _cells(comparison.model)}
    rows.update({baseline: _cells(metrics) for baseline, metrics in comparison.baselines.items()})
    return {
        "network": name,
        "seed": seed,
        "model": config.model.name,
        "interval": interval_text(data.series.interval),
        "sensors": data.graph.num_sensors,
        "steps": data.series.num_steps,
        "scaling": "per sensor" if data.scaler.per_sensor else "global",
        "covariates": data.covariates,
        "epochs": result.summary["epochs_completed"],
        "train_seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
        "beats_baselines": comparison.beats_baselines,
        "shortfalls": comparison.warning_lines()[:-1],
    }


def markdown(outcomes: list[dict[str, Any]]) -> str:
    """One table per network and seed: MAE / RMSE of the model and both baselines per lead time."""
    parts = []
    for outcome in outcomes:
        model_rows = outcome["rows"]
        steps = [cell[0] for cell in next(iter(model_rows.values()))]
        labels = [s if s == "average" else horizon_label(int(s), pd.Timedelta(outcome["interval"])) for s in steps]
        header = "| | " + " | ".join(f"{label} MAE / RMSE" for label in labels) + " |"
        lines = [
            f"### {outcome['network']}, seed {outcome['seed']}: {'beats both baselines' if outcome['beats_baselines'] else 'DOES NOT beat the baselines'}",
            "",
            f"{outcome['sensors']} sensors x {outcome['steps']} steps of {outcome['interval']}; {outcome['model']}, "
            f"{outcome['scaling']} scaling, covariates {outcome['covariates'] or 'none'}, {outcome['epochs']} epochs in "
            f"{outcome['train_seconds']:.0f} s.",
            "",
            header,
            "|" + "---|" * (len(labels) + 1),
        ]
        for name, cells in model_rows.items():
            lines.append(f"| {name} | " + " | ".join(f"{mae:.3f} / {rmse:.3f}" for _, mae, rmse in cells) + " |")
        lines.extend(["", *outcome["shortfalls"], ""])
        parts.append("\n".join(lines))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("stgraph").setLevel(logging.WARNING)
    root = args.data_root or default_data_root()
    overrides = list(args.overrides) + (["training.max_steps=2", "training.epochs=1"] if args.quick else [])
    info = machine()
    print(f"machine: {info['cpu']} ({info['cpu_cores']} cores), {info['os']}, {info['date']}")
    outcomes = []
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stgraph-own-data-")))
        for name in args.networks:
            for seed in range(args.seeds):
                folder = work / f"{name}-{seed}"
                outcome = run_network(name, root, folder, seed, args.model, overrides)
                shutil.rmtree(folder, ignore_errors=True)
                outcomes.append(outcome)
                print(markdown([outcome]), flush=True)
    beaten = sum(o["beats_baselines"] for o in outcomes)
    summary = f"{beaten} of {len(outcomes)} runs beat both baselines at every reported lead time (MAE and RMSE)"
    print(summary)
    card = {"machine": info, "versions": library_versions(), "command": "python -m benchmarks.own_data " + " ".join(argv or [])}
    if not args.quick:
        body = f"# Own-data networks: default `stgraph train` vs the baselines\n\n{summary}.\n\n{markdown(outcomes)}\n"
        payload = {"card": card, "outcomes": outcomes}
        md, _ = write_result("own-data", body, payload, args.results)
        print(f"wrote {md}")
    return 0 if args.quick or beaten == len(outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
