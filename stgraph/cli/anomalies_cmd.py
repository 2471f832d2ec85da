"""``stgraph anomalies RUN_DIR --readings FILE [--out anomalies.csv]``: flag faulty sensor readings.

Checks every reading against the run: its one-step-ahead forecast (a residual above the
sensor's split-conformal threshold of validation residuals is a ``spike``), and three plain
checks: the same value for ``stuck_minutes`` or more (``stuck``), a zero where the sensor is
almost never zero at that time of day (``zero``), a reading outside the physical limits
(``out_of_range``). Thresholds come from ``--config`` (see
:class:`stgraph.anomalies.AnomalySettings`). Writes ``sensor, timestamp, kind, score`` rows;
an existing ``--out`` is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
import sys

from stgraph.cli.arguments import device_problem, positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "anomalies",
        help="flag stuck sensors, impossible zeros, out-of-range readings and spikes against a trained run",
        description="Score every reading against a run's calibrated one-step forecast and the detector checks; write a CSV.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (holds model.pt and config.yaml)")
    parser.add_argument("--readings", metavar="FILE", required=True, help="readings to check: the run's sensors and interval")
    parser.add_argument("--out", metavar="FILE", default="anomalies.csv", help="CSV to write (default anomalies.csv)")
    parser.add_argument("--config", metavar="FILE", help="YAML settings: stuck_minutes, zero_rate, minimum, maximum, coverage")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--batch-size", type=positive_int, default=256, metavar="N", help="windows per forward pass (default 256)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads per operation (default: torch's)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from stgraph.anomalies import KINDS, AnomalySettings, find_anomalies
    from stgraph.io.outputs import check_output
    from stgraph.pipeline.run_dir import cpu_threads

    problem = device_problem(args.device)
    if problem:
        print(f"stgraph anomalies: error: --device {args.device}: {problem}", file=sys.stderr)
        return 2
    inputs = {"--readings": args.readings, "--config": args.config, "RUN_DIR": args.run_dir}
    check_output(args.out, inputs=inputs, force=args.force)
    settings = AnomalySettings.from_file(args.config) if args.config else AnomalySettings()
    bars: list[tqdm[None]] = []  # opened at the first chunk, once the run is loaded and calibrated

    def show(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc="one-step forecasts", unit="step", disable=args.no_progress))
        bars[0].update(done - bars[0].n)

    try:
        with cpu_threads(args.threads):
            table = find_anomalies(
                args.run_dir,
                args.readings,
                args.out,
                settings=settings,
                batch_size=args.batch_size,
                device=args.device,
                progress=show,
            )
    finally:
        for bar in bars:
            bar.close()
    counts = table["kind"].value_counts()
    found = ", ".join(f"{int(counts.get(kind, 0))} {kind}" for kind in KINDS)
    print(f"{args.out}: {len(table)} readings flagged ({found})", file=sys.stdout)
    return 0
