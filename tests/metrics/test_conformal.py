"""The split-conformal quantile against hand-computed ranks."""

import math

import numpy as np
import pytest

from stgraph.metrics.conformal import conformal_quantile


def test_rank_is_ceil_n_plus_one_times_coverage():
    scores = np.array([0.5, 3.0, 1.0, 2.0, 4.0, 6.0, 5.0, 8.0, 7.0])  # n = 9
    # k = ceil(10 * 0.8) = 8 -> the 8th smallest of 0.5, 1, 2, ..., 8 is 7
    assert conformal_quantile(scores, 0.8) == 7.0
    # k = ceil(10 * 0.5) = 5 -> 4.0; exactly representable products are not rounded up
    assert conformal_quantile(scores, 0.5) == 4.0
    # k = ceil(10 * 0.95) = 10 > n: no finite threshold guarantees 95 %
    assert math.isinf(conformal_quantile(scores, 0.95))


def test_per_slice_thresholds_skip_nan_scores():
    scores = np.array([[1.0, 10.0], [2.0, np.nan], [3.0, 30.0], [4.0, 20.0]])  # samples along axis 0
    # column 0: n 4, k = ceil(5 * 0.6) = 3 -> 3; column 1: n 3, k = ceil(4 * 0.6) = 3 -> 30
    np.testing.assert_array_equal(conformal_quantile(scores, 0.6, axis=0), [3.0, 30.0])
    np.testing.assert_array_equal(conformal_quantile(scores.T, 0.6, axis=1), [3.0, 30.0])
    assert np.isnan(conformal_quantile(np.array([[np.nan], [np.nan]]), 0.5, axis=0)[0])


def test_empirical_coverage_on_exchangeable_scores_is_at_least_nominal():
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(400):
        calibration, test = rng.exponential(size=99), rng.exponential()
        hits.append(test <= conformal_quantile(calibration, 0.9))
    # exact coverage is k / (n + 1) = 90 / 100; 400 draws: within 4 standard errors
    assert abs(np.mean(hits) - 0.9) < 4 * math.sqrt(0.09 / 400)


@pytest.mark.parametrize("coverage", [0.0, 1.0, -0.1, 1.5])
def test_coverage_outside_the_unit_interval_is_named(coverage):
    with pytest.raises(ValueError, match=rf"coverage must be in \(0, 1\), got {coverage}"):
        conformal_quantile(np.ones(3), coverage)
