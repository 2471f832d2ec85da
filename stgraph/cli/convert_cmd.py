"""``stgraph convert FILE --out PATH``: readings -> a series on disk, memory-mapped when read.

Examples::

    stgraph convert ca_his_2019.h5 --out ca-2019.stseries
    stgraph convert my_readings.csv --out my_readings.stseries --null-value 0
    stgraph convert PEMS04.npz --out pems04.stseries --start 2018-01-01 --interval 5min \\
        --features flow,occupancy,speed
    stgraph train --readings ca-2019.stseries --sensors ca_meta.csv --out runs/ca

The file (a wide CSV, a pandas HDF5 frame, a PEMS0x ``.npz``) is read in chunks of time rows
with a progress bar and never whole, checked as ``stgraph train`` checks readings, and written
as ``.npy`` arrays with ``meta.json`` (:mod:`stgraph.data.memmap`). Every command that takes
``--readings`` takes the directory. An existing ``--out`` is replaced only with ``--force``,
and only once the new directory is complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stgraph.cli.arguments import positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "convert",
        help="convert a readings file into a memory-mapped series directory, in chunks",
        description="Convert readings (CSV, HDF5, NPZ) into a directory of memory-mapped arrays for series larger than memory.",
    )
    parser.add_argument("file", type=Path, help="readings: wide CSV, pandas HDF5 frame, or PEMS0x .npz")
    parser.add_argument("--out", type=Path, required=True, help="the directory to write (by convention NAME.stseries)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--null-value", type=float, help="a reading that means missing besides empty cells / NaN (e.g. 0)")
    parser.add_argument("--start", help="first timestamp, for files without timestamps (NPZ, Los-loop CSV)")
    parser.add_argument("--interval", help="sampling interval (e.g. 5min): for files without timestamps, or to insist on one")
    parser.add_argument("--features", help="comma-separated feature names (NPZ: one per feature; tables: one)")
    parser.add_argument("--key", help="HDF5 table, when the file holds several")
    parser.add_argument("--chunk-rows", type=positive_int, default=None, help="time rows read at a time (default 4096)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from stgraph.data.convert import CHUNK_ROWS, convert_readings

    features = [name.strip() for name in args.features.split(",")] if args.features else None
    with tqdm(desc=f"converting {args.file.name}", unit=" rows", disable=args.no_progress) as bar:

        def advance(rows: int, total: int | None) -> None:
            bar.total = total
            bar.update(rows)

        done = convert_readings(
            args.file,
            args.out,
            null_value=args.null_value,
            force=args.force,
            chunk_rows=args.chunk_rows or CHUNK_ROWS,
            progress=advance,
            start=args.start,
            interval=args.interval,
            features=features,
            key=args.key,
        )
    inserted = f", {done.inserted} missing steps inserted (masked)" if done.inserted else ""
    print(f"{args.out}: {done.steps} steps x {done.sensors} sensors x {done.features} features from {done.source}{inserted}")
    return 0
