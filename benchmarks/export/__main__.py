"""``python -m benchmarks.export --run RUN_DIR [--run ...]``: what each export format and
precision costs and saves, per model.

```bash
stgraph train --dataset sample --model stgcn --threads 1 --out runs/stgcn   # any finished runs
python -m benchmarks.export --run runs/stgcn --threads 1                      # on a quiet machine
```

For every run, format (``--formats``, default all three) and variant (``--variants``: float32,
float16, bfloat16, int8) it exports the run with :func:`stgraph.export.export_run` (no parity
check: the test MAE is the check here) and measures:

- **size**: the artifact's bytes;
- **latency**: the median wall time of ``--repeats`` calls (after one warm-up call) of the
  artifact in its own runtime at batch 1 and batch 64, with the threads given (default 1);
- **test MAE**: masked MAE in the readings' units of the artifact's forecast over the run's test
  windows (at most ``--windows``, evenly spread), and its change against the float32 eager model
  on the same windows (``Δ MAE``; a cost of the precision, not of the format).

A combination a format does not offer (``exported`` with int8, ``onnx`` with bfloat16) is a row
saying why. The test windows are the run's test split (its data rebuilt from ``config.yaml``,
:func:`stgraph.pipeline.evaluate.load_run_data`), or the last ``--test-share`` of ``--readings``.
Results: ``benchmarks/results/export.{md,json}`` with the machine (refused if present, unless
``--force``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.accuracy.card import RESULTS, library_versions, machine, write_result
from stgraph.data.load import load_series
from stgraph.data.series import SensorSeries
from stgraph.export import FORMATS, ExportError, ForecastArtifact, export_run, load_artifact
from stgraph.export.check import artifact_inputs, windows
from stgraph.export.reduce import DTYPES, QUANTIZE
from stgraph.pipeline.forecast import check_series
from stgraph.pipeline.model_file import load_model_file

NAME = "export"
VARIANTS = (*DTYPES, *QUANTIZE)
BATCHES = (1, 64)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, action="append", required=True, help="a finished run directory (repeatable)")
    parser.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated (default {','.join(FORMATS)})")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated (default {','.join(VARIANTS)})")
    parser.add_argument("--readings", type=Path, help="test windows from this file instead of the run's test split")
    parser.add_argument("--test-share", type=float, default=0.2, help="with --readings: its last share is the test part")
    parser.add_argument("--windows", type=int, default=512, help="test windows scored, at most (default 512)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per batch size (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch (and onnxruntime) threads (default 1)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the results (default benchmarks/results)")
    parser.add_argument("--force", action="store_true", help="replace existing results")
    return parser


def scored_series(run_dir: Path, readings: Path | None, test_share: float) -> SensorSeries:
    """The steps whose windows are scored: the run's test split, or the end of ``readings``."""
    run = load_model_file(run_dir / "model.pt")
    lookback, horizon = int(run.state["data"]["lookback"]), int(run.state["data"]["horizon"])
    if readings is None:
        from stgraph.pipeline.evaluate import load_run_data

        _, data = load_run_data(run_dir)
        starts = data.split.starts("test")
        first, last = int(starts[0]), int(starts[-1]) + lookback + horizon
        series = data.series
    else:
        features = list(run.state["data"]["features"])
        loaded = load_series(
            readings, null_value=run.state["data"]["null_value"], features=features if len(features) == 1 else None
        )
        series = check_series(run, loaded, str(run_dir))
        last = series.num_steps
        first = max(0, last - max(round(series.num_steps * test_share), lookback + horizon))
    return series.slice_time(first, last)


def scored_windows(run_dir: Path, series: SensorSeries, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (readings, timestamps) and horizon targets with their mask, ``count`` windows at most.

    Shapes:
        -> ``[windows, lookback, sensors, features]``, ``[windows, lookback]``,
        ``[windows, horizon, sensors, channels]`` (targets and mask)
    """
    run = load_model_file(run_dir / "model.pt")
    data = run.state["data"]
    lookback, horizon = int(data["lookback"]), int(data["horizon"])
    positions = series.feature_index(list(data["targets"]))
    usable = SensorSeries(
        series.values[: series.num_steps - horizon],
        series.mask[: series.num_steps - horizon],
        series.timestamps[: series.num_steps - horizon],
        series.sensor_ids,
        series.feature_names,
        interval=series.interval,
        source=series.source,
    )
    parts = windows(usable, lookback, count)
    readings, timestamps = artifact_inputs(parts)
    ends = [int(np.searchsorted(series.timestamps, part.timestamps[-1])) + 1 for part in parts]
    targets = np.stack([series.values[end : end + horizon][..., positions] for end in ends])
    mask = np.stack([series.mask[end : end + horizon][..., positions] for end in ends])
    return readings, timestamps, targets, mask


def masked_mae(forecast: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error over the observed targets."""
    return float(np.abs(forecast - targets)[mask].mean()) if mask.any() else float("nan")


def forecasts(runner: Any, readings: np.ndarray, timestamps: np.ndarray, batch: int = 64) -> np.ndarray:
    """The artifact's ``forecast`` output for every window, ``batch`` windows per call."""
    parts = [runner(readings[i : i + batch], timestamps[i : i + batch])[0] for i in range(0, len(readings), batch)]
    return np.concatenate(parts)


def latency_ms(runner: Any, readings: np.ndarray, timestamps: np.ndarray, batch: int, repeats: int) -> float:
    """Median milliseconds of one call at ``batch`` windows (repeated from the test windows)."""
    index = np.arange(batch) % len(readings)
    x, t = np.ascontiguousarray(readings[index]), np.ascontiguousarray(timestamps[index])
    runner(x, t)  # warm-up: first-call allocation and graph optimisation
    times = []
    for _ in range(max(repeats, 1)):
        started = time.perf_counter()
        runner(x, t)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(
    run_dir: Path, formats: list[str], variants: list[str], series: SensorSeries, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One row per format and variant of ``run_dir``."""
    readings, timestamps, targets, mask = scored_windows(run_dir, series, args.windows)
    run = load_model_file(run_dir / "model.pt")
    eager = ForecastArtifact(run).eval()

    def run_eager(x: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            return [out.numpy() for out in eager(torch.from_numpy(x), torch.from_numpy(t))]

    eager_mae = masked_mae(forecasts(run_eager, readings, timestamps), targets, mask)
    model = str(run.state["model"]["name"])
    rows: list[dict[str, Any]] = [
        {
            "model": model,
            "format": "eager",
            "variant": "float32",
            "bytes": (run_dir / "model.pt").stat().st_size,
            **{f"batch_{b}_ms": latency_ms(run_eager, readings, timestamps, b, args.repeats) for b in BATCHES},
            "test_mae": eager_mae,
            "delta_mae": 0.0,
        }
    ]
    with tempfile.TemporaryDirectory(prefix="stgraph-export-bench-") as folder:
        for format in formats:
            for variant in variants:
                row: dict[str, Any] = {"model": model, "format": format, "variant": variant}
                dtype, quantize = (variant, None) if variant in DTYPES else ("float32", variant)
                out = Path(folder) / f"{format}-{variant}{FORMATS[format]}"
                try:
                    export_run(run_dir, format, out, check=False, dtype=dtype, quantize=quantize)
                except ExportError as error:
                    rows.append({**row, "error": str(error)})
                    continue
                runner = load_artifact(out, format, threads=args.threads)
                mae = masked_mae(forecasts(runner, readings, timestamps), targets, mask)
                row.update(
                    bytes=out.stat().st_size,
                    **{f"batch_{b}_ms": latency_ms(runner, readings, timestamps, b, args.repeats) for b in BATCHES},
                    test_mae=mae,
                    delta_mae=mae - eager_mae,
                )
                rows.append(row)
                print(
                    f"{row['model']} {format} {variant}: {row['bytes'] / 1024:.0f} KB, batch 1 {row['batch_1_ms']:.2f} ms, "
                    f"batch 64 {row['batch_64_ms']:.1f} ms, test MAE {mae:.3f} ({mae - eager_mae:+.4f})",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def _markdown(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [
        "# Export: artifact size, CPU latency and test MAE per format and precision",
        "",
        f"Command: `{info['command']}`. Machine: {info['machine']['cpu']}, {info['machine']['cpu_cores']} cores, "
        f"{info['threads']} thread(s), {info['machine']['os']}, {info['machine']['date']}. Versions: {info['versions']}. "
        f"Test windows: {info['windows']} per run; latency: median of {info['repeats']} calls after one warm-up.",
        "",
        "| model | format | variant | size (KB) | batch 1 (ms) | batch 64 (ms) | test MAE | Δ MAE |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['format']} | {row['variant']} | not offered: {row['error']} | | | | |")
            continue
        lines.append(
            f"| {row['model']} | {row['format']} | {row['variant']} | {row['bytes'] / 1024:.0f} | {row['batch_1_ms']:.2f} | "
            f"{row['batch_64_ms']:.1f} | {row['test_mae']:.3f} | {row['delta_mae']:+.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    formats = [name for name in args.formats.split(",") if name]
    variants = [name for name in args.variants.split(",") if name]
    unknown = [name for name in formats if name not in FORMATS] + [name for name in variants if name not in VARIANTS]
    if unknown:
        print(f"python -m benchmarks.export: error: unknown format or variant {', '.join(unknown)}", file=sys.stderr)
        return 2
    if not args.force and any((args.results / f"{NAME}.{ext}").exists() for ext in ("md", "json")):
        print(f"python -m benchmarks.export: error: {args.results / NAME}.md exists; pass --force to replace it", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for run_dir in args.run:
        series = scored_series(run_dir, args.readings, args.test_share)
        rows += measure(run_dir, formats, variants, series, args)
    info = {
        "command": "python -m benchmarks.export " + " ".join(argv if argv is not None else sys.argv[1:]),
        "runs": [str(run_dir) for run_dir in args.run],
        "windows": args.windows,
        "repeats": args.repeats,
        "threads": args.threads,
        "machine": machine(),
        "versions": library_versions(),
    }
    markdown = _markdown(rows, info)
    print(markdown)
    write_result(NAME, markdown, {**info, "rows": rows}, folder=args.results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
