"""``stgraph datasets``: the dataset catalog with the local status of each dataset.

Examples::

    stgraph datasets                     # one line per dataset
    stgraph datasets METR-LA --verify    # its files, where they go, checksums, citations
"""

from __future__ import annotations

import argparse

from stgraph.data.catalog import DATASETS, Dataset, get_dataset
from stgraph.data.store import dataset_status, summarize_status
from stgraph.io.paths import data_root

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "datasets",
        help="list known datasets and which are present locally",
        description="List the dataset catalog with each dataset's local status, or show one dataset in detail.",
    )
    parser.add_argument("name", nargs="?", help="show this dataset in detail (e.g. METR-LA, pems-bay, PeMSD7(M))")
    parser.add_argument(
        "--root", metavar="DIR", help="data root (default: $STGRAPH_DATA, the checkout's datasets/, ~/.cache/stgraph)"
    )
    parser.add_argument("--verify", action="store_true", help="hash present files that were not verified yet")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if args.name:
        print(_details(get_dataset(args.name), args.root, args.verify))
        return 0
    print(f"data root: {data_root(args.root)}")
    header = ["dataset", "key", "sensors", "steps", "interval", "local status"]
    rows = [
        [
            d.name,
            d.key,
            str(d.sensors),
            str(d.steps),
            d.interval,
            summarize_status(dataset_status(d, args.root, verify=args.verify)),
        ]
        for d in DATASETS.values()
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    numeric = {2, 3}
    for cells in [header, *rows]:
        print("  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip())
    print("\n`stgraph datasets NAME` shows the files and where to place them; `stgraph download NAME` fetches them.")
    return 0


def _details(dataset: Dataset, root: str | None, verify: bool) -> str:
    units = ", ".join(f"{feature} ({unit})" for feature, unit in dataset.units.items())
    null = "none (NaN only)" if dataset.null_value is None else repr(dataset.null_value)
    missing = "not measured" if dataset.missing_share is None else f"{dataset.missing_share:.1%}"
    lines = [
        f"{dataset.name} ({dataset.key}): {dataset.description}",
        f"  sensors {dataset.sensors}, steps {dataset.steps}, interval {dataset.interval}, from {dataset.start} ({dataset.calendar})",
        f"  features: {units}",
        f"  missing readings: null value {null}; share {missing}",
        f"  source: {dataset.source}",
    ]
    if dataset.licence:
        lines.append(f"  licence: {dataset.licence}")
    if dataset.protocol is not None:
        p = dataset.protocol
        lines.append(
            f"  benchmark protocol: every {p.interval} (aggregated), split {'/'.join(f'{s:g}' for s in p.split)}, "
            f"lookback {p.lookback}, horizon {p.horizon}, reported at steps {', '.join(map(str, p.report_steps))} "
            f"and the average; {p.metrics}"
        )
        lines.append(f"    from {p.source}")
    if dataset.obtain:
        lines.append(f"  get it: {dataset.how_to_get(root)}")
    if dataset.notes:
        lines.append(f"  notes: {dataset.notes}")
    lines.append("  cite:")
    lines += [f"    {citation}" for citation in dataset.citations]
    lines.append(f"  files in {dataset.folder(root)}:")
    for status in dataset_status(dataset, root, verify=verify):
        file = status.file
        size = "size not yet known" if file.size is None else f"{file.size} bytes"
        state = status.state + (f" ({status.detail})" if status.detail else "")
        lines += [
            f"    {file.name} [{file.role}]: {state}",
            f"      {file.description}",
            f"      {size}; {file.checksum}",
        ]
        if file.url:
            lines.append(f"      {file.url}")
    return "\n".join(lines)
