"""``python -m benchmarks.missing_inputs``: the default recipe's model trained with
``data.missing_inputs: zero`` and with ``mask``, scored on test windows as they are and with
input readings hidden (:mod:`benchmarks.missing_inputs.run`).

```bash
python -m benchmarks.missing_inputs                               # the sample, 2 seeds, 20 epochs
python -m benchmarks.missing_inputs --datasets sample los-loop --seeds 1 --epochs 10 --tag quick
```

Each run trains as ``stgraph train --dataset NAME`` does with no model named (STID, the default
recipe), but for a fixed number of epochs (no time budget; the best validation epoch is kept),
one CPU thread. Results: ``benchmarks/results/missing-inputs-<tag>.{md,json}`` with the machine
card; an existing result is replaced only with ``--force``. ``los-loop`` is read from the data
root (:func:`benchmarks.data_root.default_data_root`) and skipped with a line when absent.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.accuracy.card import RESULTS, machine, mean_std, present_datasets, refuse_existing, write_runs
from benchmarks.data_root import default_data_root
from benchmarks.missing_inputs.run import BLOCK, PATTERNS, POINT_RATE, score_model
from stgraph.data.windows import MISSING_INPUTS
from stgraph.metrics.report import REPORT_STEPS
from stgraph.pipeline.config import resolve_config
from stgraph.pipeline.data import prepare_data

NAME = "missing-inputs"
DATASETS = ("sample", "los-loop")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.missing_inputs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=["sample"])
    parser.add_argument("--seeds", type=int, default=2, help="training and hiding seeds 0..N-1 (default 2)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs per run (default 20)")
    parser.add_argument(
        "--data-root", type=Path, default=None, help="folder holding los-loop/ (default: the benchmarks' data root)"
    )
    parser.add_argument("--tag", default="cpu", help="result name: missing-inputs-<tag>.{md,json} (default cpu)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--force", action="store_true", help="replace an existing result")
    return parser


def run_one(dataset: str, setting: str, seed: int, epochs: int, root: Path, work: Path) -> dict[str, Any]:
    """Train the default recipe on ``dataset`` with ``data.missing_inputs = setting`` and score it."""
    from stgraph.pipeline.model_file import load_model_file
    from stgraph.train.run import train

    overrides = {
        "data": {"dataset": dataset, "missing_inputs": setting},
        "training": {
            "seed": seed,
            "epochs": epochs,
            "time_budget": None,
            "patience": epochs,
            "progress_bar": False,
            "accelerator": "cpu",
            "devices": 1,
            "threads": 1,
        },
    }
    config = resolve_config(overrides=overrides)
    data = prepare_data(config.data, root=root if dataset != "sample" else None)
    started = time.perf_counter()
    result = train(config, work / f"{dataset}-{setting}-{seed}", data=data, show_table=False, echo=lambda line: None)
    seconds = time.perf_counter() - started
    model = load_model_file(result.run_dir / "model.pt").model
    return {
        "dataset": dataset,
        "setting": setting,
        "seed": seed,
        "model": config.model.name,
        "in_features": data.in_features,
        "epochs": result.summary.get("epochs_completed"),
        "train_seconds": round(seconds, 1),
        "patterns": score_model(model, data, seed),
    }


def markdown(runs: list[dict[str, Any]], card: dict[str, Any], command: str) -> str:
    """One row per dataset, pattern and setting: MAE at 15/30/60 min and on average, mean ± std over seeds."""
    seeds = sorted({run["seed"] for run in runs})
    steps = [str(s) for s in REPORT_STEPS]
    lines = [
        "# Forecasting with missing inputs: `data.missing_inputs` zero vs mask",
        "",
        f"The default recipe's model ({runs[0]['model']}) trained per setting and seed {seeds} for a fixed "
        f"{runs[0]['epochs']} epochs (best validation epoch kept), 1 CPU thread. Test MAE (masked, original units) "
        f"on the test windows as they are; with {POINT_RATE:.0%} of the observed input readings hidden at random "
        f"(`points`); with one {BLOCK.total_seconds() / 60:.0f}-minute block per sensor at a "
        "random start overlapping the input window (`blocks`). Targets unchanged, scored only where observed. "
        "`missing` = share of the input readings missing. Mean ± std over seeds.",
        "",
        "| dataset | inputs | setting | missing | " + " | ".join(f"MAE @{s}" for s in steps) + " | MAE avg |",
        "| --- | --- | --- | ---: | " + " | ".join("---:" for _ in steps) + " | ---: |",
    ]
    for dataset in sorted({run["dataset"] for run in runs}, key=list(DATASETS).index):
        for pattern in PATTERNS:
            for setting in MISSING_INPUTS:
                group = [r["patterns"][pattern] for r in runs if (r["dataset"], r["setting"]) == (dataset, setting)]
                if not group:
                    continue
                cells = []
                for key in [*steps, "average"]:
                    mean, std = mean_std([row[key] for row in group])
                    cells.append(f"{mean:.3f} ± {std:.3f}")
                missing = mean_std([row["missing_inputs_share"] for row in group])[0]
                lines.append(f"| {dataset} | {pattern} | {setting} | {missing:.1%} | " + " | ".join(cells) + " |")
    lines += ["", "Collapse: the rise of the average MAE from `as is` to each hidden pattern, per setting."]
    for dataset in sorted({run["dataset"] for run in runs}, key=list(DATASETS).index):
        for setting in MISSING_INPUTS:
            group = [r["patterns"] for r in runs if (r["dataset"], r["setting"]) == (dataset, setting)]
            if not group:
                continue
            base = mean_std([g["as is"]["average"] for g in group])[0]
            rises = ", ".join(
                f"{p} +{mean_std([g[p]['average'] for g in group])[0] - base:.3f} "
                f"({(mean_std([g[p]['average'] for g in group])[0] / base - 1):+.0%})"
                for p in PATTERNS
                if p != "as is"
            )
            lines.append(f"- {dataset}, {setting}: as is {base:.3f}; {rises}")
    machine_card = card["machine"]
    lines += [
        "",
        f"Machine: {machine_card['cpu']} ({machine_card['cpu_cores']} cores, shared with other jobs: loaded-machine "
        f"timings), {machine_card['os']}, {machine_card['date']}; stgraph {card['versions']['stgraph_commit']}.",
        f"Command: `{command}`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.getLogger("stgraph").setLevel(logging.WARNING)
    if refuse_existing(args.results, f"{NAME}-{args.tag}", args.force):
        return 1
    root = Path(args.data_root) if args.data_root is not None else default_data_root()
    datasets = present_datasets(args.datasets, root)
    info = machine()
    print(f"machine: {info['cpu']} ({info['cpu_cores']} cores), {info['os']}, {info['date']}")
    runs = []
    with tempfile.TemporaryDirectory(prefix="stgraph-missing-inputs-") as folder, contextlib.suppress(KeyboardInterrupt):
        for dataset in datasets:
            for seed in range(args.seeds):
                for setting in MISSING_INPUTS:
                    run = run_one(dataset, setting, seed, args.epochs, root, Path(folder))
                    runs.append(run)
                    maes = ", ".join(f"{p} {row['average']:.3f}" for p, row in run["patterns"].items())
                    print(
                        f"{dataset} {setting} seed {seed}: {run['epochs']} epochs in {run['train_seconds']:.0f} s; MAE avg {maes}"
                    )
    command = "python -m benchmarks.missing_inputs " + " ".join(argv if argv is not None else sys.argv[1:])
    return write_runs(f"{NAME}-{args.tag}", runs, markdown, info, root, command, folder=args.results)


if __name__ == "__main__":
    sys.exit(main())
