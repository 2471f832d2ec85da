"""The run a server answers for: its model, its intervals and what ``GET /model`` says about it.

A batch of checked requests (each a :class:`~stgraph.data.SensorSeries` in the run's sensor
order) becomes one :func:`~stgraph.pipeline.forecast.forecast_batch` call, plus one for a
quantile model's levels when the run has a CQR interval; each request gets back its own
answer, in original units.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from stgraph.data.series import SensorSeries
from stgraph.errors import RunError
from stgraph.pipeline.calibration import CALIBRATION_FILE, Calibration, load_calibration
from stgraph.pipeline.forecast import forecast_batch, forecast_intervals
from stgraph.pipeline.model_file import RunModel, load_model_file
from stgraph.pipeline.run_dir import METRICS_FILE

__all__ = ["DECIMALS", "ServedRun", "json_numbers"]


@dataclass
class ServedRun:
    """A finished run loaded for serving.

    Attributes:
        name: the run directory's name (``sample-stid-20260101-120000``).
        model: the loaded ``model.pt``.
        calibration: the run's ``calibration.npz``, or None (no intervals).
        metrics: ``metrics.json``'s ``"test"`` block (and ``"intervals"``), or None.
        device: the torch device the model runs on.
    """

    name: str
    model: RunModel
    calibration: Calibration | None
    metrics: dict[str, Any] | None
    device: str = "cpu"

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], *, device: str = "cpu") -> ServedRun:
        """Load ``run_dir``'s ``model.pt`` (and ``calibration.npz``, ``metrics.json`` if present).

        Raises:
            RunError: no ``model.pt`` there, or a damaged one (one line naming the file).
        """
        folder = Path(run_dir)
        if not (folder / "model.pt").is_file():
            raise RunError(f"{folder}: no model.pt; expected a finished run directory (stgraph train or stgraph demo)")
        model = load_model_file(folder / "model.pt")
        calibration_file = folder / CALIBRATION_FILE
        calibration = load_calibration(calibration_file) if calibration_file.is_file() else None
        metrics = None
        if (folder / METRICS_FILE).is_file():
            try:
                found = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as error:
                raise RunError(f"{folder / METRICS_FILE}: not valid JSON ({error})") from None
            if isinstance(found, dict):
                metrics = {key: found[key] for key in ("test", "intervals") if key in found}
        return cls(name=folder.resolve().name, model=model, calibration=calibration, metrics=metrics, device=device)

    # --- what the run is -----------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return str(self.model.state["model"]["name"])

    @property
    def sensor_ids(self) -> list[str]:
        return self.model.sensor_ids

    @property
    def lookback(self) -> int:
        return int(self.model.state["data"]["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.model.state["data"]["horizon"])

    @property
    def interval(self) -> pd.Timedelta:
        return self.model.interval

    @property
    def features(self) -> list[str]:
        return [str(f) for f in self.model.state["data"]["features"]]

    @property
    def channels(self) -> list[str]:
        return [str(c) for c in self.model.state["data"]["targets"]]

    @property
    def null_value(self) -> float | None:
        value = self.model.state["data"]["null_value"]
        return None if value is None else float(value)

    def describe(self) -> dict[str, Any]:
        """What ``GET /model`` answers."""
        data = self.model.state["data"]
        return {
            "run": self.name,
            "model": self.model_name,
            "dataset": data.get("name"),
            "sensors": self.sensor_ids,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "interval": str(data["interval"]),
            "features": self.features,
            "channels": self.channels,
            "covariates": list(data["covariates"]),
            "null_value": self.null_value,
            "units": data.get("units"),
            "intervals": None
            if self.calibration is None
            else {"coverage": self.calibration.coverage, "method": self.calibration.method},
            "metrics": self.metrics,
        }

    # --- forecasting ---------------------------------------------------------------------
    def forecast(self, requests: Sequence[SensorSeries]) -> list[dict[str, Any]]:
        """One model call (two for a CQR interval) for every request; one answer each.

        Each answer: ``run``, ``model``, ``sensors`` (the run's order), ``timestamps`` (the
        horizon's, ISO 8601), ``channels``, ``forecast`` ``[horizon][sensors]`` (one channel)
        or ``[horizon][sensors][channels]``; with a calibration ``lower``, ``upper`` (same
        shape; null where the margin is infinite) and ``coverage``.
        """
        with torch.inference_mode():
            forecast = forecast_batch(self.model, requests, device=self.device)
            bounds = None
            if self.calibration is not None:
                lower, upper, _ = forecast_intervals(self.model, self.calibration, requests, forecast, device=self.device)
                bounds = (lower, upper)
        answers = []
        for i, series in enumerate(requests):
            steps = pd.date_range(series.timestamps[-1] + series.interval, periods=self.horizon, freq=series.interval)
            answer: dict[str, Any] = {
                "run": self.name,
                "model": self.model_name,
                "sensors": self.sensor_ids,
                "timestamps": [step.isoformat() for step in steps],
                "channels": self.channels,
                "forecast": json_numbers(self._squeezed(forecast[i])),
            }
            if bounds is not None and self.calibration is not None:
                answer["lower"] = json_numbers(self._squeezed(bounds[0][i]))
                answer["upper"] = json_numbers(self._squeezed(bounds[1][i]))
                answer["coverage"] = self.calibration.coverage
            answers.append(answer)
        return answers

    def _squeezed(self, values: np.ndarray) -> np.ndarray:
        """``[horizon, nodes, channels]`` -> ``[horizon, nodes]`` for a one-channel run."""
        return values[..., 0] if values.shape[-1] == 1 else values


DECIMALS = 4


def json_numbers(values: np.ndarray, decimals: int = DECIMALS) -> Any:
    """Nested lists of floats for JSON, rounded to ``decimals`` places, ``None`` where a value is
    not finite (JSON has no inf).

    The forecasts are float32, whose 24-bit mantissa holds about 7 significant digits, so 4
    decimals keep all of them up to 1,000 (speeds, occupancies, counts per 5 minutes) and lose
    only digits below 1e-4 above it. The full float64 text of float32 values (``63.12345504760742``)
    would more than double the answer (144 KB against 58 KB for 12 steps x 207 sensors with an
    interval) and the time to encode it (2.9 ms against 1.4 ms).
    """
    values = np.round(np.asarray(values, dtype=np.float64), decimals)
    finite = np.isfinite(values)
    if finite.all():
        return values.tolist()
    cells = values.astype(object)
    cells[~finite] = None
    return cells.tolist()
