"""``report.md``: a run directory summarised for a person, rebuilt from what the run holds.

The report is rendered from ``metrics.json`` (the model's and the baselines' metrics, the
verdict and the shortfalls of :mod:`stgraph.pipeline.compare`), ``sensors_test.csv`` (the
per-sensor errors of :func:`~stgraph.pipeline.scoring.score_split`) and the prepared data (what was forecast), so ``stgraph train`` writes it
and ``stgraph evaluate`` rewrites it with whatever split it scored. Sections:

1. data: readings, sensors, interval, period, missing share, units, the graph, the windows;
2. training: the best epoch and its validation MAE;
3. per split scored (test first): the model beside the baselines, the verdict and shortfalls,
   the calibrated intervals' coverage, width, Winkler score and CRPS per lead time (when the run
   has them), the error-by-lead-time plot;
4. the 10 sensors with the largest and the 10 with the smallest test MAE (all of them, largest
   first, when there are no more than 20), with their RMSE and mean observed reading;
5. the map of test MAE by sensor, when the sensors have coordinates.

Written atomically: a reader never sees half a report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stgraph.data.splits import PARTS
from stgraph.io.atomic import atomic_write
from stgraph.metrics.report import intervals_from_summary, intervals_table, metrics_from_summary, metrics_table
from stgraph.pipeline.compare import BASELINES, IMPROVE_HINT, Shortfall, baseline_key, split_key
from stgraph.pipeline.data import PreparedData, interval_text
from stgraph.pipeline.run_dir import METRICS_FILE
from stgraph.pipeline.scoring import read_sensor_table, sensor_table_path

__all__ = ["RANKED_SENSORS", "REPORT_FILE", "render_run_report", "write_run_report"]

REPORT_FILE = "report.md"
#: sensors listed at each end of the ranking by test MAE
RANKED_SENSORS = 10


def write_run_report(run_dir: Path, data: PreparedData) -> Path:
    """Render :func:`render_run_report` into ``run_dir/report.md``, atomically; return its path."""
    path = Path(run_dir) / REPORT_FILE
    text = render_run_report(run_dir, data)
    with atomic_write(path) as handle:
        handle.write(text)
    return path


def render_run_report(run_dir: Path, data: PreparedData) -> str:
    """The Markdown of ``report.md`` for the run in ``run_dir`` (its ``metrics.json`` must exist)."""
    run_dir = Path(run_dir)
    metrics: dict[str, Any] = json.loads((run_dir / METRICS_FILE).read_text())
    units = f" ({data.units})" if data.units else ""
    lines = [f"# {metrics.get('model', 'model')} on {data.name}: run report", ""]
    lines += _data_section(data)
    lines += _training_section(metrics, f" {data.units}" if data.units else "")
    scored = [part for part in ("test", *(p for p in PARTS if p != "test")) if part in metrics]
    if not scored:
        lines += ["## Test", "", "No test windows were scored: the split gives the test part no share.", ""]
    for part in scored:
        lines += _split_section(metrics, part, units, run_dir)
    sensor_file = sensor_table_path(run_dir, "test")
    if "test" in metrics and sensor_file.is_file():
        lines += _sensor_section(read_sensor_table(sensor_file), units)
    if data.graph.coordinates is not None and (run_dir / "plots" / "sensor_map_test.png").is_file():
        lines += ["## Sensor map", "", "![test MAE by sensor](plots/sensor_map_test.png)", ""]
    return "\n".join(lines)


def _data_section(data: PreparedData) -> list[str]:
    s = data.series
    return [
        "## Data",
        "",
        f"- readings: {data.name}, forecasting {', '.join(data.target_features)}{f' in {data.units}' if data.units else ''}",
        f"- sensors: {s.num_sensors}",
        f"- interval: {interval_text(s.interval)}",
        f"- period: {s.timestamps[0]} .. {s.timestamps[-1]} ({s.num_steps} steps)",
        f"- missing: {s.missing_share():.1%} of the readings",
        f"- units: {data.units or 'not given'}",
        "",
        "```",
        *data.describe(),
        "```",
        "",
    ]


def _training_section(metrics: dict[str, Any], units: str) -> list[str]:
    if "best_epoch" not in metrics:
        return []
    return [
        "## Training",
        "",
        f"Best epoch {metrics['best_epoch']} of {len(metrics.get('history', []))} validated "
        f"(validation MAE {metrics['best_val_mae']:.3f}{units}), {metrics.get('global_step', '?')} optimiser steps "
        f"in {metrics.get('train_seconds', '?')} s.",
        "",
    ]


def _split_section(metrics: dict[str, Any], part: str, units: str, run_dir: Path) -> list[str]:
    name = metrics.get("model", "model")
    windows = metrics.get("windows", {}).get(part)
    table = {name: metrics_from_summary(metrics[part])}
    baselines = metrics.get(split_key("baselines", part), {})
    for baseline in BASELINES:
        if baseline_key(baseline) in baselines:
            table[baseline] = metrics_from_summary(baselines[baseline_key(baseline)])
    interval = metrics.get("interval")
    lines = [
        f"## {part.capitalize()} split: the model beside the baselines",
        "",
        f"Masked metrics{units}{f' on {windows} windows' if windows else ''}; the baselines are scored on the same windows.",
        "",
        metrics_table(table, interval=interval, markdown=True),
        "",
    ]
    beats = metrics.get(split_key("beats_baselines", part))
    if beats is True:
        lines += ["**Verdict: the model beats both baselines** in MAE and RMSE at every reported lead time and on average.", ""]
    elif beats is False:
        shortfalls = [Shortfall(**entry) for entry in metrics.get(split_key("shortfalls", part), [])]
        lines += ["**Verdict: the model does not beat the baselines.**", ""]
        lines += [f"- {s.line().removeprefix('warning: ')}" for s in shortfalls]
        lines += ["", IMPROVE_HINT[0].upper() + IMPROVE_HINT[1:] + ".", ""]
    lines += _intervals_section(metrics, part, units)
    if (run_dir / "plots" / f"error_by_horizon_{part}.png").is_file():
        lines += [f"![{part} error by lead time](plots/error_by_horizon_{part}.png)", ""]
    return lines


#: how ``calibration.scale`` shapes the width, as the report says it
_SCALE_TEXT = {
    "time_of_day": ", scaled by the training split's typical error at each hour of day",
    "sensor": ", scaled by the training split's typical error of each sensor",
    "sensor_time_of_day": ", scaled by the training split's typical error at each hour of day and sensor",
}


def _intervals_section(metrics: dict[str, Any], part: str, units: str) -> list[str]:
    block = metrics.get(split_key("intervals", part))
    if block is None:
        return []
    calibration = metrics.get("calibration", {})
    method = {"split": "split conformal", "cqr": "conformalized quantile regression"}.get(calibration.get("method"), "conformal")
    pooled = "per sensor" if calibration.get("per_sensor") else "pooled over sensors"
    scale = _SCALE_TEXT.get(calibration.get("scale", "none"), "")
    return [
        f"### Calibrated intervals{units}",
        "",
        f"{method.capitalize()} on {calibration.get('windows', '?')} validation windows, one margin per lead time, "
        f"{pooled}{scale}. The nominal coverage holds on average if validation and {part} windows are exchangeable; "
        "drift between the periods and rush-hour residuals break that, so compare the coverage with the nominal.",
        "",
        intervals_table(intervals_from_summary(block), interval=metrics.get("interval"), markdown=True),
        "",
    ]


def _sensor_section(sensors: pd.DataFrame, units: str) -> list[str]:
    """The sensors ranked by test MAE, from ``sensors_test.csv`` (never-observed ones left out)."""
    mae = sensors["mae"].to_numpy(dtype=np.float64)
    known = [int(i) for i in np.argsort(mae, kind="stable") if not math.isnan(mae[i])]
    if not known:
        return []

    def table(nodes: list[int]) -> list[str]:
        header = ["| sensor | MAE | RMSE | mean reading |", "| --- | ---: | ---: | ---: |"]
        rows = sensors.iloc[nodes]
        return header + [
            f"| {row.sensor} | {row.mae:.2f} | {row.rmse:.2f} | {row.mean_reading:.2f} |" for row in rows.itertuples(index=False)
        ]

    if len(known) <= 2 * RANKED_SENSORS:  # the two ends would overlap: one table of all
        return [f"## Sensors by test MAE{units}", "", f"All {len(known)}, largest MAE first:", "", *table(known[::-1]), ""]
    return [
        f"## Sensors by test MAE{units}",
        "",
        f"### The {RANKED_SENSORS} with the largest MAE",
        "",
        *table(known[::-1][:RANKED_SENSORS]),
        "",
        f"### The {RANKED_SENSORS} with the smallest MAE",
        "",
        *table(known[:RANKED_SENSORS]),
        "",
    ]
