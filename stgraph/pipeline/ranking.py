"""The ranking of a ``--model auto`` run: one row per candidate and per baseline, as CSV and Markdown.

A row is a plain dict with the keys of :data:`RANKING_COLUMNS`, read from a candidate's
``metrics.json`` (:func:`candidate_row`) or its ``"baselines"`` block (:func:`baseline_rows`):

- ``model``, ``status`` (``trained``, ``failed`` or ``baseline``), ``reason`` (why it failed);
- ``parameters``, ``epochs`` (validated epochs, the length of ``history``), ``best_epoch``,
  ``train_seconds``, ``val_mae`` (``best_val_mae``: the number the candidates are ranked by);
- ``test_mae``, ``test_rmse``, ``test_mape``: the test average over all horizon steps, and
  ``test_mae_step_S``, ``test_rmse_step_S`` at each report step ``S`` (3, 6, 12).

A value a row does not have (a failed candidate's metrics, a baseline's epochs) is None: an
empty cell in ``ranking.csv``, a dash in ``ranking.md``. Trained candidates come first by
validation MAE, then the failed ones, then the baselines (which have no validation MAE:
``metrics.json`` reports them on test only).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stgraph.io.atomic import atomic_write
from stgraph.metrics.report import REPORT_STEPS, horizon_label

__all__ = [
    "RANKING_COLUMNS",
    "baseline_rows",
    "candidate_row",
    "failed_row",
    "ranking_markdown",
    "sort_rows",
    "write_ranking",
]

_STEP_COLUMNS = tuple(f"test_{name}_step_{step}" for step in REPORT_STEPS for name in ("mae", "rmse"))
RANKING_COLUMNS = (
    "model",
    "status",
    "parameters",
    "epochs",
    "best_epoch",
    "train_seconds",
    "val_mae",
    "test_mae",
    "test_rmse",
    "test_mape",
    *_STEP_COLUMNS,
    "reason",
)
BASELINES = ("historical_average", "last_value")


def _row(model: str, status: str, **values: Any) -> dict[str, Any]:
    return {column: values.get(column) for column in RANKING_COLUMNS} | {"model": model, "status": status}


def _test_values(test: dict[str, Any] | None) -> dict[str, Any]:
    """The test columns from a ``"test"``-shaped block of ``metrics.json`` (None: all empty)."""
    if not test:
        return {}
    average = test.get("average") or {}
    values = {f"test_{name}": average.get(name) for name in ("mae", "rmse", "mape")}
    for step in REPORT_STEPS:
        at = test.get(f"step_{step}") or {}
        values |= {f"test_{name}_step_{step}": at.get(name) for name in ("mae", "rmse")}
    return values


def candidate_row(model: str, metrics: dict[str, Any], parameters: int) -> dict[str, Any]:
    """The row of a trained candidate from its ``metrics.json`` (as a dict) and parameter count."""
    return _row(
        model,
        "trained",
        parameters=parameters,
        epochs=len(metrics.get("history") or []),
        best_epoch=metrics.get("best_epoch"),
        train_seconds=metrics.get("train_seconds"),
        val_mae=metrics.get("best_val_mae"),
        **_test_values(metrics.get("test")),
    )


def failed_row(model: str, reason: str) -> dict[str, Any]:
    """The row of a candidate whose training failed, with the one-line ``reason``."""
    return _row(model, "failed", reason=reason)


def baseline_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows for the baselines of ``metrics.json``'s ``"baselines"`` block; none if it is absent."""
    baselines = metrics.get("baselines") or {}
    return [_row(name, "baseline", **_test_values(baselines[name])) for name in BASELINES if baselines.get(name)]


def sort_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trained candidates by validation MAE (lowest first), then failed candidates, then baselines
    (each group in the given order otherwise)."""
    order = {"trained": 0, "failed": 1, "baseline": 2}

    def key(row: dict[str, Any]) -> tuple[int, float]:
        val = row["val_mae"]
        return order[row["status"]], val if row["status"] == "trained" and val is not None else math.inf

    return sorted(rows, key=key)


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ranking_markdown(rows: Sequence[dict[str, Any]], *, interval: str | None = None, units: str = "") -> str:
    """A Markdown table of ``rows`` (in their order): rank, model, size, training, validation and test
    MAE, test RMSE, and the MAE at each report step within the horizon, labelled by lead time
    (``interval``: ``"5min"``)."""
    unit = f" ({units})" if units else ""
    steps = [
        (step, horizon_label(step, interval))
        for step in REPORT_STEPS
        if any(row[f"test_mae_step_{step}"] is not None for row in rows)
    ]
    header = ["rank", "model", "parameters", "epochs", "train s", f"val MAE{unit}", "test MAE", "test RMSE"]
    header += [f"MAE {label}" for _, label in steps] + ["note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    rank = 0
    for row in rows:
        trained = row["status"] == "trained"
        if trained:
            rank += 1
        note = {"trained": "", "baseline": "baseline", "failed": f"failed: {row['reason']}"}[row["status"]]
        cells = [str(rank) if trained else "", row["model"], _cell(row["parameters"]), _cell(row["epochs"])]
        cells += [_cell(row["train_seconds"], 1)] + [_cell(row[key]) for key in ("val_mae", "test_mae", "test_rmse")]
        cells += [_cell(row[f"test_mae_step_{step}"]) for step, _ in steps] + [note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_ranking(folder: Path, rows: Sequence[dict[str, Any]], *, interval: str | None = None, units: str = "") -> None:
    """Write ``ranking.csv`` (:data:`RANKING_COLUMNS`, empty cells for None) and ``ranking.md``
    into ``folder``, atomically."""
    with atomic_write(folder / "ranking.csv", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RANKING_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with atomic_write(folder / "ranking.md") as handle:
        handle.write(ranking_markdown(rows, interval=interval, units=units) + "\n")
