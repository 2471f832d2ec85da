"""``stgraph impute``: fill the missing readings of a readings table and mark what was filled.

``--model`` is one of the baselines (``locf``, ``linear``, ``historical_average``,
``neighbour_mean``) or ``learned``: a residual over linear interpolation that receives the
linear fill *and* the mask, trained on the file's own observed readings by hiding some of
them again (:mod:`stgraph.impute.learned`; about a minute on a CPU for a week of 207 sensors,
with a progress bar). ``neighbour_mean`` and ``learned`` need the graph. ``--save-run RUN``
keeps the trained imputer in ``RUN/imputer.pt``; ``--run RUN`` (instead of ``--model``) fills
new readings with it, without training, and refuses readings whose sensors or interval differ
from the run's.

Examples::

    stgraph impute --readings readings.csv --model linear --out filled.csv
    stgraph impute --readings readings.csv --model neighbour_mean --adjacency adjacency.npz --out filled.csv
    stgraph impute --readings raw.csv.gz --null-value 0 --model historical_average --out filled.parquet --mask-out filled-cells.csv
    stgraph impute --readings week.csv --model learned --adjacency adjacency.npz --save-run runs/imputer --out filled.csv
    stgraph impute --readings today.csv --run runs/imputer --out today-filled.csv

A reading is missing where its cell is empty or NaN, or equals ``--null-value``. The output
has the input's columns (wide: timestamp and one column per sensor; long: timestamp, sensor,
values), one row per step of the regular grid (steps absent from the file are added and
filled), observed readings as read. The mask (``--mask-out``, default ``<out>.mask<suffix>``
beside it) has the same layout with 1 where a cell was filled and 0 where it was observed.
Neither may be an input, and an existing file is replaced only with ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from stgraph.errors import SensorDataError
from stgraph.graph import from_distances, from_matrix
from stgraph.impute.methods import GRAPH_METHODS, METHODS, impute
from stgraph.impute.tables import ReadingsTable, read_table, write_table_like
from stgraph.io.outputs import OutputError, check_output

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = ["add_parser", "default_mask_path", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "impute",
        help="fill missing readings (LOCF, linear, historical average, graph neighbours, learned)",
        description="Fill the missing readings of a CSV/Parquet readings table in its own layout and write a mask of "
        "the filled cells.",
    )
    parser.add_argument("--readings", metavar="FILE", required=True, help="wide or long CSV/Parquet readings with timestamps")
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument("--model", metavar="NAME", choices=METHODS, help=f"one of {', '.join(METHODS)}")
    how.add_argument("--run", metavar="RUN", help="a folder holding imputer.pt (from --model learned --save-run)")
    graph = parser.add_mutually_exclusive_group()
    graph.add_argument("--adjacency", metavar="FILE", help="neighbour_mean, learned: adjacency .csv, .npy, .npz or DCRNN .pkl")
    graph.add_argument(
        "--distances", metavar="FILE", help="neighbour_mean, learned: road distances from,to,cost (Gaussian kernel)"
    )
    parser.add_argument("--threshold", type=float, default=0.1, help="with --distances: kernel weights below this become 0")
    parser.add_argument("--null-value", type=float, metavar="V", help="reading that means missing (default: only empty/NaN)")
    parser.add_argument("--out", metavar="FILE", required=True, help="the filled readings: .csv or .parquet")
    parser.add_argument("--mask-out", metavar="FILE", help="where to write the mask of filled cells (default <out>.mask<suffix>)")
    parser.add_argument("--save-run", metavar="RUN", help="with --model learned: keep the trained imputer in RUN/imputer.pt")
    parser.add_argument("--force", action="store_true", help="replace --out, --mask-out and --save-run's file if they exist")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar while the learned imputer trains")
    parser.set_defaults(func=lambda args: run(args, parser))
    return parser


def default_mask_path(out: str | Path) -> Path:
    """``filled.csv`` -> ``filled.mask.csv``, beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.mask{out.suffix}")


def _check_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    graph_file = args.adjacency or args.distances
    if args.run is not None and graph_file is not None:
        parser.error("--run uses the run's own graph; drop --adjacency / --distances")
    if args.model in GRAPH_METHODS and graph_file is None:
        parser.error(f"--model {args.model} needs the sensor graph: --adjacency FILE or --distances FILE")
    if args.model is not None and args.model not in GRAPH_METHODS and graph_file is not None:
        parser.error(f"--adjacency / --distances apply to --model {', '.join(GRAPH_METHODS)} only")
    if args.save_run is not None and args.model != "learned":
        parser.error("--save-run applies to --model learned only")


def _adjacency(args: argparse.Namespace, table: ReadingsTable) -> sp.csr_matrix | None:
    """The graph's adjacency in the readings' sensor order, or None when no graph was given."""
    if args.adjacency:
        return from_matrix(args.adjacency, table.sensor_ids).adjacency
    if args.distances:
        return from_distances(args.distances, table.sensor_ids, threshold=args.threshold).adjacency
    return None


def _single_feature(table: ReadingsTable, what: str) -> None:
    if len(table.feature_names) != 1:
        raise SensorDataError(f"{table.source}: {what} works on one feature; the table has {table.feature_names}")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    _check_options(args, parser)
    inputs = {"--readings": args.readings, "--adjacency": args.adjacency, "--distances": args.distances, "--run": args.run}
    mask_out = Path(args.mask_out) if args.mask_out else default_mask_path(args.out)
    check_output(args.out, inputs=inputs, force=args.force)
    check_output(mask_out, inputs=inputs, force=args.force, flag="--mask-out")
    if Path(args.out).expanduser().resolve() == mask_out.expanduser().resolve():
        raise OutputError(f"--mask-out {mask_out} is --out; give the mask its own file")
    if args.save_run is not None:
        check_output(Path(args.save_run) / "imputer.pt", inputs=inputs, force=args.force, flag="--save-run")

    table = read_table(args.readings, null_value=args.null_value)
    filled = _filled(args, table)
    if not np.isfinite(filled).all():  # a bug, not the user's: every method fills every cell
        raise SensorDataError(f"{table.source}: {int((~np.isfinite(filled)).sum())} cells were left unfilled")
    missing = ~table.mask
    write_table_like(table, filled, args.out)
    write_table_like(table, missing.astype(np.int8), mask_out)
    method = args.model or f"the imputer in {args.run}"
    print(
        f"{args.out}: filled {int(missing.sum())} of {missing.size} readings ({missing.mean():.1%}) "
        f"of {len(table.sensor_ids)} sensors over {len(table.timestamps)} steps with {method}; mask in {mask_out}"
    )
    return 0


def _filled(args: argparse.Namespace, table: ReadingsTable) -> np.ndarray:
    """``[time, sensors, features]``: the readings with every missing cell filled as the options say."""
    if args.run is not None:  # torch is imported only for the learned imputer
        from stgraph.impute.imputer_file import check_readings, load_imputer

        _single_feature(table, "--run")
        imputer = load_imputer(args.run)
        order = check_readings(imputer, table.source, table.sensor_ids, table.interval, args.run)
        filled = np.empty(table.values.shape)
        filled[:, order, 0] = imputer.fill(table.values[:, order, 0], table.mask[:, order, 0])
        return filled
    adjacency = _adjacency(args, table)
    if args.model != "learned":
        return impute(
            args.model,
            table.values,
            table.mask,
            timestamps=table.timestamps,
            interval=table.interval,
            adjacency=adjacency,
            sensor_ids=table.sensor_ids,
        )
    from stgraph.impute.imputer_file import save_imputer
    from stgraph.impute.learned import DEFAULT_SETTINGS, fit_imputer

    assert adjacency is not None  # _check_options: learned needs a graph
    _single_feature(table, "--model learned")
    with tqdm(total=DEFAULT_SETTINGS.steps, desc="training the imputer", unit="step", disable=args.no_progress) as bar:
        imputer = fit_imputer(
            table.values[..., 0],
            table.mask[..., 0],
            adjacency,
            table.interval,
            sensor_ids=table.sensor_ids,
            on_step=lambda step, loss: bar.update(1),
        )
    if args.save_run is not None:
        print(f"wrote {save_imputer(imputer, args.save_run)}")
    return imputer.fill(table.values[..., 0], table.mask[..., 0])[..., None]
