"""``stgraph download NAME``: fetch a dataset's files into the data root, verified.

Examples::

    stgraph download METR-LA
    stgraph download pems-bay --root /data/traffic --force

Downloads resume where an interrupted one stopped. Offline, the message lists each file to
download by hand, the folder to place it in and the checksum it should have.
"""

from __future__ import annotations

import argparse
import sys

from stgraph.data.catalog import get_dataset
from stgraph.data.store import fetch_dataset
from stgraph.io.download import DownloadError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "download",
        help="download a dataset's files and verify their checksums",
        description="Download the files of a catalog dataset (see `stgraph datasets`) into <root>/<key>/, verified.",
    )
    parser.add_argument("name", help="dataset name or key, e.g. METR-LA, pems-bay, los-loop")
    parser.add_argument(
        "--root", metavar="DIR", help="data root (default: $STGRAPH_DATA, the checkout's datasets/, ~/.cache/stgraph)"
    )
    parser.add_argument("--force", action="store_true", help="download again even if the files are present and verified")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    dataset = get_dataset(args.name)
    try:
        paths = fetch_dataset(dataset, args.root, force=args.force, progress=not args.quiet)
    except DownloadError as error:
        print(f"stgraph download: {error}", file=sys.stderr)
        return 1
    print(f"{dataset.name}: {len(paths)} files in {dataset.folder(args.root)}")
    for path in paths:
        print(f"  {path.name}")
    return 0
