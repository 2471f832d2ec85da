"""``stgraph evaluate RUN_DIR``: re-score a finished run's best model on any split.

Reloads the run's data from its ``config.yaml``, checks that the graph is still the one the
model was trained on (same fingerprint), scales with the statistics stored in ``model.pt``,
prints the masked MAE / RMSE / MAPE table and writes ``predictions_<split>.npz``, the plots
and the split's entry in ``metrics.json``.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="re-score a finished run on its test, validation or training split",
        description="Re-score the best model of a finished run (masked metrics in original units) and update its run directory.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (holds model.pt and config.yaml)")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test", help="which windows to score (default test)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="windows per forward pass (default 64)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default cpu)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads per operation (default: torch's)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from stgraph.errors import ConfigError, RunError
    from stgraph.metrics.report import metrics_table
    from stgraph.pipeline.evaluate import evaluate_run
    from stgraph.pipeline.run_dir import cpu_threads

    try:
        with cpu_threads(args.threads):
            metrics, data = evaluate_run(args.run_dir, args.split, batch_size=args.batch_size, device=args.device)
    except (ConfigError, RunError) as error:
        print(f"stgraph evaluate: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.run_dir}: {args.split} split, {data.split.sizes()[args.split]} windows, masked metrics in original units")
    print(metrics_table(metrics, interval=data.series.interval))
    return 0
