"""benchmarks/intervals: every calibration of a trained toy model's intervals, scored on test, and
the summary's band verdict against hand-made coverages."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.intervals.score import score_methods, summary
from stgraph.metrics.intervals import IntervalMetrics
from stgraph.models import create
from stgraph.nn.quantile_head import QuantileHead
from stgraph.pipeline.calibration import SCALES
from stgraph.pipeline.evaluate import calibrate_run, interval_scores, predict_split, with_intervals
from tests.train.conftest import toy_data


def _metrics(coverage: list[float]) -> IntervalMetrics:
    steps = len(coverage)
    ones = np.ones(steps)
    return IntervalMetrics(np.asarray(coverage), 2 * ones, 3 * ones, ones, ones, np.full(steps, 10), nominal=0.9)


def test_summary_is_in_band_only_when_every_step_is():
    inside = summary(_metrics([0.88, 0.9, 0.92] + [0.9] * 9))
    assert inside["in_band"] and inside["coverage_min"] == 0.88 and inside["coverage_max"] == 0.92
    assert inside["coverage_3"] == 0.92 and inside["coverage_12"] == 0.9
    assert not summary(_metrics([0.879] + [0.9] * 11))["in_band"]
    assert not summary(_metrics([0.9] * 11 + [0.921]))["in_band"]


@pytest.mark.parametrize("quantiles", [None, (0.05, 0.5, 0.95)])
def test_every_method_is_the_pipelines_own_calibration(quantiles):
    data = toy_data()
    model = create("tgcn", num_sensors=3, in_features=1, out_channels=1, lookback=4, horizon=2, hidden=4)
    if quantiles is not None:
        model = QuantileHead(
            create("tgcn", num_sensors=3, in_features=1, out_channels=3, lookback=4, horizon=2, hidden=4),
            channels=1,
            quantiles=quantiles,
        )
    results = score_methods(model, data, 0.8)
    prefix = "split" if quantiles is None else "cqr"
    expected = [f"{prefix}, scale {scale}" for scale in SCALES]
    assert list(results) == ([] if quantiles is None else ["quantiles, uncalibrated"]) + expected
    test = predict_split(model, data, "test")
    for scale in SCALES:
        scores = interval_scores(with_intervals(test, calibrate_run(model, data, 0.8, scale=scale)), 0.8)
        assert results[f"{prefix}, scale {scale}"]["coverage"] == pytest.approx(list(scores.coverage))
    if quantiles is not None:  # the raw band: the 0.05 and 0.95 levels as they are
        inside = (test.quantiles[..., 0] <= test.target) & (test.target <= test.quantiles[..., 2])
        assert results["quantiles, uncalibrated"]["coverage"][1] == pytest.approx(inside[:, 1][test.mask[:, 1]].mean())
