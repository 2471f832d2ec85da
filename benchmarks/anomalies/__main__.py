"""``python -m benchmarks.anomalies --run RUN_DIR``: inject faults into Los-loop's test days and
score ``stgraph anomalies``' checks per fault kind.

```bash
stgraph train --dataset sample --threads 1 --out runs/sample     # about 2 minutes: STID, the default recipe
python -m benchmarks.anomalies --run runs/sample                 # Los-loop from the data root
```

The run must be trained on Los-loop's sensors (the committed ``sample`` is Los-loop's readings,
so a run on it fits). Its calibration (residual thresholds on its validation steps, zero
shares on its training steps) is :func:`stgraph.anomalies.load_reference`. Faults
(:mod:`benchmarks.anomalies.inject`) go into the last ``--test-share`` of the week, the run's
test steps, which it never trained or calibrated on; the ``lookback`` steps before them stay
healthy, so the first test step has a forecast. Cost: one forward pass per test step, in
batches, with the threads given (default 1). Results: ``benchmarks/results/anomalies-los-loop.{md,json}``
(refused if present, unless ``--force``). Without Los-loop in the data root it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.accuracy.card import RESULTS, library_versions, machine, write_result
from benchmarks.anomalies.evaluate import fault_scores
from benchmarks.anomalies.inject import FAULTS, inject_faults
from benchmarks.data_root import default_data_root
from stgraph.anomalies import AnomalySettings, detect, load_reference, one_step_forecasts, strongest
from stgraph.data.catalog import get_dataset
from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries
from stgraph.pipeline.forecast import check_series

NAME = "anomalies-los-loop"
#: fault probability per block of 4 hours and sensor
SHARES = {"spike": 0.2, "stuck": 0.1, "zero": 0.1, "drift": 0.1}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.anomalies", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a run trained on Los-loop's sensors (e.g. on the sample)")
    parser.add_argument(
        "--data-root", type=Path, default=None, help="folder holding los-loop/ (default: the benchmarks' data root)"
    )
    parser.add_argument("--test-share", type=float, default=0.2, help="last share of the week to inject into (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the injected faults")
    parser.add_argument(
        "--coverage", type=float, default=AnomalySettings.coverage, help="spike threshold coverage (default 0.999)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--force", action="store_true", help="replace existing results")
    return parser


def _markdown(scores: dict[str, Any], info: dict[str, Any]) -> str:
    lines = [
        "# Faulty sensors: injected faults on Los-loop",
        "",
        f"Command: `{info['command']}`. Data: Los-loop (`{info['readings']}`), test steps {info['test_steps']} "
        f"({info['test_days']:.1f} days) x {info['sensors']} sensors, faults seed {info['seed']}, "
        f"fault probability per 4-hour block and sensor {info['shares']}. Run: `{info['run']}` ({info['model']}, validation MAE {info['val_mae']:.2f}). "
        f"Settings: {info['settings']}. Cost: calibration {info['calibration_s']:.1f} s, one-step forecasts of the "
        f"test steps {info['forecast_s']:.1f} s, {info['threads']} torch thread(s).",
        "",
        "| fault | faulty readings | found | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in scores["faults"]:
        cells = [f"{row[k]:.3f}" if np.isfinite(row[k]) else "-" for k in ("precision", "recall", "f1")]
        lines.append(f"| {row['fault']} | {row['readings']} | {row['found']} | " + " | ".join(cells) + " |")
    alarms = ", ".join(f"{count} {kind}" for kind, count in scores["false_alarms"].items())
    lines += [
        "",
        f"False alarms: {sum(scores['false_alarms'].values())} of {scores['healthy_readings']} healthy readings "
        f"({100 * scores['false_alarm_rate']:.2f} %): {alarms}.",
        "",
        "Drift has no check of its own: its recall counts a reading flagged under any kind.",
        "",
        f"Machine: {info['machine']['cpu']}, {info['machine']['cpu_cores']} cores; {info['machine']['date']}; "
        f"stgraph {info['versions']['stgraph_commit']}, torch {info['versions']['torch']}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    dataset = get_dataset("los-loop")
    path = dataset.folder(args.data_root or default_data_root()) / dataset.readings.name
    if not path.is_file():
        print(f"skipped: Los-loop readings not found at {path} (pass --data-root)")
        return 0
    outputs = [args.results / f"{NAME}.{suffix}" for suffix in ("md", "json")]
    existing = [str(p) for p in outputs if p.exists()]
    if existing and not args.force:
        print(f"error: {', '.join(existing)} exist; pass --force to replace them")
        return 2
    torch.set_num_threads(args.threads)
    settings = AnomalySettings(coverage=args.coverage)
    started = time.perf_counter()
    reference = load_reference(args.run, coverage=settings.coverage)
    calibration_s = time.perf_counter() - started
    series = check_series(reference.run, load_series(path, null_value=None, limits=None, **dataset.layout()), str(args.run))
    lookback = int(reference.run.state["data"]["lookback"])
    first = series.num_steps - round(series.num_steps * args.test_share)
    part = series.slice_time(first - lookback, None).select_features([reference.target])
    healthy = part.values[..., 0]
    faulty, labels = inject_faults(
        healthy[lookback:],
        interval_minutes=part.interval / np.timedelta64(1, "m"),
        shares=SHARES,
        block=48,
        lead=lookback,
        seed=args.seed,
    )
    values = np.concatenate([healthy[:lookback], faulty])[..., None]
    faulty_series = SensorSeries(
        values, None, part.timestamps, part.sensor_ids, part.feature_names, part.interval, source=str(path)
    )
    started = time.perf_counter()
    forecast = one_step_forecasts(reference.run, faulty_series)
    forecast_s = time.perf_counter() - started
    kind, _ = strongest(detect(faulty_series, reference, settings, forecast=forecast))
    scores = fault_scores(labels, kind[lookback:])
    info = {
        "command": "python -m benchmarks.anomalies " + " ".join(argv if argv is not None else sys.argv[1:]),
        "readings": str(path),
        "run": str(args.run),
        "model": reference.run.state["model"]["name"],
        "val_mae": float(reference.run.state.get("val_mae") or float("nan")),
        "test_steps": len(labels),
        "test_days": len(labels) * (part.interval / np.timedelta64(1, "D")),
        "sensors": part.num_sensors,
        "seed": args.seed,
        "shares": SHARES,
        "settings": {k: getattr(settings, k) for k in ("stuck_minutes", "zero_rate", "minimum", "maximum", "coverage")},
        "calibration_s": calibration_s,
        "forecast_s": forecast_s,
        "threads": args.threads,
        "machine": machine(),
        "versions": library_versions(),
        "faults": list(FAULTS),
    }
    markdown = _markdown(scores, info)
    print(markdown)
    write_result(NAME, markdown, {**info, **scores}, folder=args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
