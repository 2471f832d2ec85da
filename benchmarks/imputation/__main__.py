"""``python -m benchmarks.imputation``: the imputation baselines and the learned imputer on Los-loop
and the raw METR-LA slice, point and block missing, MAE / RMSE on the hidden readings
(:mod:`benchmarks.imputation.run`).

```bash
python -m benchmarks.imputation                      # both datasets, both patterns, seeds 0, 1, 2
python -m benchmarks.imputation --datasets los-loop --seeds 1
```

Results: ``benchmarks/results/imputation.{md,json}`` with the machine card; an existing result
is replaced only with ``--force``. A dataset whose files are not under the data root is skipped
with a line saying so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.accuracy.card import RESULTS, library_versions, machine, mean_std, refuse_existing, write_result
from benchmarks.data_root import default_data_root
from benchmarks.imputation.run import DATASETS, PATTERNS, load_dataset, score_dataset
from stgraph.impute import METHODS
from stgraph.impute.masking import BLOCK_FAULT_RATE, BLOCK_NOISE_RATE, POINT_RATE

NAME = "imputation"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imputation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 of the hiding draw (default 3)")
    parser.add_argument(
        "--data-root", type=Path, default=None, help="folder holding los-loop/, metr-la-sample100/, metr-la-graph/"
    )
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder for imputation.{md,json} (default benchmarks/results)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing result")
    return parser


def markdown(runs: list[dict[str, Any]], card: dict[str, Any]) -> str:
    """The table: one row per dataset, pattern and method, mean ± std over seeds."""
    lines = [
        "# Imputation: baselines and the learned imputer on hidden readings (GRIN / SPIN protocols)",
        "",
        f"Point missing: {POINT_RATE:.0%} of the observed readings hidden at random. Block missing: blocks of 1 to "
        f"4 h per sensor starting with probability {BLOCK_FAULT_RATE} per reading, plus {BLOCK_NOISE_RATE:.0%} of "
        "points (tsl's `add_missing_values`). Scored on the hidden readings only; mean ± std over seeds "
        f"{sorted({run['seed'] for run in runs})}. `python -m benchmarks.imputation`.",
        "",
        "| dataset | pattern | hidden readings | method | MAE | RMSE |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    keys = sorted({(run["dataset"], run["pattern"]) for run in runs}, key=lambda k: (k[0], list(PATTERNS).index(k[1])))
    for dataset, pattern in keys:
        group = [run for run in runs if (run["dataset"], run["pattern"]) == (dataset, pattern)]
        hidden = round(sum(run["hidden"] for run in group) / len(group))
        for method in METHODS:
            mae = mean_std([run["methods"][method]["mae"] for run in group])
            rmse = mean_std([run["methods"][method]["rmse"] for run in group])
            lines.append(
                f"| {dataset} | {pattern} | {hidden} | {method} | {mae[0]:.3f} ± {mae[1]:.3f} | {rmse[0]:.3f} ± {rmse[1]:.3f} |"
            )
    lines += ["", "Target (issue 15): the learned imputer's MAE below linear interpolation's and the graph-neighbour mean's."]
    for dataset, pattern in keys:
        group = [run for run in runs if (run["dataset"], run["pattern"]) == (dataset, pattern)]
        mae = {m: mean_std([run["methods"][m]["mae"] for run in group])[0] for m in ("learned", "linear", "neighbour_mean")}
        met = mae["learned"] < min(mae["linear"], mae["neighbour_mean"])
        lines.append(
            f"- {dataset}, {pattern}: {'met' if met else 'not met'} (learned {mae['learned']:.3f}, linear "
            f"{mae['linear']:.3f}, neighbour_mean {mae['neighbour_mean']:.3f})"
        )
    machine_card = card["machine"]
    lines += ["", f"Machine: {machine_card['cpu']}, {machine_card['date']}; stgraph {card['versions']['stgraph_commit']}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    torch.set_num_threads(1)  # the learned imputer's training: small tensors, one thread is fastest
    if refuse_existing(args.results, NAME, args.force):
        return 1
    root = Path(args.data_root) if args.data_root is not None else default_data_root()
    runs = []
    for name in args.datasets:
        benchmark = load_dataset(name, root)
        if benchmark is None:
            print(f"skipped {name}: its files are not under {root}")
            continue
        for pattern in PATTERNS:
            for seed in range(args.seeds):
                run = score_dataset(benchmark, pattern, seed)
                runs.append(run)
                maes = ", ".join(f"{m} {r['mae']:.3f}" for m, r in run["methods"].items())
                print(f"{name} {pattern} seed {seed}: {run['hidden']} hidden; MAE {maes}")
    if not runs:
        print(f"no dataset found under {root}; nothing written")
        return 0
    card = {"machine": machine(), "versions": library_versions(), "data_root": str(root)}
    md, js = write_result(NAME, markdown(runs, card), {**card, "runs": runs}, folder=args.results)
    print(f"wrote {md} and {js}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
