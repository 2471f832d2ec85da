"""``stgraph evaluate RUN_DIR``: re-score a finished run's best model on any split.

Reloads the run's data from its ``config.yaml``, checks that the graph is still the one the
model was trained on (same fingerprint), scales with the statistics stored in ``model.pt``,
prints the masked MAE / RMSE / MAPE table and writes ``predictions_<split>.npz``, the plots
and the split's entry in ``metrics.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run", "evaluate_run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
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


def evaluate_run(run_dir: str | Path, split: str = "test", *, batch_size: int = 64, device: str = "cpu"):
    """Re-score ``run_dir`` on ``split``; returns its :class:`~stgraph.metrics.HorizonMetrics`."""
    from stgraph.errors import GraphError, SensorDataError
    from stgraph.train.checkpoint import load_model_file
    from stgraph.train.config import ExperimentConfig
    from stgraph.data.scaling import StandardScaler
    from stgraph.train.data import prepare_data
    from stgraph.train.evaluate import metrics_summary, predict_split, update_metrics_file, write_report
    from stgraph.train.run import METRICS_FILE, MODEL_FILE, load_run_config

    run_dir = Path(run_dir)
    best = load_model_file(run_dir / MODEL_FILE)
    config = ExperimentConfig.from_dict(load_run_config(run_dir), source=str(run_dir / "config.yaml"))
    data = prepare_data(config.data, scaler=StandardScaler.from_state_dict(best.state["scaler"]))
    if data.graph.fingerprint() != best.state["graph"]["fingerprint"]:
        raise GraphError(
            f"{run_dir}: the graph built from the run's data files differs from the one the model was trained on "
            "(the files changed since training)"
        )
    if data.split.sizes()[split] == 0:
        raise SensorDataError(f"{run_dir}: the {split} split has no windows")
    predictions = predict_split(best.model, data, split, batch_size=batch_size, device=device)
    metrics = write_report(run_dir, split, predictions, data)
    update_metrics_file(run_dir / METRICS_FILE, {split: metrics_summary(metrics, data.series.interval)})
    return metrics, data


def run(args: argparse.Namespace) -> int:
    from stgraph.metrics.report import metrics_table
    from stgraph.train.config import ConfigError
    from stgraph.train.run import RunError, cpu_threads

    try:
        with cpu_threads(args.threads):
            metrics, data = evaluate_run(args.run_dir, args.split, batch_size=args.batch_size, device=args.device)
    except (ConfigError, RunError) as error:
        print(f"stgraph evaluate: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.run_dir}: {args.split} split, {data.split.sizes()[args.split]} windows, masked metrics in original units")
    print(metrics_table(metrics, interval=data.series.interval))
    return 0
