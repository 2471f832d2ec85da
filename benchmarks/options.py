"""Command-line options the benchmarks share."""

from __future__ import annotations

from stgraph import models

__all__ = ["per_model_counts"]


def per_model_counts(pairs: list[str], option: str, unit: str) -> dict[str, int]:
    """``["dcrnn=8"]`` -> ``{"dcrnn": 8}``, keyed by registry name (an alias names its entry).

    ``option`` is the flag the pairs came from and ``unit`` what the count counts (``EPOCHS``),
    for the error message;
    a count that is not a positive integer, or an unknown model, ends the run with one line.
    """
    counts: dict[str, int] = {}
    for pair in pairs:
        name, _, text = pair.partition("=")
        if not text.isdigit() or int(text) < 1:
            raise SystemExit(f"{option} expects MODEL={unit} with {unit} a positive integer, got {pair!r}")
        try:
            counts[models.name_of(models.get(name))] = int(text)
        except ValueError as error:
            raise SystemExit(f"{option}: {error}") from None
    return counts
