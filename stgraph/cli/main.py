"""The ``stgraph`` command: one subcommand per module in :mod:`stgraph.cli`.

Each subcommand module defines ``add_parser(subparsers)``, which registers its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from stgraph.errors import GraphError, SensorDataError, ShapeError

# module name in stgraph.cli, in the order ``stgraph --help`` lists them
SUBCOMMANDS = ("demo", "datasets", "download", "graph", "train", "evaluate", "predict")

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stgraph",
        description="Graph spatio-temporal traffic forecasting: datasets, sensor graphs, training, evaluation.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (SensorDataError, GraphError, ShapeError, FileNotFoundError, ValueError) as error:
        # Bad input is the user's to fix: one line naming it. --verbose keeps the traceback.
        if args.verbose:
            raise
        print(f"stgraph {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stgraph {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
