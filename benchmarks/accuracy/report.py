"""Markdown tables of our results beside the published ones, with the protocol card."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.accuracy.card import mean_std

__all__ = ["beats_baselines", "card_markdown", "dcrnn_markdown", "tgcn_markdown"]

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
    """DCRNN-protocol target: each model below both baselines' MAE and RMSE at every reported horizon."""
    results = outcome["results"]
    baselines = [results[b] for b in ("historical average", "last value") if b in results]
    verdict = {}
    for name, by_horizon in results.items():
        if name in ("historical average", "last value"):
            continue
        verdict[name] = all(
            mean_std(by_horizon[label][m])[0] < mean_std(base[label][m])[0]
            for label in outcome["horizons"]
            for m in ("mae", "rmse")
            for base in baselines
        )
    return verdict


def card_markdown(card: dict[str, Any]) -> str:
    """The protocol card as a bullet list (nested values as compact JSON)."""
    lines = []
    for key, value in card.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        lines.append(f"- **{key.replace('_', ' ')}**: {text}")
    return "\n".join(lines)
