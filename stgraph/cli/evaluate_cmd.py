"""``stgraph evaluate RUN_DIR``: re-score a finished run's best model on any split.

Reloads the run's data from its ``config.yaml``, checks that the graph is still the one the
model was trained on (same fingerprint), scales with the statistics stored in ``model.pt``,
prints the masked MAE / RMSE / MAPE table beside the historical-average and last-value
baselines on the same windows (with a warning line wherever the model does not beat them) and
writes ``predictions_<split>.npz``, the plots, the split's entries in ``metrics.json`` and
``report.md``. It writes nothing outside the run directory (a
``plots`` link to another folder is refused) and never onto one of the run's data files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stgraph.cli.arguments import device_problem, one_line, positive_int

__all__ = ["add_parser", "check_run_outputs", "run"]

# config.yaml's data keys that name files evaluate reads
_DATA_FILES = ("readings", "sensors", "distances", "adjacency", "edges")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="re-score a finished run on its test, validation or training split",
        description="Re-score the best model of a finished run (masked metrics in original units) and update its run directory.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (holds model.pt and config.yaml)")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test", help="which windows to score (default test)")
    parser.add_argument("--batch-size", type=positive_int, default=64, metavar="N", help="windows per forward pass (default 64)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default cpu)")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads per operation (default: torch's)")
    parser.set_defaults(func=run)
    return parser


def check_run_outputs(run_dir: str | Path, split: str) -> list[Path]:
    """The files ``evaluate`` writes for ``split``, checked: inside ``run_dir`` once links are
    followed, and none of them one of the data files its ``config.yaml`` names.

    Raises:
        RunError: no readable ``config.yaml``.
        OutputError: a file that would land outside the run directory or on a data file.
    """
    from stgraph.io.outputs import OutputError, check_not_input
    from stgraph.pipeline.run_dir import METRICS_FILE, load_run_config
    from stgraph.pipeline.run_report import REPORT_FILE

    run_dir = Path(run_dir)
    data = load_run_config(run_dir).get("data") or {}
    inputs = {f"data.{key}": data.get(key) for key in _DATA_FILES if isinstance(data.get(key), str)}
    plots = run_dir / "plots"
    outputs = [
        run_dir / f"predictions_{split}.npz",
        run_dir / METRICS_FILE,
        run_dir / REPORT_FILE,
        *(plots / f"{kind}_{split}.png" for kind in ("forecasts", "error_by_horizon", "sensor_map")),
    ]
    root = run_dir.resolve()
    for path in outputs:
        resolved = path.resolve()
        if root != resolved.parent and root not in resolved.parents:
            raise OutputError(f"{path} leads to {resolved}, outside the run directory {run_dir}; evaluate writes only inside it")
        check_not_input(path, inputs, flag="evaluate's output")
    return outputs


def run(args: argparse.Namespace) -> int:
    from stgraph.errors import ConfigError, RunError
    from stgraph.pipeline.evaluate import evaluate_run
    from stgraph.pipeline.run_dir import MODEL_FILE, cpu_threads

    problem = device_problem(args.device)
    if problem:
        print(f"stgraph evaluate: error: --device {args.device}: {problem}", file=sys.stderr)
        return 2
    try:
        if Path(args.run_dir, MODEL_FILE).is_file():  # else evaluate_run says what is missing
            check_run_outputs(args.run_dir, args.split)
        with cpu_threads(args.threads):
            comparison, data = evaluate_run(args.run_dir, args.split, batch_size=args.batch_size, device=args.device)
    except (ConfigError, RunError) as error:
        print(f"stgraph evaluate: error: {one_line(error)}", file=sys.stderr)
        return 2
    print(
        f"{args.run_dir}: {args.split} split, {data.split.sizes()[args.split]} windows, masked metrics in original units, "
        "beside the baselines"
    )
    print(comparison.table(_model_name(args.run_dir)))
    intervals = _intervals_table(Path(args.run_dir), args.split)
    if intervals:
        print(intervals)
    for line in comparison.warning_lines():
        print(line)
    return 0


def _intervals_table(run_dir: Path, split: str) -> str:
    """The split's calibrated intervals as ``stgraph train`` prints them, from ``metrics.json``; "" without."""
    import json

    from stgraph.metrics.report import intervals_caption, intervals_from_summary, intervals_table
    from stgraph.pipeline.compare import split_key
    from stgraph.pipeline.run_dir import METRICS_FILE

    metrics = json.loads((run_dir / METRICS_FILE).read_text())
    block = metrics.get(split_key("intervals", split))
    if block is None:
        return ""
    scores = intervals_from_summary(block)
    return intervals_caption(split, scores.nominal) + "\n" + intervals_table(scores, interval=metrics.get("interval"))


def _model_name(run_dir: str) -> str:
    """The model's registry name, as ``config.yaml`` records it."""
    from stgraph.pipeline.run_dir import load_run_config

    return str((load_run_config(Path(run_dir)).get("model") or {}).get("name", "model"))
