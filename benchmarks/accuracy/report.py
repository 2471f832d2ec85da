"""Markdown tables of our results beside the published ones, with the protocol card."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.accuracy.card import mean_std

__all__ = ["BASELINES", "beats_baselines", "card_markdown", "dcrnn_document", "dcrnn_markdown", "seeds_markdown", "tgcn_markdown"]

#: The rows that are baselines, not models.
BASELINES = ("historical average", "last value")

_TGCN_COLUMNS = (("rmse", "RMSE"), ("mae", "MAE"), ("accuracy", "Accuracy"), ("r2", "R²"), ("var", "var"))
_DCRNN_COLUMNS = (("mae", "MAE"), ("rmse", "RMSE"), ("mape", "MAPE (%)"))


def _cell(values: list[float], digits: int, scale: float = 1.0) -> str:
    mean, std = mean_std([v * scale for v in values])
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    rule = ["---"] + ["---:"] * (len(header) - 1)
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows])


def tgcn_markdown(outcome: dict[str, Any], *, selected: bool = False) -> str:
    """One row per (horizon, model); published T-GCN first, then ours with a verdict on RMSE/MAE."""
    results = outcome["selected"] if selected else outcome["results"]
    published = outcome["published"]
    header = ["horizon", "model"] + [title for _, title in _TGCN_COLUMNS] + ["beats T-GCN (RMSE, MAE)"]
    rows = []
    for label in outcome["horizons"]:
        paper = published.get(label)
        if paper:
            mark = "" if paper["verified"].startswith("code") else " †"
            rows.append([label, f"T-GCN (paper){mark}"] + [f"{paper['metrics'][label][m]:.4f}" for m, _ in _TGCN_COLUMNS] + [""])
        for name, by_horizon in results.items():
            if label not in by_horizon:
                continue
            metrics = by_horizon[label]
            verdict = ""
            if paper:
                rmse, mae = mean_std(metrics["rmse"])[0], mean_std(metrics["mae"])[0]
                paper_metrics = paper["metrics"][label]
                verdict = f"{'yes' if rmse < paper_metrics['rmse'] else 'no'}, {'yes' if mae < paper_metrics['mae'] else 'no'}"
            rows.append([label, name] + [_cell(metrics[m], 4) for m, _ in _TGCN_COLUMNS] + [verdict])
    return _table(header, rows)


def dcrnn_markdown(outcome: dict[str, Any]) -> str:
    """One row per (model, horizon): ours (mean ± std over seeds), then the published rows."""
    header = ["model", "horizon"] + [title for _, title in _DCRNN_COLUMNS]
    rows = []
    for name, by_horizon in outcome["results"].items():
        for label in outcome["horizons"]:
            if label in by_horizon:
                metrics = by_horizon[label]
                rows.append([name, label] + [_cell(metrics[m], 2, 100.0 if m == "mape" else 1.0) for m, _ in _DCRNN_COLUMNS])
    for paper in outcome["published"]:
        mark = " †" if paper["verified"] == "unverified" else ""
        for label, metrics in paper["metrics"].items():
            rows.append([f"{paper['model']} (paper){mark}", label] + [f"{metrics[m]:.2f}" for m, _ in _DCRNN_COLUMNS])
    return _table(header, rows)


def beats_baselines(outcome: dict[str, Any]) -> dict[str, bool]:
    """DCRNN-protocol target: each model below both baselines' MAE and RMSE at every reported
    horizon **in every seed** (not only on the mean over seeds)."""
    results = outcome["results"]
    baselines = [results[b] for b in BASELINES if b in results]
    verdict = {}
    for name, by_horizon in results.items():
        if name in BASELINES:
            continue
        verdict[name] = all(
            value < min(base[label][m])
            for label in outcome["horizons"]
            for m in ("mae", "rmse")
            for base in baselines
            for value in by_horizon[label][m]
        )
    return verdict


def dcrnn_document(outcome: dict[str, Any], dataset_name: str) -> str:
    """The whole DCRNN-protocol result page: table, published rows, per-seed verdicts, ranking, card."""
    sources = sorted({row["source"] for row in outcome["published"]})
    published = (
        "Published rows (benchmarks/published.py; † = found in no source we could check): " + "; ".join(sources) + "."
        if sources
        else f"No published DCRNN-protocol figures exist for {dataset_name}; only ours and the baselines are shown."
    )
    verdict = beats_baselines(outcome)
    ranking = sorted(
        ((mean_std(r["average"]["mae"])[0], name) for name, r in outcome["results"].items() if name not in BASELINES)
    )
    body = [
        f"# Accuracy: DCRNN protocol on {dataset_name}",
        "",
        published,
        "",
        dcrnn_markdown(outcome),
        "",
        "## Per seed: average MAE / RMSE over the 12 steps",
        "",
        seeds_markdown(outcome),
        "",
        "Beats historical average and last value at every reported horizon (MAE and RMSE) in every seed: "
        + ", ".join(f"{m}: {'yes' if ok else 'no'}" for m, ok in verdict.items()),
        "",
        "Lowest average MAE (mean over seeds): " + " < ".join(f"{name} {mae:.3f}" for mae, name in ranking),
    ]
    return "\n".join([*body, "", "## Protocol card", "", card_markdown(outcome["card"])])


def seeds_markdown(outcome: dict[str, Any]) -> str:
    """One row per model: its average MAE / RMSE in each seed."""
    seeds = outcome["card"].get("seeds", [])
    header = ["model"] + [f"seed {s}" for s in seeds]
    rows = []
    for name, by_horizon in outcome["results"].items():
        if name in BASELINES:
            continue
        average = by_horizon["average"]
        rows.append([name] + [f"{mae:.3f} / {rmse:.3f}" for mae, rmse in zip(average["mae"], average["rmse"])])
    return _table(header, rows)


def card_markdown(card: dict[str, Any]) -> str:
    """The protocol card as a bullet list (nested values as compact JSON)."""
    lines = []
    for key, value in card.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"- **{key.replace('_', ' ')}**: {text}")
    return "\n".join(lines)
