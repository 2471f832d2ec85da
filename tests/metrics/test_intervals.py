"""Pinball loss, coverage, width, Winkler score and CRPS against hand-computed values."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from stgraph.errors import ShapeError
from stgraph.metrics.intervals import check_coverage, check_quantiles, interval_metrics, pinball_loss


def test_pinball_loss_by_hand():
    # target 10; quantiles 0.1 -> 8 (under by 2: 0.1 * 2 = 0.2), 0.9 -> 13 (over by 3: 0.1 * 3 = 0.3)
    # target 5; 0.1 -> 6 (over by 1: 0.9 * 1 = 0.9), 0.9 -> 4 (under by 1: 0.9 * 1 = 0.9)
    forecast = np.array([[8.0, 13.0], [6.0, 4.0]])
    target = np.array([10.0, 5.0])
    assert pinball_loss(forecast, target, [0.1, 0.9]) == pytest.approx((0.2 + 0.3 + 0.9 + 0.9) / 4)


def test_pinball_loss_skips_masked_entries_in_value_and_gradient():
    forecast = torch.tensor([[8.0, 13.0], [1e6, -1e6]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([10.0, 0.0], dtype=torch.float64)  # 0 is the null value: the second row is not scored
    loss = pinball_loss(forecast, target, [0.1, 0.9])
    assert loss.item() == pytest.approx((0.2 + 0.3) / 2)
    loss.backward()
    # d/dq of 0.1 * (10 - q) is -0.1; of 0.1 * (q - 13) is +0.1; divided by the 2 scored terms
    np.testing.assert_allclose(forecast.grad.numpy(), [[-0.05, 0.05], [0.0, 0.0]])


def test_pinball_loss_with_nothing_observed_is_nan():
    assert math.isnan(pinball_loss(np.ones((2, 1)), np.zeros(2), [0.5]))
    assert torch.isnan(pinball_loss(torch.ones(2, 1), torch.zeros(2), [0.5]))


def test_median_pinball_is_half_the_mae():
    rng = np.random.default_rng(0)
    forecast, target = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert pinball_loss(forecast[..., None], target, [0.5], null_value=None) == pytest.approx(
        np.abs(forecast - target).mean() / 2
    )


def test_interval_scores_by_hand():
    # one window, two steps, one sensor, one channel; interval [8, 12] at 80 % (alpha 0.2, 2 / alpha = 10)
    lower = np.full((1, 2, 1, 1), 8.0)
    upper = np.full((1, 2, 1, 1), 12.0)
    target = np.array([10.0, 13.0]).reshape(1, 2, 1, 1)  # inside at step 1, 1 above at step 2
    levels = [0.1, 0.5, 0.9]
    quantiles = np.stack([lower, (lower + upper) / 2, upper], axis=-1)
    metrics = interval_metrics(lower, upper, target, coverage=0.8, quantile_forecast=quantiles, quantiles=levels)
    np.testing.assert_allclose(metrics.coverage, [1.0, 0.0])
    np.testing.assert_allclose(metrics.width, [4.0, 4.0])
    np.testing.assert_allclose(metrics.winkler, [4.0, 4.0 + 10 * 1.0])
    # step 1, y = 10: 0.1 * 2 + 0 + 0.1 * 2 = 0.4; step 2, y = 13: 0.1 * 5 + 0.5 * 3 + 0.9 * 1 = 2.9
    np.testing.assert_allclose(metrics.pinball, [0.4 / 3, 2.9 / 3])
    np.testing.assert_allclose(metrics.crps, [0.8 / 3, 5.8 / 3])
    assert metrics.average() == pytest.approx(
        {"coverage": 0.5, "width": 4.0, "winkler": 9.0, "crps": 6.6 / 6, "pinball": 3.3 / 6}
    )
    assert metrics.at(2)["winkler"] == pytest.approx(14.0)


def test_winkler_is_a_scaled_sum_of_two_pinball_losses():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(40, 3, 2, 1))
    centre = rng.normal(size=target.shape)
    lower, upper = centre - 0.5, centre + 0.7
    quantiles = np.stack([lower, upper], axis=-1)
    metrics = interval_metrics(
        lower, upper, target, coverage=0.9, quantile_forecast=quantiles, quantiles=[0.05, 0.95], null_value=None
    )
    # (alpha / 2) * Winkler = rho_{alpha/2}(y - l) + rho_{1-alpha/2}(y - u) = 2 * mean pinball of the two
    np.testing.assert_allclose(0.05 * metrics.winkler, 2 * metrics.pinball)


def test_masked_entries_change_nothing():
    target = np.array([10.0, 0.0, 13.0]).reshape(1, 3, 1, 1)
    lower, upper = np.full(target.shape, 8.0), np.full(target.shape, 12.0)
    other_lower = lower.copy()
    other_lower[0, 1] = 1e9  # at the null reading: not scored
    quantiles = np.stack([lower, upper], axis=-1)
    first = interval_metrics(lower, upper, target, coverage=0.8, quantile_forecast=quantiles, quantiles=[0.1, 0.9])
    second = interval_metrics(other_lower, upper, target, coverage=0.8, quantile_forecast=quantiles, quantiles=[0.1, 0.9])
    assert list(first.observed) == [1, 0, 1]
    assert math.isnan(first.coverage[1])
    np.testing.assert_array_equal(first.winkler, second.winkler)
    assert first.average()["coverage"] == pytest.approx(0.5)  # the empty step is skipped


def test_crps_of_many_normal_quantiles_matches_the_closed_form():
    # CRPS(N(mu, sigma^2), y) = sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)), z = (y - mu) / sigma
    sigma, levels = 2.0, np.arange(1, 1000) / 1000
    quantiles = norm.ppf(levels, scale=sigma)
    for y in (0.0, 1.5):
        z = y / sigma
        exact = sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
        target = np.full((1, 1, 1, 1), y)
        metrics = interval_metrics(
            np.full(target.shape, quantiles[49]),
            np.full(target.shape, quantiles[949]),
            target,
            coverage=0.9,
            quantile_forecast=np.broadcast_to(quantiles, (1, 1, 1, 1, len(levels))),
            quantiles=levels,
            null_value=None,
        )
        assert metrics.crps[0] == pytest.approx(exact, rel=2e-3)
    assert 2.0 * (math.sqrt(2) - 1) / math.sqrt(math.pi) == pytest.approx(0.4674, abs=1e-4)  # y = mu, by hand


def test_quantile_forecast_of_the_wrong_shape_is_named():
    with pytest.raises(ShapeError, match=r"target's shape \[2\] plus 3 quantiles; got \[2, 2\]"):
        pinball_loss(np.zeros((2, 2)), np.zeros(2), [0.1, 0.5, 0.9])


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        ([0.05, 1.0], r"quantiles must lie in \(0, 1\), got 1.0"),
        ([0.0, 0.5], r"quantiles must lie in \(0, 1\), got 0.0"),
        ([0.5, 0.05, 0.95], r"sorted increasing without repeats, got 0.05 after 0.5"),
        ([0.5, 0.5], r"got 0.5 after 0.5"),
        ([], r"non-empty list"),
    ],
)
def test_bad_quantiles_are_named(quantiles, message):
    with pytest.raises(ValueError, match=message):
        check_quantiles(quantiles)


@pytest.mark.parametrize("coverage", [0.0, 1.0, 1.5, -0.2])
def test_bad_coverage_is_named(coverage):
    with pytest.raises(ValueError, match=rf"coverage must be a fraction in \(0, 1\), got {coverage}"):
        check_coverage(coverage)


@pytest.mark.parametrize("horizon_axis", [1, 0])
def test_scores_summed_in_blocks_equal_the_whole(monkeypatch, horizon_axis):
    import stgraph.metrics.intervals as intervals

    rng = np.random.default_rng(5)
    target = rng.uniform(10, 70, size=(7, 3, 4, 1))
    target = np.moveaxis(target, 1, horizon_axis)
    mask = rng.random(target.shape) > 0.25
    forecast = target + rng.normal(size=target.shape)
    quantiles = np.stack([forecast - 2, forecast, forecast + 2], axis=-1)
    options = {"coverage": 0.8, "quantile_forecast": quantiles, "quantiles": [0.1, 0.5, 0.9], "mask": mask}
    whole = interval_metrics(forecast - 2, forecast + 2, target, horizon_axis=horizon_axis, **options)
    monkeypatch.setattr(intervals, "_BLOCK_ENTRIES", 7)  # blocks of under two rows
    blocks = interval_metrics(forecast - 2, forecast + 2, target, horizon_axis=horizon_axis, **options)
    for name in ("coverage", "width", "winkler", "crps", "pinball", "observed"):
        np.testing.assert_allclose(getattr(blocks, name), getattr(whole, name), rtol=1e-12)
    assert whole.observed.tolist() == np.moveaxis(mask, horizon_axis, 0).reshape(3, -1).sum(axis=1).tolist()


def test_one_array_per_level_scores_as_the_stacked_forecast():
    rng = np.random.default_rng(6)
    target = rng.uniform(10, 70, size=(5, 3, 4, 1))
    forecast = target + rng.normal(size=target.shape)
    lower, upper = forecast - 2, forecast + 2
    options = {"coverage": 0.8, "quantiles": [0.1, 0.5, 0.9]}
    stacked = interval_metrics(lower, upper, target, quantile_forecast=np.stack([lower, forecast, upper], -1), **options)
    parts = interval_metrics(lower, upper, target, quantile_forecast=[lower, forecast, upper], **options)
    np.testing.assert_allclose(parts.crps, stacked.crps, rtol=1e-12)
    np.testing.assert_allclose(parts.winkler, stacked.winkler, rtol=1e-12)
    with pytest.raises(ShapeError, match="quantile"):
        interval_metrics(lower, upper, target, quantile_forecast=[lower, upper], **options)


def test_a_mask_of_another_shape_is_named():
    target = np.ones((2, 3, 4, 1))
    with pytest.raises(ShapeError, match=r"mask must have the target's shape \[2, 3, 4, 1\]; got \[2, 3, 4\]"):
        interval_metrics(
            target,
            target,
            target,
            coverage=0.8,
            quantile_forecast=[target, target],
            quantiles=[0.1, 0.9],
            mask=target[..., 0] > 0,
        )
