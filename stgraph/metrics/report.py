"""Tables of masked metrics at chosen horizon steps, as the papers print them.

DCRNN and Graph WaveNet report MAE, RMSE and MAPE (in percent) 3, 6 and 12 steps ahead,
i.e. 15, 30 and 60 minutes at a 5-minute interval; we add the average over all horizon steps
(see :meth:`HorizonMetrics.average`).

Example (plain text)::

    model          horizon   MAE  RMSE  MAPE (%)
    last value     15 min   2.05  3.85      5.02
    ...
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from stgraph.metrics.intervals import INTERVAL_METRICS, IntervalMetrics
from stgraph.metrics.masked import HorizonMetrics

__all__ = [
    "REPORT_STEPS",
    "horizon_label",
    "intervals_caption",
    "intervals_from_summary",
    "intervals_summary",
    "intervals_table",
    "lead_time_label",
    "metrics_from_summary",
    "metrics_summary",
    "metrics_table",
]

#: The horizon steps the papers report: 15, 30 and 60 minutes ahead at a 5-minute interval.
REPORT_STEPS = (3, 6, 12)


def horizon_label(step: int, interval: str | datetime.timedelta | pd.Timedelta | None = None) -> str:
    """``"15 min"`` for step 3 at a 5-minute interval; ``"step 3"`` when the interval is unknown.

    Lead times of two hours or more that are whole hours read ``"3 h"``.
    """
    if interval is None:
        return f"step {step}"
    minutes = pd.Timedelta(interval).total_seconds() * step / 60
    if minutes >= 120 and minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"


def lead_time_label(step: int, interval: str | datetime.timedelta | pd.Timedelta | None = None) -> str:
    """Short lead time for axis ticks: ``"5 min"``, ``"15 min"``, ``"1 h"``, ``"3 h"``, ``"1 d"``.

    Whole days read in days, whole hours in hours, anything else in minutes (``"90 min"``);
    ``"3"`` (the step) when the interval is unknown. Tables keep :func:`horizon_label`'s
    ``"60 min"``, as the papers print it.
    """
    if interval is None:
        return str(step)
    minutes = pd.Timedelta(interval).total_seconds() * step / 60
    if minutes >= 1440 and minutes % 1440 == 0:
        return f"{minutes / 1440:g} d"
    if minutes >= 60 and minutes % 60 == 0:
        return f"{minutes / 60:g} h"
    return f"{minutes:g} min"


def metrics_summary(metrics: HorizonMetrics, interval: pd.Timedelta | None) -> dict[str, Any]:
    """Plain dict for ``metrics.json``: the report steps, the average and every step.

    MAPE is a fraction (0.073 = 7.3 %), as :mod:`stgraph.metrics` returns it; NaN (a step with
    nothing observed) is written as null.
    """
    summary: dict[str, Any] = {}
    for step in REPORT_STEPS:
        if step <= metrics.horizon:
            summary[f"step_{step}"] = {"lead_time": horizon_label(step, interval), **metrics.at(step)}
    summary["average"] = metrics.average()
    summary["per_step"] = {name: [float(v) for v in getattr(metrics, name)] for name in ("mae", "rmse", "mape")}
    summary["per_step"]["observed"] = [int(v) for v in metrics.observed]
    return summary


def intervals_summary(metrics: IntervalMetrics, interval: pd.Timedelta | None) -> dict[str, Any]:
    """Plain dict for ``metrics.json``'s ``"intervals"`` block, keyed like :func:`metrics_summary`'s:
    ``step_3`` ..., ``average`` and ``per_step``, each with ``coverage`` (a fraction), ``width``,
    ``winkler``, ``crps`` and ``pinball``; ``nominal`` is the coverage asked for."""
    summary: dict[str, Any] = {"nominal": metrics.nominal}
    for step in REPORT_STEPS:
        if step <= metrics.horizon:
            summary[f"step_{step}"] = {"lead_time": horizon_label(step, interval), **metrics.at(step)}
    summary["average"] = metrics.average()
    summary["per_step"] = {name: [float(v) for v in getattr(metrics, name)] for name in INTERVAL_METRICS}
    summary["per_step"]["observed"] = [int(v) for v in metrics.observed]
    return summary


def intervals_from_summary(summary: Mapping[str, Any]) -> IntervalMetrics:
    """The :class:`IntervalMetrics` back from an :func:`intervals_summary` block (null -> NaN)."""
    steps = summary["per_step"]
    floats = {name: np.array([math.nan if v is None else v for v in steps[name]], dtype=np.float64) for name in INTERVAL_METRICS}
    return IntervalMetrics(**floats, observed=np.array(steps["observed"], dtype=np.int64), nominal=float(summary["nominal"]))


def intervals_caption(part: str, nominal: float) -> str:
    """The line printed above :func:`intervals_table`: ``"test, 90% conformal intervals ..."``."""
    return f"{part}, {nominal:.0%} conformal intervals calibrated on validation, in original units:"


def intervals_table(
    metrics: IntervalMetrics,
    *,
    interval: str | datetime.timedelta | pd.Timedelta | None = None,
    steps: Sequence[int] = REPORT_STEPS,
    markdown: bool = False,
    digits: int = 2,
) -> str:
    """Coverage (in percent, beside the nominal), mean width, Winkler score and CRPS at ``steps``
    and on average, as plain text or Markdown; NaN reads ``n/a``."""
    header = ["horizon", f"coverage (%, nominal {100 * metrics.nominal:g})", "width", "Winkler", "CRPS"]
    lines = [(horizon_label(step, interval), metrics.at(step)) for step in steps if 1 <= step <= metrics.horizon]
    lines.append(("average", metrics.average()))
    rows = [
        [label] + [_number(v, digits) for v in (100 * values["coverage"], values["width"], values["winkler"], values["crps"])]
        for label, values in lines
    ]
    numeric = [False, True, True, True, True]
    return _markdown(header, rows, numeric) if markdown else _plain(header, rows, numeric)


def metrics_from_summary(summary: Mapping[str, Any]) -> HorizonMetrics:
    """The :class:`HorizonMetrics` back from a :func:`metrics_summary` block (null -> NaN)."""
    steps = summary["per_step"]

    def floats(name: str) -> np.ndarray:
        return np.array([math.nan if v is None else v for v in steps[name]], dtype=np.float64)

    return HorizonMetrics(
        mae=floats("mae"), rmse=floats("rmse"), mape=floats("mape"), observed=np.array(steps["observed"], dtype=np.int64)
    )


def metrics_table(
    results: HorizonMetrics | Mapping[str, HorizonMetrics],
    *,
    interval: str | datetime.timedelta | pd.Timedelta | None = None,
    steps: Sequence[int] = REPORT_STEPS,
    markdown: bool = False,
    digits: int = 2,
) -> str:
    """Format per-horizon metrics as a plain-text or Markdown table.

    Args:
        results: one model's :class:`HorizonMetrics`, or a mapping model name -> metrics
            (then a ``model`` column comes first, one block of rows per model).
        interval: sampling interval, to label steps as lead times (``"5min"`` -> 15/30/60 min).
        steps: horizon steps to show, counted from 1; steps beyond a model's horizon are left
            out. An ``average`` row over all steps follows.
        markdown: a GitHub-flavoured Markdown table instead of aligned plain text.
        digits: decimals for every number. MAPE is shown in percent.

    A NaN (nothing observed at that step) is shown as ``n/a``.
    """
    named = {"": results} if isinstance(results, HorizonMetrics) else dict(results)
    with_model = not isinstance(results, HorizonMetrics)
    header = (["model"] if with_model else []) + ["horizon", "MAE", "RMSE", "MAPE (%)"]
    rows = []
    for name, metrics in named.items():
        lines = [(horizon_label(step, interval), metrics.at(step)) for step in steps if 1 <= step <= metrics.horizon]
        lines.append(("average", metrics.average()))
        for label, values in lines:
            numbers = [values["mae"], values["rmse"], 100 * values["mape"]]
            rows.append(([name] if with_model else []) + [label] + [_number(v, digits) for v in numbers])
    numeric = [False] * (len(header) - 3) + [True] * 3
    return _markdown(header, rows, numeric) if markdown else _plain(header, rows, numeric)


def _number(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _plain(header: list[str], rows: list[list[str]], numeric: list[bool]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(cells, widths, numeric)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(header)] + [line(row) for row in rows])


def _markdown(header: list[str], rows: list[list[str]], numeric: list[bool]) -> str:
    rule = ["---:" if right else "---" for right in numeric]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows])
