"""The model against two forecasts that need no training, on exactly the model's windows.

A forecasting model is worth publishing only when it beats the per-sensor historical average
(the mean training reading at the same time of week) and the last observed reading, the two
baselines DCRNN (Li et al., ICLR 2018, Table 1) reports. :func:`score_baselines` scores both
on the windows of one split, as :func:`~stgraph.pipeline.scoring.score_split` scores the
model (the same targets and mask); :func:`compare_with_baselines` lists every reported lead
time (the :data:`~stgraph.metrics.report.REPORT_STEPS` within the horizon, and the average over
all steps) at which the model's MAE or RMSE is not below the better of the two.

``stgraph train``, ``stgraph evaluate`` and ``stgraph demo`` all go through this module, so
the console, ``metrics.json`` and ``report.md`` print the same numbers and warnings.

In ``metrics.json`` (:func:`metrics_entries`), beside the model's ``"test"`` block::

    "baselines": {"historical_average": {...}, "last_value": {...}},  # same keys as "test"
    "beats_baselines": false,
    "shortfalls": [{"metric": "rmse", "lead_time": "60 min", "step": 12, "model": 9.83,
                    "baseline": "historical average", "baseline_value": 9.15}, ...]

``"baselines"``, ``"beats_baselines"`` and ``"shortfalls"`` are always the test split's; another
split scored by ``stgraph evaluate --split val`` writes ``"baselines_val"``,
``"beats_baselines_val"`` and ``"shortfalls_val"`` beside its ``"val"`` block.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from stgraph.baselines import HistoricalAverage, last_value
from stgraph.errors import SensorDataError
from stgraph.metrics.masked import HorizonMetrics, horizon_sums
from stgraph.metrics.report import REPORT_STEPS, horizon_label, metrics_summary, metrics_table
from stgraph.pipeline.data import PreparedData

__all__ = [
    "BASELINES",
    "IMPROVE_HINT",
    "Comparison",
    "Shortfall",
    "baseline_key",
    "compare_split",
    "compare_with_baselines",
    "score_baselines",
    "split_key",
]

logger = logging.getLogger(__name__)

#: the baselines, as tables and warnings name them (``metrics.json`` keys: :func:`baseline_key`)
BASELINES = ("historical average", "last value")

#: the line that follows the warnings: what to try when the model loses
IMPROVE_HINT = (
    "what to try: train longer (--epochs, training.max_steps, training.time_budget), tune training.lr, "
    "or give the model more training data; until it beats them, the baselines are the better forecast"
)


def baseline_key(name: str) -> str:
    """``"historical_average"`` for ``"historical average"``: the key in ``metrics.json``."""
    return name.replace(" ", "_")


#: windows whose baseline forecasts :func:`score_baselines` holds at once
BASELINE_WINDOWS = 512


def score_baselines(data: PreparedData, part: str) -> dict[str, HorizonMetrics]:
    """Masked metrics of the historical average and the last value on the windows of ``part``.

    The historical average is fitted on the training steps only (``data.split.train_steps``),
    so on the training split it is scored in-sample. Targets and mask are those of
    :meth:`PreparedData.windows` (the model's), in original units. A sensor never observed
    in the training steps leaves the historical average undefined: it is then left out, with
    a logged warning, and only the last value is returned.

    Returns:
        ``{"historical average": ..., "last value": ...}``, each with ``[horizon]`` arrays.
    """
    series, split = data.series, data.split
    starts = split.starts(part)
    positions = series.feature_index(data.target_features)
    window = {"lookback": split.lookback, "horizon": split.horizon}
    average: HistoricalAverage | None = None
    try:
        average = HistoricalAverage(features=data.target_features).fit(
            series.slice_time(split.train_steps.start, split.train_steps.stop)
        )
    except SensorDataError as error:
        logger.warning("historical average left out: %s", error)
    sums = {"historical average": np.zeros((5, split.horizon)), "last value": np.zeros((5, split.horizon))}
    for first in range(
        0, len(starts), BASELINE_WINDOWS
    ):  # a block of windows at a time: forecasts as large as the split's never exist
        block = starts[first : first + BASELINE_WINDOWS]
        steps = block[:, None] + split.lookback + np.arange(split.horizon)  # [windows, horizon]
        target = series.values[steps][..., positions]  # the windows' steps only, never the whole series
        mask = series.mask[steps][..., positions]
        if average is not None:
            sums["historical average"] += horizon_sums(average.predict(series, block, **window), target, mask=mask)
        persistence = last_value(series, block, features=data.target_features, **window)
        sums["last value"] += horizon_sums(persistence, target, mask=mask)
    if average is None:
        del sums["historical average"]
    scores = {name: HorizonMetrics.from_sums(total) for name, total in sums.items()}
    return scores


@dataclass(frozen=True)
class Shortfall:
    """One reported lead time at which the model does not beat the better baseline.

    Attributes:
        metric: ``"mae"`` or ``"rmse"``.
        lead_time: ``"60 min"`` (:func:`~stgraph.metrics.report.horizon_label`), or ``"average"``.
        step: the horizon step, counted from 1; None for the average over all steps.
        model: the model's value, in the target's units.
        baseline: the better baseline's name (``"historical average"``).
        baseline_value: its value.
    """

    metric: str
    lead_time: str
    step: int | None
    model: float
    baseline: str
    baseline_value: float

    def line(self) -> str:
        """``warning: at 60 min the model's RMSE 9.83 is worse than historical average's 9.15``."""
        where = "averaged over the horizon," if self.step is None else f"at {self.lead_time}"
        verdict = "no better than" if self.model == self.baseline_value else "worse than"
        return (
            f"warning: {where} the model's {self.metric.upper()} {self.model:.2f} is {verdict} "
            f"{self.baseline}'s {self.baseline_value:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The entry in ``metrics.json``'s ``"shortfalls"`` list."""
        return asdict(self)


def compare_with_baselines(
    model: HorizonMetrics, baselines: Mapping[str, HorizonMetrics], interval: pd.Timedelta | None
) -> list[Shortfall]:
    """Every reported lead time where the model's MAE or RMSE is not below the better baseline's.

    "Not below" counts a tie as a shortfall: a model must be strictly better to be worth its
    training. Checked at each :data:`REPORT_STEPS` step within the horizon, then on the
    :meth:`HorizonMetrics.average`. A NaN (nothing observed, or a baseline with no reading to
    repeat) is not compared. An empty list means the model beats both baselines everywhere.
    """
    points: list[tuple[int | None, dict[str, float], dict[str, dict[str, float]]]] = [
        (step, model.at(step), {name: b.at(step) for name, b in baselines.items()})
        for step in REPORT_STEPS
        if step <= model.horizon
    ]
    points.append((None, model.average(), {name: b.average() for name, b in baselines.items()}))
    shortfalls = []
    for step, ours, theirs in points:
        lead_time = "average" if step is None else horizon_label(step, interval)
        for metric in ("mae", "rmse"):
            finite = {name: values[metric] for name, values in theirs.items() if math.isfinite(values[metric])}
            if not finite or not math.isfinite(ours[metric]):
                continue
            best = min(finite, key=finite.__getitem__)
            if ours[metric] >= finite[best]:
                shortfalls.append(Shortfall(metric, lead_time, step, ours[metric], best, finite[best]))
    return shortfalls


def split_key(name: str, part: str) -> str:
    """``name`` for the test split, ``name_<part>`` for another: ``split_key("baselines", "val")``."""
    return name if part == "test" else f"{name}_{part}"


@dataclass(frozen=True)
class Comparison:
    """A model's metrics on one split beside the baselines', and where it falls short.

    Attributes:
        part: the split (``"test"``, ``"val"``, ``"train"``).
        model: the model's metrics.
        baselines: :func:`score_baselines` of the same windows.
        shortfalls: :func:`compare_with_baselines`; empty when the model beats both.
        interval: the sampling interval, to name lead times.
    """

    part: str
    model: HorizonMetrics
    baselines: dict[str, HorizonMetrics]
    shortfalls: list[Shortfall]
    interval: pd.Timedelta | None

    @property
    def beats_baselines(self) -> bool:
        """True when the model's MAE and RMSE are below both baselines' at every reported lead time."""
        return not self.shortfalls

    def table(self, model_name: str, *, markdown: bool = False) -> str:
        """:func:`~stgraph.metrics.report.metrics_table` of the model, then each baseline."""
        return metrics_table({model_name: self.model, **self.baselines}, interval=self.interval, markdown=markdown)

    def warning_lines(self) -> list[str]:
        """One ``warning:`` line per shortfall, then :data:`IMPROVE_HINT`; none when the model wins."""
        return [s.line() for s in self.shortfalls] + [IMPROVE_HINT] if self.shortfalls else []

    def metrics_entries(self) -> dict[str, Any]:
        """The entries for ``metrics.json`` (schema in the module docstring)."""
        return {
            split_key("baselines", self.part): {
                baseline_key(name): metrics_summary(m, self.interval) for name, m in self.baselines.items()
            },
            split_key("beats_baselines", self.part): self.beats_baselines,
            split_key("shortfalls", self.part): [s.to_dict() for s in self.shortfalls],
        }


def compare_split(data: PreparedData, part: str, model: HorizonMetrics) -> Comparison:
    """Score the baselines on the windows of ``part`` and compare ``model`` (scored on the same) with them."""
    baselines = score_baselines(data, part)
    interval = data.series.interval
    return Comparison(part, model, baselines, compare_with_baselines(model, baselines, interval), interval)
