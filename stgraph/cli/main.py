"""The ``stgraph`` command: one subcommand per module in :mod:`stgraph.cli`.

Each subcommand module defines ``add_parser(subparsers)``, which registers its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.

A user's mistake (a bad file, value or option, a folder that cannot be written, a full disk)
ends in one line, ``stgraph CMD: error: ...``, and exit code 1 (2 for bad options); the
traceback is kept for ``--verbose`` and for what is a bug in stgraph.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pickle
import sys

from stgraph.cli.arguments import one_line
from stgraph.io.atomic import WriteError
from stgraph.io.safe_pickle import UnsafePickleError

# module name in stgraph.cli, in the order ``stgraph --help`` lists them
SUBCOMMANDS = (
    "demo",
    "datasets",
    "download",
    "convert",
    "graph",
    "train",
    "evaluate",
    "predict",
    "export",
    "serve",
    "anomalies",
    "impute",
)

__all__ = ["build_parser", "error_line", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stgraph",
        description="Graph spatio-temporal traffic forecasting: datasets, sensor graphs, training, evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages; keep tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"stgraph.cli.{name}_cmd")
        except ModuleNotFoundError as error:
            if error.name != f"stgraph.cli.{name}_cmd":
                raise
            continue  # subcommand not available in this build
        module.add_parser(subparsers)
    return parser


def error_line(error: BaseException) -> str:
    """The one-line message for a user's error (the library's own messages name the file)."""
    if isinstance(error, WriteError):
        return str(error)  # cannot write OUT: No space left on device
    if isinstance(error, OSError) and error.strerror:
        # "nothere.csv: No such file or directory" instead of "[Errno 2] No such file ...: 'nothere.csv'"
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    if isinstance(error, pickle.UnpicklingError) and not isinstance(error, UnsafePickleError):
        # torch's message suggests loading with weights_only=False, which runs whatever the file holds
        first = str(error).strip().splitlines()[0] if str(error).strip() else "cannot unpickle"
        return f"{first.split('. ')[0]}: the file is not one stgraph wrote, or it is damaged"
    return one_line(error)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, pickle.UnpicklingError) as error:
        # Bad input (stgraph.errors, all ValueErrors), a file that cannot be read or written, a
        # refused pickle: the user's to fix, one line naming it. --verbose keeps the traceback.
        if args.verbose:
            raise
        print(f"stgraph {args.command}: error: {error_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stgraph {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
