"""Score a whole split a block of windows at a time: forecasts, intervals, metrics, files.

What a run reports on a split, in memory bounded by one block of windows rather than by the
split: on a state-sized network the test split's forecasts, targets, masks and bounds are
gigabytes each (7,000 windows x 12 steps x 8,600 sensors is 2.9 GB per float32 array). For
each block (:func:`~stgraph.pipeline.window_forecasts.forecast_blocks`) the calibrated interval is
built, the sums behind every metric are added (:func:`~stgraph.metrics.masked.horizon_sums`,
:func:`~stgraph.metrics.intervals.interval_sums`, :func:`~stgraph.metrics.masked.sensor_sums`)
and the arrays are appended to ``predictions_<part>.npz`` (:class:`~stgraph.io.npz_stream.NpzSpool`);
the block is then dropped. Sums in float64 over blocks equal the sums over the whole split, so
the metrics are those of the whole-array functions (to float64 rounding).

Files written into the run directory, each atomically:

- ``predictions_<part>.npz``: :func:`~stgraph.report.export.load_predictions` reads it;
- ``sensors_<part>.csv``: per sensor, test MAE, RMSE, mean observed reading and observed
  entries (the run report's sensor tables and the sensor map read it);
- ``plots/forecasts_<part>.png``, ``plots/error_by_horizon_<part>.png`` and, where the graph
  has coordinates, ``plots/sensor_map_<part>.png``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from stgraph.errors import SensorDataError
from stgraph.io.atomic import atomic_write
from stgraph.io.npz_stream import NpzSpool, iter_npz_rows
from stgraph.metrics.intervals import IntervalMetrics, interval_sums
from stgraph.metrics.masked import HorizonMetrics, horizon_sums, sensor_metrics_from_sums, sensor_sums
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.calibration import Calibration, forecast_hours, interval_levels
from stgraph.pipeline.data import PreparedData
from stgraph.pipeline.window_forecasts import ForecastBlock, forecast_blocks
from stgraph.report.export import Predictions

__all__ = ["BLOCK_ENTRIES", "SplitScores", "read_sensor_table", "score_split", "sensor_table_path", "write_sensor_table"]

#: forecast entries (windows x horizon x sensors x channels) of one block: 64 MB per float32 array
BLOCK_ENTRIES = 1 << 24
#: windows drawn in the forecasts plot (two days at 5 minutes), read back from the predictions file
PLOTTED_WINDOWS = 576


@dataclass(frozen=True)
class SplitScores:
    """What :func:`score_split` measured on a split.

    Attributes:
        metrics: masked MAE, RMSE and MAPE per horizon step.
        intervals: coverage, width, Winkler score, CRPS per step of the calibrated interval;
            None without a calibration.
        sensors: per-sensor ``"mae"``, ``"rmse"``, ``"mean"`` (observed reading) and
            ``"observed"`` (entries) over all windows and steps of the first channel, ``[nodes]``.
    """

    metrics: HorizonMetrics
    intervals: IntervalMetrics | None
    sensors: dict[str, np.ndarray]


def score_split(
    model: torch.nn.Module,
    data: PreparedData,
    part: str,
    run_dir: str | os.PathLike[str],
    *,
    calibration: Calibration | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    block_entries: int = BLOCK_ENTRIES,
) -> SplitScores:
    """Forecast every window of ``part`` with ``model`` a block at a time (about
    ``block_entries`` forecast entries each), with ``calibration``'s interval when given, and
    write the split's predictions file, sensor table and plots into ``run_dir``.

    Raises:
        SensorDataError: ``part`` has no windows.
        ValueError: a CQR calibration (of a quantile model's levels) for a point model.
    """
    run_dir = Path(run_dir)
    windows = data.windows(part)
    if not len(windows):
        raise SensorDataError(f"{data.name}: the {part} split has no windows to score")
    per_window = windows.horizon * windows.num_sensors * windows.out_channels
    rows = max(batch_size, block_entries // max(per_window, 1) // batch_size * batch_size)
    first_steps = _first_steps(data, windows.starts.numpy())
    path = run_dir / f"predictions_{part}.npz"
    metric_totals, sensor_totals = np.zeros((5, windows.horizon)), np.zeros((4, windows.num_sensors))
    interval_totals: dict[str, np.ndarray] = {}
    levels = tuple(float(level) for level in model.quantiles) if isinstance(model, QuantileHead) else None
    with NpzSpool(path) as spool:
        for block in forecast_blocks(model, data.graph, windows, rows=rows, batch_size=batch_size, device=device):
            metric_totals += horizon_sums(block.prediction, block.target, mask=block.mask)
            sensor_totals += sensor_sums(block.prediction[..., 0], block.target[..., 0], block.mask[..., 0])
            arrays = {"prediction": block.prediction, "target": block.target, "mask": block.mask}
            if block.quantiles is not None:
                arrays["quantiles"] = block.quantiles
            if calibration is not None:
                hours = forecast_hours(
                    first_steps[block.start : block.start + len(block.target)], windows.horizon, data.series.interval
                )
                lower, upper = _bounds(block, calibration, hours)
                arrays.update(lower=lower, upper=upper)
                for name, value in _interval_block_sums(block, lower, upper, calibration.coverage, levels).items():
                    interval_totals[name] = interval_totals[name] + value if name in interval_totals else value
            for name, array in arrays.items():
                spool.append(name, array)
        spool.put("first_step", first_steps.as_unit("ns").values.astype("datetime64[ns]"))
        spool.put("interval_ns", np.asarray(pd.Timedelta(data.series.interval).value, dtype=np.int64))
        spool.put("sensor_ids", np.asarray(data.graph.sensor_ids, dtype=str))
        spool.put("channels", np.asarray(list(data.target_features), dtype=str))
        if levels is not None:
            spool.put("levels", np.asarray(levels))
        spool.commit()
    metrics = HorizonMetrics.from_sums(metric_totals)
    intervals = None if calibration is None else IntervalMetrics.from_sums(interval_totals, calibration.coverage)
    sensors = {**sensor_metrics_from_sums(sensor_totals), "observed": sensor_totals[3].astype(np.int64)}
    write_sensor_table(sensor_table_path(run_dir, part), data.graph.sensor_ids, sensors)
    _plot(run_dir, part, data, metrics, sensors["mae"], path)
    return SplitScores(metrics, intervals, sensors)


def _first_steps(data: PreparedData, starts: np.ndarray) -> pd.DatetimeIndex:
    """Timestamp of the first forecast step of each window starting at ``starts``."""
    if not len(starts):
        return pd.DatetimeIndex([])
    return pd.DatetimeIndex(data.series.timestamps[starts + data.split.lookback])


def _bounds(block: ForecastBlock, calibration: Calibration, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    forecast = block.prediction if calibration.bounds is None else block.quantiles
    if forecast is None:
        raise ValueError("a CQR calibration needs a quantile model's forecasts; this model forecasts a point")
    return calibration.interval(forecast, hours, dtype=np.float32)


def _interval_block_sums(
    block: ForecastBlock, lower: np.ndarray, upper: np.ndarray, coverage: float, levels: tuple[float, ...] | None
) -> dict[str, np.ndarray]:
    """:func:`~stgraph.metrics.intervals.interval_sums` of one block: a quantile model's own
    levels, or a point forecast's ``[lower, prediction, upper]``
    (:func:`~stgraph.pipeline.evaluate.interval_scores`)."""
    if block.quantiles is not None and levels is not None:
        quantiles: np.ndarray | list[np.ndarray] = block.quantiles
    else:
        low, high = interval_levels(coverage)
        quantiles, levels = [lower, block.prediction, upper], (low, 0.5, high)
    return interval_sums(
        lower, upper, block.target, coverage=coverage, quantile_forecast=quantiles, quantiles=levels, mask=block.mask
    )


def sensor_table_path(run_dir: str | os.PathLike[str], part: str) -> Path:
    """``run_dir/sensors_<part>.csv``."""
    return Path(run_dir) / f"sensors_{part}.csv"


def write_sensor_table(path: str | os.PathLike[str], sensor_ids: list[str], sensors: dict[str, np.ndarray]) -> None:
    """``sensors_<part>.csv``: one row per sensor, ``sensor, mae, rmse, mean_reading, observed``
    (``sensors`` as :attr:`SplitScores.sensors`), atomically."""
    table = pd.DataFrame(
        {
            "sensor": sensor_ids,
            "mae": sensors["mae"],
            "rmse": sensors["rmse"],
            "mean_reading": sensors["mean"],
            "observed": sensors["observed"],
        }
    )
    with atomic_write(path) as handle:
        table.to_csv(handle, index=False, float_format="%.6g")


def read_sensor_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A ``sensors_<part>.csv`` of :func:`score_split`, sensor ids as strings."""
    return pd.read_csv(path, dtype={"sensor": str})


def _plot(run_dir: Path, part: str, data: PreparedData, metrics: HorizonMetrics, sensor_mae: np.ndarray, path: Path) -> None:
    """The split's plots; the forecasts plot reads its first windows back from ``path``.

    The plots need matplotlib (the ``train`` extra), imported here and nowhere else on this path.
    """
    from stgraph.report.plots import pick_sensors, plot_error_by_horizon, plot_forecasts, plot_sensor_map

    plots = run_dir / "plots"
    sensors = pick_sensors(sensor_mae)
    plot_forecasts(plots / f"forecasts_{part}.png", _head(path, sensors), sensors=range(len(sensors)), units=data.units)
    plot_error_by_horizon(
        plots / f"error_by_horizon_{part}.png", metrics, interval=data.series.interval, units=data.units, split=part
    )
    if data.graph.coordinates is not None:
        plot_sensor_map(plots / f"sensor_map_{part}.png", data.graph.coordinates, sensor_mae, units=data.units)


def _head(path: Path, sensors: list[int]) -> Predictions:
    """The first :data:`PLOTTED_WINDOWS` windows of the predictions file ``path``, for ``sensors`` only."""
    with np.load(path, allow_pickle=False) as small:
        names = ["prediction", "target", "mask", *(["lower", "upper"] if "lower" in small.files else [])]
        first_step, interval = pd.DatetimeIndex(small["first_step"]), pd.Timedelta(int(small["interval_ns"]), unit="ns")
        sensor_ids, channels = [str(s) for s in small["sensor_ids"]], [str(c) for c in small["channels"]]
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for block in iter_npz_rows(path, names, rows=PLOTTED_WINDOWS, stop=PLOTTED_WINDOWS):
        for name in names:
            columns[name].append(block[name][:, :, sensors])
    head = {name: np.concatenate(parts) for name, parts in columns.items()}
    return Predictions(
        prediction=head["prediction"],
        target=head["target"],
        mask=head["mask"],
        first_step=first_step[: len(head["prediction"])],
        interval=interval,
        sensor_ids=[sensor_ids[node] for node in sensors],
        channels=channels,
        lower=head.get("lower"),
        upper=head.get("upper"),
    )
