import math
import warnings

import numpy as np
import pytest
import torch

from stgraph.errors import ShapeError
from stgraph.metrics import horizon_metrics, masked_mae, masked_mape, masked_mse, masked_rmse, observed_mask

# Observed with null_value=0: entries 1 and 2 (entry 0 is the null value, entry 3 is NaN).
# Errors there: 2 - 3 = -1 and 3 - 1 = 2.
PRED = np.array([1.0, 2.0, 3.0, 4.0])
TARGET = np.array([0.0, 3.0, 1.0, np.nan])


def both_kinds(pred, target, **kwargs):
    """Yield (name, value) for the NumPy and the torch version of each metric."""
    for name, metric in (("mae", masked_mae), ("mse", masked_mse), ("rmse", masked_rmse), ("mape", masked_mape)):
        as_numpy = metric(pred, target, **kwargs)
        torch_kwargs = {k: torch.as_tensor(v) if k == "mask" else v for k, v in kwargs.items()}
        as_torch = metric(torch.as_tensor(pred), torch.as_tensor(target), **torch_kwargs)
        yield name, as_numpy, as_torch


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        # null 0: |e| = 1, 2 -> MAE 1.5; MSE 5/2; RMSE sqrt(5/2); MAPE (1/3 + 2/1) / 2
        ({}, {"mae": 1.5, "mse": 2.5, "rmse": math.sqrt(2.5), "mape": 7 / 6}),
        # NaN only: entry 0 counts (error 1); MAPE still skips the zero target
        ({"null_value": None}, {"mae": 4 / 3, "mse": 2.0, "rmse": math.sqrt(2.0), "mape": 7 / 6}),
        ({"null_value": float("nan")}, {"mae": 4 / 3, "mse": 2.0, "rmse": math.sqrt(2.0), "mape": 7 / 6}),
        # explicit mask: entries 0 and 2 (entry 3 stays out: NaN target); errors 1 and 2
        ({"mask": np.array([True, False, True, True])}, {"mae": 1.5, "mse": 2.5, "rmse": math.sqrt(2.5), "mape": 2.0}),
    ],
)
def test_hand_computed_values_numpy_and_torch(kwargs, expected):
    for name, as_numpy, as_torch in both_kinds(PRED, TARGET, **kwargs):
        assert isinstance(as_numpy, float)
        assert isinstance(as_torch, torch.Tensor) and as_torch.ndim == 0
        assert as_numpy == pytest.approx(expected[name], rel=1e-12), name
        assert as_torch.item() == pytest.approx(expected[name], rel=1e-12), name


def test_matches_reference_formula_mean_of_loss_times_normalised_mask():
    # DCRNN / Graph WaveNet compute mean(loss * mask / mean(mask)); ours is sum / count.
    rng = np.random.default_rng(0)
    target = rng.uniform(20, 70, size=(8, 12, 5, 1))
    target[rng.random(target.shape) < 0.2] = 0.0
    pred = target + rng.normal(size=target.shape)
    mask = (target != 0).astype(np.float64)
    mask /= mask.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        reference_mape = np.mean(np.nan_to_num(mask * np.abs((pred - target) / target)))
    assert masked_mae(pred, target) == pytest.approx(np.mean(mask * np.abs(pred - target)), rel=1e-12)
    assert masked_rmse(pred, target) == pytest.approx(np.sqrt(np.mean(mask * (pred - target) ** 2)), rel=1e-12)
    assert masked_mape(pred, target) == pytest.approx(reference_mape, rel=1e-12)


def test_mse_has_a_finite_gradient_where_every_error_is_zero():
    pred = torch.tensor([3.0, 1.0], requires_grad=True)
    masked_mse(pred, torch.tensor([3.0, 1.0])).backward()
    assert pred.grad.tolist() == [0.0, 0.0]  # rmse ** 2 would give NaN here (d sqrt at 0)


def test_all_masked_gives_nan_without_warnings():
    target = np.array([[0.0, np.nan], [0.0, 0.0]])
    pred = np.ones_like(target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, as_numpy, as_torch in both_kinds(pred, target):
            assert math.isnan(as_numpy), name
            assert torch.isnan(as_torch), name
        assert math.isnan(masked_mae(pred, target, mask=np.zeros((2, 2), dtype=bool)))


def test_masked_out_predictions_do_not_affect_value_or_gradient():
    target = torch.tensor([[0.0, 50.0], [60.0, float("nan")]], dtype=torch.float64)
    base = torch.tensor([[1.0, 52.0], [57.0, 9.0]], dtype=torch.float64)
    wild = base.clone()
    wild[0, 0] = float("nan")  # where the target is the null value
    wild[1, 1] = float("inf")  # where the target is NaN
    for metric in (masked_mae, masked_rmse, masked_mape):
        assert metric(wild, target).item() == pytest.approx(metric(base, target).item(), rel=1e-12)
        assert metric(wild.numpy(), target.numpy()) == pytest.approx(metric(base.numpy(), target.numpy()), rel=1e-12)
    pred = wild.clone().requires_grad_(True)
    masked_mae(pred, target).backward()
    # d MAE / d pred = sign(error) / 2 at the two observed entries, exactly 0 elsewhere
    expected = torch.tensor([[0.0, 0.5], [-0.5, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(pred.grad, expected)


def test_nan_prediction_at_observed_entry_is_not_hidden():
    assert math.isnan(masked_mae(np.array([np.nan, 1.0]), np.array([5.0, 2.0])))


def test_numpy_and_torch_agree_on_random_data():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 70, size=(4, 12, 6, 2))
    target[rng.random(target.shape) < 0.1] = 0.0
    target[rng.random(target.shape) < 0.05] = np.nan
    pred = rng.uniform(0, 70, size=target.shape)
    for name, as_numpy, as_torch in both_kinds(pred, target):
        assert as_torch.item() == pytest.approx(as_numpy, rel=1e-12), name


def test_torch_float32_result_keeps_dtype_and_device():
    pred = torch.tensor([1.0, 2.0], requires_grad=True)
    value = masked_mae(pred, np.array([2.0, 0.0]))  # mixed: target converted to a tensor
    assert value.dtype == torch.float32 and value.requires_grad
    assert value.item() == pytest.approx(1.0)


def test_shape_and_mask_errors_name_the_shapes():
    with pytest.raises(ShapeError, match=r"pred \[2, 3\], target \[3, 2\]"):
        masked_mae(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"target's shape \[2\]; got \[3\]"):
        masked_rmse(np.zeros(2), np.ones(2), mask=np.ones(3, dtype=bool))
    with pytest.raises(ShapeError, match="must be bool"):
        masked_mape(np.zeros(2), np.ones(2), mask=np.ones(2))


def test_observed_mask_kinds():
    assert observed_mask(TARGET).tolist() == [False, True, True, False]
    assert observed_mask(torch.tensor(TARGET), null_value=None).tolist() == [True, True, True, False]


def test_horizon_metrics_per_step_equals_metrics_on_each_slice():
    rng = np.random.default_rng(2)
    target = rng.uniform(10, 70, size=(5, 4, 3, 1))
    target[rng.random(target.shape) < 0.3] = 0.0
    target[:, 2] = 0.0  # step 3 entirely missing
    pred = target + rng.normal(size=target.shape)
    result = horizon_metrics(pred, target)
    assert result.horizon == 4
    assert result.observed.tolist() == [int((target[:, h] != 0).sum()) for h in range(4)]
    assert result.observed[2] == 0
    for h in (0, 1, 3):
        assert result.mae[h] == pytest.approx(masked_mae(pred[:, h], target[:, h]), rel=1e-12)
        assert result.rmse[h] == pytest.approx(masked_rmse(pred[:, h], target[:, h]), rel=1e-12)
        assert result.mape[h] == pytest.approx(masked_mape(pred[:, h], target[:, h]), rel=1e-12)
    assert np.isnan([result.mae[2], result.rmse[2], result.mape[2]]).all()
    assert result.at(4)["rmse"] == result.rmse[3]
    # average = mean of per-step values over the steps with observations (Graph WaveNet)
    average = result.average()
    assert average["rmse"] == pytest.approx(np.mean(result.rmse[[0, 1, 3]]), rel=1e-12)
    assert average["rmse"] != pytest.approx(masked_rmse(pred, target), rel=1e-6)  # not pooled
    torch_result = horizon_metrics(torch.tensor(pred, dtype=torch.float64), torch.tensor(target))
    np.testing.assert_allclose(torch_result.mae, result.mae, rtol=1e-12)


def test_horizon_metrics_scored_in_blocks_equal_the_whole(monkeypatch):
    import stgraph.metrics.masked as masked

    rng = np.random.default_rng(4)
    target = rng.uniform(10, 70, size=(9, 3, 5, 2)).astype(np.float32)
    mask = rng.random(target.shape) > 0.2
    pred = target + rng.normal(size=target.shape).astype(np.float32)
    whole = horizon_metrics(pred, target, mask=mask)
    monkeypatch.setattr(masked, "_metric_block", lambda step: 2)  # 2 windows at a time, a ragged last block
    blocks = horizon_metrics(pred, target, mask=mask)
    for name in ("mae", "rmse", "mape", "observed"):
        np.testing.assert_allclose(getattr(blocks, name), getattr(whole, name), rtol=1e-12)
    assert blocks.observed.tolist() == mask.sum(axis=(0, 2, 3)).tolist()


def test_horizon_metrics_axis_and_hand_values():
    # [horizon=2, nodes=2]: step 1 errors 1, 3 -> MAE 2, RMSE sqrt(5); step 2 all missing
    pred = np.array([[11.0, 23.0], [5.0, 5.0]])
    target = np.array([[10.0, 20.0], [0.0, 0.0]])
    result = horizon_metrics(pred, target, horizon_axis=0)
    assert result.mae[0] == 2.0 and result.rmse[0] == pytest.approx(math.sqrt(5))
    assert result.mape[0] == pytest.approx((0.1 + 0.15) / 2)
    assert result.average() == pytest.approx({"mae": 2.0, "rmse": math.sqrt(5), "mape": 0.125})
    empty = horizon_metrics(pred, np.zeros_like(pred), horizon_axis=0)
    assert all(math.isnan(v) for v in empty.average().values())
    with pytest.raises(ShapeError, match=r"step must be in 1..2"):
        result.at(3)
    with pytest.raises(ShapeError, match="horizon_axis 2"):
        horizon_metrics(pred, target, horizon_axis=2)


def test_raw_metr_la_zeros_are_masked(sample_dir):
    # Los-loop is METR-LA with its zero (missing) readings filled in; where the raw reading
    # is non-zero the two agree (to float32 precision: the raw JSON went through float32),
    # so only the masking makes the error vanish.
    import pandas as pd

    raw = pd.read_csv(sample_dir / "metr-la-raw100.csv.gz", index_col=0)
    filled = pd.read_csv(sample_dir / "readings.csv.gz", index_col=0).iloc[: len(raw)]
    raw_values, filled_values = raw.to_numpy(), filled[raw.columns].to_numpy()
    assert (raw_values == 0).mean() == pytest.approx(0.0312, abs=1e-3)
    assert masked_mae(filled_values, raw_values, null_value=0.0) < 1e-6
    assert masked_mae(filled_values, raw_values, null_value=None) > 1.0
