"""Coverage of one trained model's 90 % intervals on test, for every way of calibrating them.

For a point model: split conformal with each locally weighted scale of
:data:`stgraph.pipeline.calibration.SCALES` (``none`` is plain split conformal). For a quantile
model: its own levels as they came out of training (uncalibrated), then CQR with each scale.
Every calibration is fitted once on the validation split (the scale on the training split) and
scored on the test split with :func:`stgraph.pipeline.evaluate.interval_scores`; no model is
retrained between methods.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from stgraph.metrics.intervals import IntervalMetrics
from stgraph.metrics.report import REPORT_STEPS
from stgraph.pipeline.calibration import SCALES, interval_levels
from stgraph.pipeline.data import PreparedData
from stgraph.pipeline.evaluate import SCALE_WINDOWS, calibrate_forecasts, interval_scores, predict_split, with_intervals

__all__ = ["HIGH", "LOW", "score_methods", "summary"]

#: the target band for a 90 % interval (issue 15): every horizon step's test coverage inside it
LOW, HIGH = 0.88, 0.92


def summary(scores: IntervalMetrics) -> dict[str, Any]:
    """Coverage per reported step and over all steps, width and Winkler score on average."""
    average = scores.average()
    return {
        "coverage": [float(c) for c in scores.coverage],
        **{f"coverage_{step}": float(scores.coverage[step - 1]) for step in REPORT_STEPS if step <= scores.horizon},
        "coverage_min": float(scores.coverage.min()),
        "coverage_max": float(scores.coverage.max()),
        "coverage_average": average["coverage"],
        "width": average["width"],
        "winkler": average["winkler"],
        "in_band": bool(scores.coverage.min() >= LOW and scores.coverage.max() <= HIGH),
    }


def score_methods(model: torch.nn.Module, data: PreparedData, coverage: float = 0.9) -> dict[str, dict[str, Any]]:
    """``{method: summary}`` on the test split for every calibration of ``model``'s intervals."""
    test = predict_split(model, data, "test")
    results: dict[str, dict[str, Any]] = {}
    if test.quantiles is not None and test.levels is not None:
        low, high = interval_levels(coverage)
        levels = list(test.levels)
        lower, upper = (
            levels.index(min(levels, key=lambda q: abs(q - low))),
            levels.index(min(levels, key=lambda q: abs(q - high))),
        )
        raw = dataclasses.replace(test, lower=test.quantiles[..., lower], upper=test.quantiles[..., upper])
        results["quantiles, uncalibrated"] = summary(interval_scores(raw, coverage))
    prefix = "split" if test.quantiles is None else "cqr"
    validation = predict_split(model, data, "val")
    training = predict_split(model, data, "train", limit=SCALE_WINDOWS)
    for scale in SCALES:
        calibration = calibrate_forecasts(validation, training, coverage, scale=scale)
        results[f"{prefix}, scale {scale}"] = summary(interval_scores(with_intervals(test, calibration), coverage))
    return results
