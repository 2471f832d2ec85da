"""``python -m benchmarks.intervals``: test coverage of 90 % conformal intervals, for STGCN and
Graph WaveNet, point and quantile models, every calibration method (:mod:`benchmarks.intervals.score`).

```bash
python -m benchmarks.intervals                                    # the sample, seeds 0-2, 8 epochs
python -m benchmarks.intervals --datasets sample los-loop --seeds 1 --epochs 4 --tag quick
```

Each (dataset, model, head, seed) trains once as ``stgraph train --dataset NAME --model MODEL``
does with the model's recipe, but for a fixed number of epochs (the best validation epoch is
kept), one CPU thread, 70/10/20 split (the DCRNN protocol); the quantile head is
``model.quantiles=[0.05, 0.5, 0.95]``. Then every calibration of its intervals is fitted on
validation and scored on test. Results: ``benchmarks/results/intervals-<tag>.{md,json}`` with
the machine card; an existing result is replaced only with ``--force``. ``los-loop`` is read from
the data root (:func:`benchmarks.data_root.default_data_root`) and skipped when absent.

``--keep DIR`` keeps the trained run directories; ``--runs DIR...`` scores run directories kept
before (or any run trained on the sample or Los-loop) without training, so that scoring a new
calibration method costs forecasts, not training; ``--merge A.json B.json`` makes one table of
results scored separately.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.accuracy.card import RESULTS, machine, mean_std, present_datasets, refuse_existing, write_runs
from benchmarks.data_root import default_data_root
from benchmarks.intervals.score import HIGH, LOW, score_methods
from stgraph.pipeline.config import resolve_config
from stgraph.pipeline.data import prepare_data
from stgraph.pipeline.evaluate import load_run_data
from stgraph.pipeline.run_dir import METRICS_FILE, load_run_config

NAME = "intervals"
DATASETS = ("sample", "los-loop")
MODELS = ("stgcn", "graph_wavenet")
HEADS = {"point": None, "quantile": [0.05, 0.5, 0.95]}
COVERAGE = 0.9


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intervals", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=["sample"])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--heads", nargs="+", choices=list(HEADS), default=list(HEADS))
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1 (default 3)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs per run (default 8)")
    parser.add_argument(
        "--data-root", type=Path, default=None, help="folder holding los-loop/ (default: the benchmarks' data root)"
    )
    parser.add_argument("--tag", default="cpu", help="result name: intervals-<tag>.{md,json} (default cpu)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--force", action="store_true", help="replace an existing result")
    parser.add_argument("--keep", type=Path, default=None, help="keep the trained runs in this folder (default: a temporary one)")
    parser.add_argument("--runs", type=Path, nargs="+", default=None, help="score these finished runs instead of training")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, help="one table from these results' JSON files")
    return parser


def train_one(dataset: str, model: str, head: str, seed: int, epochs: int, root: Path, work: Path) -> Path:
    """Train ``model`` with ``head`` on ``dataset``; returns the run directory."""
    from stgraph.train.run import train

    options = {} if HEADS[head] is None else {"quantiles": HEADS[head]}
    overrides = {
        "data": {"dataset": dataset, "split": [0.7, 0.1, 0.2]},
        "model": options,
        "training": {
            "seed": seed,
            "epochs": epochs,
            "time_budget": None,
            "patience": epochs,
            "progress_bar": False,
            "accelerator": "cpu",
            "devices": 1,
            "threads": 1,
            "coverage": COVERAGE,
        },
    }
    config = resolve_config(model=model, overrides=overrides)
    data = prepare_data(config.data, root=root if dataset != "sample" else None)
    result = train(config, work / f"{dataset}-{model}-{head}-{seed}", data=data, show_table=False, echo=lambda line: None)
    return result.run_dir


def score_run(run_dir: Path) -> dict[str, Any]:
    """Every calibration of the intervals of the finished run ``run_dir``, scored on its test split."""
    best, data = load_run_data(run_dir)
    config = load_run_config(run_dir)
    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    return {
        "run": run_dir.name,
        "dataset": config["data"]["dataset"],
        "model": config["model"]["name"],
        "head": "point" if config["model"].get("quantiles") is None else "quantile",
        "seed": config["training"]["seed"],
        "epochs": metrics.get("epochs_completed"),
        "best_epoch": metrics.get("best_epoch"),
        "train_seconds": metrics.get("train_seconds"),
        "windows": data.split.sizes(),
        "methods": score_methods(best.model, data, COVERAGE),
    }


def _line(run: dict[str, Any]) -> str:
    cells = "; ".join(
        f"{method} {100 * row['coverage_min']:.1f}-{100 * row['coverage_max']:.1f}" for method, row in run["methods"].items()
    )
    return f"{run['dataset']} {run['model']} {run['head']} seed {run['seed']} ({run['train_seconds']:.0f} s): {cells}"


def markdown(runs: list[dict[str, Any]], card: dict[str, Any], command: str) -> str:
    """One row per dataset, model and method: coverage at 15/30/60 min and its range over all
    steps and seeds, width and Winkler score (mean over seeds), and in how many seeds every step
    fell in the band."""
    seeds = sorted({run["seed"] for run in runs})
    lines = [
        "# Calibrated intervals: test coverage of 90 % intervals",
        "",
        f"Seeds {seeds}, {runs[0]['epochs']} epochs each (best validation epoch kept), 1 CPU thread, "
        f"70/10/20 split ({runs[0]['windows']['train']} / {runs[0]['windows']['val']} / {runs[0]['windows']['test']} "
        "windows). Coverage per horizon step on test, in %: at 15, 30 and 60 minutes (mean over seeds), and "
        "the lowest and highest of all 12 steps in any seed. Width and Winkler score: mean over steps and seeds, "
        f"in mph. `in band`: seeds in which every step covered {LOW:.0%}-{HIGH:.0%}.",
        "",
        "| dataset | model | method | 15 min | 30 min | 60 min | all steps, all seeds | width | Winkler | in band |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for dataset in DATASETS:
        for model in MODELS:
            group = [r for r in runs if (r["dataset"], r["model"]) == (dataset, model)]
            methods = list(dict.fromkeys(m for r in group for m in r["methods"]))
            for method in methods:
                rows = [r["methods"][method] for r in group if method in r["methods"]]
                at = [f"{100 * mean_std([row[f'coverage_{s}'] for row in rows])[0]:.1f}" for s in (3, 6, 12)]
                low = 100 * min(row["coverage_min"] for row in rows)
                high = 100 * max(row["coverage_max"] for row in rows)
                width = mean_std([row["width"] for row in rows])[0]
                winkler = mean_std([row["winkler"] for row in rows])[0]
                inside = sum(row["in_band"] for row in rows)
                lines.append(
                    f"| {dataset} | {model} | {method} | {' | '.join(at)} | {low:.1f}-{high:.1f} | {width:.2f} | "
                    f"{winkler:.2f} | {inside} of {len(rows)} |"
                )
    machine_card = card["machine"]
    lines += [
        "",
        f"Machine: {machine_card['cpu']} ({machine_card['cpu_cores']} cores), {machine_card['os']}, {machine_card['date']}; "
        f"stgraph {card['versions']['stgraph_commit']}.",
        f"Command: `{command}`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("stgraph").setLevel(logging.WARNING)
    if refuse_existing(args.results, f"{NAME}-{args.tag}", args.force):
        return 1
    root = Path(args.data_root) if args.data_root is not None else default_data_root()
    os.environ.setdefault("STGRAPH_DATA", str(root))  # where a kept Los-loop run's config finds its files
    datasets = present_datasets(args.datasets, root)
    info = machine()
    print(f"machine: {info['cpu']} ({info['cpu_cores']} cores), {info['os']}, {info['date']}")
    runs = []
    if args.merge:
        runs = [run for path in args.merge for run in json.loads(Path(path).read_text())["runs"]]
    elif args.runs:
        for run_dir in args.runs:
            runs.append(score_run(Path(run_dir)))
            print(_line(runs[-1]), flush=True)
    else:
        with contextlib.ExitStack() as stack:
            work = (
                Path(args.keep)
                if args.keep
                else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stgraph-intervals-")))
            )
            for dataset in datasets:
                for model in args.models:
                    for head in args.heads:
                        for seed in range(args.seeds):
                            runs.append(score_run(train_one(dataset, model, head, seed, args.epochs, root, work)))
                            print(_line(runs[-1]), flush=True)
    command = "python -m benchmarks.intervals " + " ".join(argv if argv is not None else sys.argv[1:])
    return write_runs(f"{NAME}-{args.tag}", runs, markdown, info, root, command, folder=args.results)


if __name__ == "__main__":
    sys.exit(main())
