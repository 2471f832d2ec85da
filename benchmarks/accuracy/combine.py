"""``python -m benchmarks.accuracy.combine``: one DCRNN-protocol page from runs made separately.

Slow models train in their own processes (or on other machines); each run writes its JSON. This
joins them into one table and card, after checking they share the dataset, the protocol, the
seeds and the baselines' scores (the same test windows)::

    python -m benchmarks.accuracy.combine --name accuracy-los-loop-dcrnn-paper-zoo \\
        benchmarks/results/accuracy-los-loop-dcrnn-paper-a.json benchmarks/results/accuracy-los-loop-dcrnn-paper-b.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from benchmarks.accuracy.card import RESULTS, write_result
from benchmarks.accuracy.report import BASELINES, beats_baselines, dcrnn_document

__all__ = ["combine", "main"]

#: Card entries holding one value per model, merged across runs.
PER_MODEL = ("training", "best_epoch", "epochs_run", "train_seconds", "model_options")
#: Card entries that must agree between runs.
SHARED = ("protocol", "dataset", "split", "split_windows", "scaling", "null_value", "horizons", "recipe", "seeds")


def combine(outcomes: list[dict[str, Any]], sources: list[str]) -> dict[str, Any]:
    """One outcome from several DCRNN-protocol outcomes (``sources`` names them in errors).

    Raises ValueError naming the file when runs differ in a shared card entry or in the
    baselines' scores, or when two runs hold the same model."""
    first = outcomes[0]
    merged: dict[str, Any] = {
        "results": {name: first["results"][name] for name in BASELINES if name in first["results"]},
        "card": {key: first["card"].get(key) for key in SHARED},
        "published": first["published"],
        "horizons": first["horizons"],
    }
    for key in PER_MODEL:
        merged["card"][key] = {}
    machines = []
    for outcome, source in zip(outcomes, sources):
        for key in SHARED:
            if outcome["card"].get(key) != first["card"].get(key):
                raise ValueError(f"{source}: card entry {key!r} differs from {sources[0]}'s")
        for name in BASELINES:
            ours, theirs = outcome["results"].get(name), first["results"].get(name)
            if ours is not None and theirs is not None:
                for label, metrics in ours.items():
                    for metric, values in metrics.items():
                        if not all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(values, theirs[label][metric])):
                            raise ValueError(f"{source}: {name} {metric} at {label} differs from {sources[0]}'s")
        for name, by_horizon in outcome["results"].items():
            if name in BASELINES:
                continue
            if name in merged["results"]:
                raise ValueError(f"{source}: model {name!r} is already in an earlier file")
            merged["results"][name] = by_horizon
            for key in PER_MODEL:
                value = outcome["card"].get(key, {})
                if isinstance(value, dict) and name in value:
                    merged["card"][key][name] = value[name]
        machines.append({"file": Path(source).name, **outcome["card"].get("machine", {}), **outcome["card"].get("versions", {})})
    merged["card"]["runs"] = machines
    merged["beats_baselines"] = beats_baselines(merged)
    return merged


def _read(file: str) -> dict[str, Any]:
    try:
        outcome: dict[str, Any] = json.loads(Path(file).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"{file}: cannot read a result: {error}") from error
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.combine", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="DCRNN-protocol result JSON files")
    parser.add_argument("--name", required=True, help="name of the combined result (without .md/.json)")
    parser.add_argument("--dataset-name", default=None, help="title of the dataset (default: the card's dataset)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the Markdown + JSON results")
    parser.add_argument("--force", action="store_true", help="replace an existing result of that name")
    args = parser.parse_args(argv)
    targets = [Path(args.out) / f"{args.name}{suffix}" for suffix in (".md", ".json")]
    inputs = {Path(file).resolve() for file in args.files}
    for target in targets:
        if target.resolve() in inputs:
            raise SystemExit(f"{target}: is one of the runs to combine; choose another --name")
        if target.exists() and not args.force:
            raise SystemExit(f"{target}: exists; choose another --name or pass --force to replace it")
    outcomes = [_read(file) for file in args.files]
    try:
        merged = combine(outcomes, args.files)
    except (ValueError, KeyError) as error:
        raise SystemExit(str(error)) from error
    markdown = dcrnn_document(merged, args.dataset_name or str(merged["card"]["dataset"]))
    md, js = write_result(args.name, markdown, merged, args.out)
    print(markdown)
    print(f"\nwritten: {md} and {js}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
