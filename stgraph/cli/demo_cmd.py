"""``stgraph demo`` (what ``make demo`` runs): train a model on the committed sample, offline, on
the CPU, and print its test table beside the historical-average and last-value baselines.

The sample is one week of METR-LA (Los-loop's gap-filled speeds, 207 sensors, 5-minute steps)
with DCRNN's METR-LA graph. The default model is STGCN (Yu et al., IJCAI 2018) with the paper's
blocks, Chebyshev order, optimiser (RMSprop) and schedule, but half its channel widths
(32-8-32 instead of 64-16-64), batches of 32, and at most 8 epochs within a 90-second
training budget, so that the demo takes about two minutes on two CPU cores (a slower machine
trains fewer epochs). It runs one thread per operation: on a machine that other processes
keep busy, two threads per small operation were measured nine times slower than one. With the 8 epochs it beats both baselines in MAE and RMSE at every
horizon; a week of data and a few epochs are far from the paper's setting, so the numbers show
the pipeline working, not the model's best.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stgraph.cli.arguments import check_accelerator, one_line, positive_float, positive_int

__all__ = ["DEMO_EPOCHS", "DEMO_MODEL", "DEMO_OVERRIDES", "DEMO_SECONDS", "add_parser", "run"]

DEMO_MODEL = "stgcn"
DEMO_EPOCHS = 8
DEMO_SECONDS = 90.0
#: applied when the demo trains its default model (other models keep their YAML's settings)
DEMO_OVERRIDES: dict[str, dict[str, Any]] = {"model": {"channels": [[32, 8, 32], [32, 8, 32]]}, "data": {"batch_size": 32}}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "demo",
        help="train a model on the committed sample and compare it with two baselines (offline, CPU)",
        description=(
            "Train a model on the committed sample (one week of METR-LA), offline, on the CPU, and print its "
            "test table beside the historical-average and last-value baselines."
        ),
    )
    parser.add_argument("--model", default=DEMO_MODEL, help=f"model to train (default {DEMO_MODEL})")
    parser.add_argument(
        "--epochs", type=positive_int, default=DEMO_EPOCHS, help=f"at most this many epochs (default {DEMO_EPOCHS})"
    )
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
    from stgraph.pipeline.config import canonical_model_name, parse_overrides, resolve_config
    from stgraph.pipeline.data import prepare_data
    from stgraph.train.run import train

    try:
        user = parse_overrides(args.overrides)
        training = {
            "epochs": args.epochs,
            "time_budget": args.seconds,
            "threads": args.threads,
            "accelerator": "cpu",
            "devices": 1,
            **({"progress_bar": False} if args.no_progress else {}),
        }
        demo: dict[str, dict[str, Any]] = DEMO_OVERRIDES if canonical_model_name(args.model) == DEMO_MODEL else {}
        overrides = {section: {**demo.get(section, {}), **user.get(section, {})} for section in ("data", "model")}
        overrides["training"] = {**training, **user.get("training", {})}
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
