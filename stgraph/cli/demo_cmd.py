"""``stgraph demo`` (what ``make demo`` runs): train a model on the committed sample, offline, on
the CPU, and print its test table beside the historical-average and last-value baselines.

The sample is one week of METR-LA (Los-loop's gap-filled speeds, 207 sensors, 5-minute steps)
with DCRNN's METR-LA graph. The demo trains what ``stgraph train`` trains when no model is
named: the default recipe (``stgraph/configs/recipes/default.yaml``: STID with the calendar
inputs the week can teach, MAE + RMSE loss in mph, early stopping on validation MAE) within
a 90-second training budget, so that the demo takes about two minutes on two CPU cores (a
slower machine trains fewer epochs). It runs one thread per operation: on a machine that other
processes keep busy, two threads per small operation were measured nine times slower than one.
On seeds 0, 1 and 2 it beat both baselines in MAE and RMSE at every horizon it prints
(benchmarks/RESULTS.md); a week of data is far from the papers' setting, so the numbers show
the pipeline working, not the model's best. ``--model NAME`` trains that model with its
packaged YAML instead.
"""

from __future__ import annotations

import argparse
import sys

from stgraph.cli.arguments import check_accelerator, one_line, positive_float, positive_int

__all__ = ["DEMO_SECONDS", "add_parser", "run"]

DEMO_SECONDS = 90.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="train a model on the committed sample and compare it with two baselines (offline, CPU)",
        description=(
            "Train a model on the committed sample (one week of METR-LA), offline, on the CPU, and print its "
            "test table beside the historical-average and last-value baselines."
        ),
    )
    parser.add_argument("--model", help="model to train with its packaged YAML (default: the default recipe, STID)")
    parser.add_argument("--epochs", type=positive_int, help="at most this many epochs (default: the recipe's or the YAML's)")
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=DEMO_SECONDS,
        help=f"training time budget: no epoch starts that would end later (default {DEMO_SECONDS:g})",
    )
    parser.add_argument("--out", metavar="DIR", help="run directory (default runs/sample-<model>-<time>)")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        nargs="+",
        action="extend",
        default=[],
        dest="overrides",
        help="override any configuration key, e.g. --set training.lr=0.002",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads per operation (default 1: on a busy machine more threads wait for each other)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from stgraph.errors import ConfigError, RunError
    from stgraph.pipeline.config import parse_overrides, resolve_config
    from stgraph.pipeline.data import prepare_data
    from stgraph.train.run import train

    try:
        user = parse_overrides(args.overrides)
        training = {
            **({"epochs": args.epochs} if args.epochs is not None else {}),
            "time_budget": args.seconds,
            "threads": args.threads,
            "accelerator": "cpu",
            "devices": 1,
            **({"progress_bar": False} if args.no_progress else {}),
        }
        overrides = {**user, "training": {**training, **user.get("training", {})}}
        config = resolve_config(model=args.model, dataset="sample", overrides=overrides)
        check_accelerator(config, None)
    except ConfigError as error:
        print(f"stgraph demo: error: {one_line(error)}", file=sys.stderr)
        return 2
    print(f"stgraph demo: {config.model.name} on the committed sample (one week of METR-LA, Los-loop speeds), CPU, offline\n")
    data = prepare_data(config.data)
    if data.split.sizes()["test"] == 0:
        # checked before training: the comparison with the baselines is on the test windows
        print(_no_test_windows(config.data.split), file=sys.stderr)
        return 2

    try:
        result = train(config, args.out, data=data, show_table=False)
    except (ConfigError, RunError, MisconfigurationException) as error:
        print(f"stgraph demo: error: {one_line(error)}", file=sys.stderr)
        return 2
    if result.comparison is None:
        print(_no_test_windows(config.data.split) + f"; the run is in {result.run_dir}", file=sys.stderr)
        return 2
    # the baselines are scored on exactly the test windows, by stgraph.pipeline.compare
    units = f" ({data.units})" if data.units else ""
    print(f"\n{config.model.name} beside the baselines, test split, masked metrics{units}:")
    print(result.comparison.table(config.model.name))
    print(f"\nrun directory: {result.run_dir} (report.md, model.pt, metrics.json, predictions_test.npz, plots/)")
    for line in result.comparison.warning_lines():
        print(line)
    return 0


def _no_test_windows(split: list[float]) -> str:
    return (
        f"stgraph demo: error: data.split {split} leaves the sample no test windows to compare the model "
        "and the baselines on; give the test part a share, e.g. --set data.split=[0.7,0.1,0.2]"
    )
