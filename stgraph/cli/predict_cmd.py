"""``stgraph predict RUN_DIR --readings FILE --out FILE``: forecast the next steps for every sensor.

Takes the last ``lookback`` steps of the readings, checks that they come from the run's sensors
at the run's interval (refusing otherwise, naming the sensors or the interval), and writes the
next ``horizon`` steps with real timestamps to CSV or Parquet (chosen by the extension).
``--out`` must not be the readings or lie inside the run directory; an existing file is
replaced only with ``--force``. ``--intervals`` writes the run's calibrated interval beside each
forecast (``timestamp, sensor, <channel>, <channel>_lower, <channel>_upper`` rows).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from stgraph.cli.arguments import device_problem, positive_int

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "predict",
        help="forecast the next horizon steps from recent readings with a trained run",
        description="Forecast the steps after the last reading, for every sensor of the run, with real timestamps.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (holds model.pt)")
    parser.add_argument("--readings", metavar="FILE", required=True, help="recent readings, same layout and sensors as training")
    parser.add_argument("--out", metavar="FILE", required=True, help="forecast table to write: .csv or .parquet")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument(
        "--intervals",
        action="store_true",
        help="write the run's conformal interval beside each forecast (columns <channel>_lower, <channel>_upper; "
        "a quantile run's levels too, <channel>_q0.05 ...)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads per operation (default: torch's)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from stgraph.io.outputs import check_output
    from stgraph.pipeline.forecast import predict_file
    from stgraph.pipeline.run_dir import cpu_threads

    problem = device_problem(args.device)
    if problem:
        print(f"stgraph predict: error: --device {args.device}: {problem}", file=sys.stderr)
        return 2
    # before the model is loaded: a wrong --out costs nothing and leaves every file as it was
    check_output(args.out, inputs={"--readings": args.readings, "RUN_DIR": args.run_dir}, force=getattr(args, "force", False))
    with cpu_threads(args.threads):
        frame = predict_file(args.run_dir, args.readings, args.out, device=args.device, intervals=args.intervals)
    first, last = frame.index.get_level_values(0)[0], frame.index.get_level_values(0)[-1]
    print(f"{args.out}: {len(frame.index.unique(0))} steps ({first} .. {last}) for {_sensors(frame)} sensors", file=sys.stdout)
    return 0


def _sensors(frame: pd.DataFrame) -> int:
    """Sensors in a forecast table: its columns (wide) or the second index level (long)."""
    return int(frame.shape[1]) if frame.index.nlevels == 1 else len(frame.index.unique(1))
