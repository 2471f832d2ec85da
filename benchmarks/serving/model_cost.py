"""The served model alone: milliseconds per window of one forward pass at several batch sizes.

Batching requests can only save what a forward pass at batch ``B`` costs less than ``B``
passes at batch 1. This measures it on the same run, threads and windows the server uses,
in this process (no HTTP): median of ``repeats`` timed passes after one warm-up, each over
``B`` real sample windows in inference mode.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from benchmarks.serving.payloads import SAMPLE_READINGS
from stgraph.data.load import load_series
from stgraph.pipeline.forecast import forecast_inputs
from stgraph.pipeline.model_file import load_model_file

__all__ = ["model_cost"]


def model_cost(run_dir: Path, batches: Sequence[int], *, threads: int, repeats: int = 7) -> list[dict[str, Any]]:
    """One row per batch size: ``batch``, ``ms`` (median pass), ``ms_per_window``.

    Shapes:
        each pass: ``[batch, lookback, sensors, features]`` -> ``[batch, horizon, sensors, channels]``
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        run = load_model_file(run_dir / "model.pt")
        data = run.state["data"]
        features = list(data["features"])
        series = load_series(SAMPLE_READINGS, null_value=data["null_value"], features=features if len(features) == 1 else None)
        series = series.align(run.sensor_ids, other="the run's sensors")
        lookback = int(data["lookback"])
        largest = max(batches)
        ends = _ends(series, lookback, largest)
        windows = torch.cat([forecast_inputs(run, series.slice_time(end - lookback, end)) for end in ends])
        rows = []
        with torch.inference_mode():
            for batch in batches:
                x = windows[:batch]
                run.model(x, run.graph)
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    run.model(x, run.graph)
                    times.append(time.perf_counter() - started)
                ms = 1e3 * sorted(times)[len(times) // 2]
                rows.append({"batch": batch, "ms": ms, "ms_per_window": ms / batch})
        return rows
    finally:
        torch.set_num_threads(before)


def _ends(series: Any, lookback: int, count: int) -> list[int]:
    """``count`` window ends spread over the series (different windows, as the requests are)."""
    last = series.num_steps
    step = max(1, (last - lookback) // count)
    return [last - k * step for k in range(count)]
