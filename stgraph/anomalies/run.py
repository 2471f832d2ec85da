"""``find_anomalies``: a readings file checked against a trained run, written as a CSV table."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from stgraph.anomalies.reference import load_reference
from stgraph.anomalies.score import anomaly_table, detect
from stgraph.anomalies.settings import AnomalySettings
from stgraph.data.load import load_series
from stgraph.io.atomic import atomic_write
from stgraph.pipeline.forecast import check_series
from stgraph.pipeline.model_file import load_model_file
from stgraph.pipeline.run_dir import MODEL_FILE

__all__ = ["find_anomalies"]

logger = logging.getLogger(__name__)


def find_anomalies(
    run_dir: str | os.PathLike[str],
    readings: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    settings: AnomalySettings | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Check every reading of ``readings`` against the run in ``run_dir``; write ``out`` (CSV) if given.

    The readings are loaded with only empty or NaN cells as missing (a zero is a reading to
    check, whatever the run's null value) and no limits (an impossible reading is a finding,
    not an error). Their sensors and interval must be the run's.

    ``progress(done, total)`` is called with the steps forecast so far and in all, chunk by chunk.

    Returns:
        the table (:func:`stgraph.anomalies.score.anomaly_table`): ``sensor, timestamp, kind, score``.

    Raises:
        SensorDataError: readings at another interval, or with sensors the run does not have
            (or without some it has), naming them; a malformed readings file.
    """
    settings = settings or AnomalySettings()
    run_dir = Path(run_dir)
    # the readings are checked against the model file first: a wrong file fails before the calibration's work
    run = load_model_file(run_dir / MODEL_FILE)
    features = list(run.state["data"]["features"])
    series = load_series(readings, null_value=None, limits=None, features=features if len(features) == 1 else None)
    series = check_series(run, series, str(run_dir))
    reference = load_reference(run_dir, coverage=settings.coverage, batch_size=batch_size, device=device)
    checks = detect(series, reference, settings, batch_size=batch_size, device=device, progress=progress)
    table = anomaly_table(series, checks)
    if out is not None:
        with atomic_write(Path(out), newline="") as handle:
            table.to_csv(handle, index=False, date_format="%Y-%m-%d %H:%M:%S")
    logger.debug("%s: %d of %d readings flagged", readings, len(table), series.num_steps * series.num_sensors)
    return table
