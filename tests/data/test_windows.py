"""WindowDataset: values by hand, views of the series, split boundaries, batch fast path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from stgraph.data import SensorSeries, StandardScaler, WindowDataset, split_by_fraction
from stgraph.errors import SensorDataError, ShapeError


def make_series(steps=40, sensors=3, features=("flow", "speed")):
    rng = np.random.default_rng(0)
    values = rng.uniform(10.0, 70.0, size=(steps, sensors, len(features))).astype(np.float32)
    mask = rng.random(values.shape) > 0.1
    values[~mask] = 0.0
    timestamps = pd.date_range("2012-03-01 23:00", periods=steps, freq="5min")
    return SensorSeries(values, mask, timestamps, [f"s{i}" for i in range(sensors)], list(features))


def test_window_values_by_hand():
    series = make_series()
    scaler = StandardScaler().fit(series, steps=slice(0, 28))
    dataset = WindowDataset(series, lookback=4, horizon=3, scaler=scaler, target_features=["speed"])
    assert len(dataset) == 40 - 7 + 1
    x, y, mask = dataset[5]
    assert x.shape == (4, 3, 2) and y.shape == (3, 3, 1) and mask.shape == (3, 3, 1)
    np.testing.assert_allclose(x.numpy(), (series.values[5:9] - scaler.mean_) / scaler.std_, rtol=1e-5)
    np.testing.assert_array_equal(y.numpy(), series.values[9:12, :, 1:2])  # original units
    np.testing.assert_array_equal(mask.numpy(), series.mask[9:12, :, 1:2])
    assert mask.dtype == torch.bool
    assert (dataset.in_features, dataset.out_channels, dataset.num_sensors) == (2, 1, 3)
    torch.testing.assert_close(dataset.target_scaler.transform(y), (y - scaler.mean_[1]) / scaler.std_[1], check_dtype=False)
    assert list(dataset.forecast_times(5)) == list(series.timestamps[9:12])


def test_windows_are_views_of_the_series():
    series = make_series()
    scaled = WindowDataset(series, lookback=4, horizon=3, scaler=StandardScaler().fit(series))
    plain = WindowDataset(series, lookback=4, horizon=3)
    for dataset in (scaled, plain):
        x, y, mask = dataset[7]
        assert np.shares_memory(y.numpy(), series.values)
        assert np.shares_memory(mask.numpy(), series.mask)
        assert x.untyped_storage().data_ptr() == dataset.inputs.untyped_storage().data_ptr()
    assert np.shares_memory(plain[7][0].numpy(), series.values)  # no scaler: x is the series itself
    # the scaled inputs are one copy of the series, not one per window
    assert scaled.inputs.shape == series.values.shape
    # writing through a view shows in the series: proof it is not a copy
    y = plain[0][1]
    y[0, 0, 0] = -1.0
    assert series.values[4, 0, 0] == -1.0


def test_no_window_crosses_a_split():
    series = make_series(steps=120)
    split = split_by_fraction(series.num_steps, lookback=4, horizon=3)
    scaler = StandardScaler().fit(series, steps=split.train_steps)
    for part in ("train", "val", "test"):
        dataset = WindowDataset(series, lookback=4, horizon=3, starts=split.starts(part), scaler=scaler)
        steps = split.steps(part)
        for i in range(len(dataset)):
            start = int(dataset.starts[i])
            assert steps.start <= start and start + 4 + 3 <= steps.stop
        # the targets of the last window are the part's last steps at most
        last = dataset.forecast_times(len(dataset) - 1)[-1]
        assert last <= series.timestamps[steps.stop - 1]


def test_batch_matches_single_windows_and_default_collate():
    series = make_series()
    dataset = WindowDataset(series, lookback=4, horizon=3, scaler=StandardScaler().fit(series), covariates=["time_of_day"])
    indices = [0, 9, 3, 30]
    x, y, mask = dataset.batch(indices)
    assert x.shape == (4, 4, 3, 3) and y.shape == (4, 3, 3, 1)
    for row, index in enumerate(indices):
        single = dataset[index]
        torch.testing.assert_close(x[row], single[0])
        torch.testing.assert_close(y[row], single[1])
        assert torch.equal(mask[row], single[2])
    loader_x, loader_y, loader_mask = next(iter(DataLoader(dataset, batch_size=4, shuffle=False)))
    batch_x, batch_y, batch_mask = dataset.batch(range(4))
    torch.testing.assert_close(loader_x, batch_x)
    torch.testing.assert_close(loader_y, batch_y)
    assert torch.equal(loader_mask, batch_mask)


def test_covariates_appended_per_step():
    series = make_series()  # starts 23:00, so the day rolls over at step 12
    dataset = WindowDataset(series, lookback=4, horizon=3, covariates=["time_of_day", "day_of_week"])
    x, _, _ = dataset[10]
    assert x.shape == (4, 3, 4)
    # steps 10..13 are 23:50, 23:55, 00:00, 00:05; 2012-03-01 is a Thursday (3)
    expected_tod = np.array([23 * 60 + 50, 23 * 60 + 55, 0, 5]) / 1440
    for sensor in range(3):
        np.testing.assert_allclose(x[:, sensor, 2].numpy(), expected_tod, rtol=1e-6)
        np.testing.assert_array_equal(x[:, sensor, 3].numpy(), [3, 3, 4, 4])
    np.testing.assert_array_equal(x[:, :, :2].numpy(), series.values[10:14])
    table = np.arange(40, dtype=np.float32)[:, None]
    from_array = WindowDataset(series, lookback=4, horizon=3, covariates=table)
    np.testing.assert_array_equal(from_array[2][0][:, 1, 2].numpy(), [2, 3, 4, 5])


def test_tensor_input_and_errors():
    values = torch.arange(2 * 10 * 1, dtype=torch.float32).reshape(10, 2, 1)
    mask = torch.ones_like(values, dtype=torch.bool)
    dataset = WindowDataset((values, mask), lookback=2, horizon=2, starts=[0, 6])
    assert len(dataset) == 2 and dataset[1][1].data_ptr() == values[8:].data_ptr()
    with pytest.raises(
        SensorDataError,
        match=r"1 window starts do not fit 10 steps with lookback \+ horizon = 4 \(first: 7; valid starts are 0..6\)",
    ):
        WindowDataset((values, mask), lookback=2, horizon=2, starts=[0, 7])
    with pytest.raises(ShapeError, match=r"covariates must be \[time, K\]"):
        WindowDataset((values, mask), lookback=2, horizon=2, covariates=np.zeros((9, 1)))
    with pytest.raises(SensorDataError, match=r"covariates by name need a SensorSeries"):
        WindowDataset((values, mask), lookback=2, horizon=2, covariates=["time_of_day"])
    with pytest.raises(SensorDataError, match=r"no feature 'speed'"):
        WindowDataset((values, mask), target_features=["speed"])


def test_feature_index_out_of_range_is_an_error_naming_it():
    values = torch.zeros(30, 2, 1)
    with pytest.raises(SensorDataError, match="feature index 3 out of range for 1 features"):
        WindowDataset((values, torch.ones_like(values, dtype=torch.bool)), lookback=2, horizon=2, target_features=[3])


# --- missing inputs (data.missing_inputs) -----------------------------------------------------
def _gappy_series():
    """2 sensors, 1 feature, 6 steps at 5 minutes; sensor b misses steps 1 and 2 (stored 0)."""
    values = np.array([[10.0, 20.0], [12.0, 0.0], [14.0, 0.0], [16.0, 26.0], [18.0, 28.0], [20.0, 30.0]], dtype=np.float32)
    mask = values != 0
    timestamps = pd.date_range("2024-03-04 00:00", periods=6, freq="6h")
    return SensorSeries(values[..., None], mask[..., None], timestamps, ["a", "b"], ["speed"])


def test_mask_fills_the_training_mean_and_appends_observed_after_the_covariates():
    series = _gappy_series()
    scaler = StandardScaler().fit(series, steps=slice(0, 6))  # observed readings only: mean 19.4
    mean, std = float(scaler.mean_[0]), float(scaler.std_[0])
    assert mean == pytest.approx(194.0 / 10)
    options = {"lookback": 3, "horizon": 1, "scaler": scaler, "covariates": ["time_of_day"]}
    zero = WindowDataset(series, missing_inputs="zero", **options)
    mask = WindowDataset(series, missing_inputs="mask", **options)
    assert (zero.in_features, mask.in_features) == (2, 3)
    x_zero, y_zero, m_zero = zero[0]
    x_mask, y_mask, m_mask = mask[0]
    # sensor b, steps 0..2: 20, missing, missing
    expected_zero = [(20.0 - mean) / std, (0.0 - mean) / std, (0.0 - mean) / std]
    expected_mask = [(20.0 - mean) / std, 0.0, 0.0]
    np.testing.assert_allclose(x_zero[:, 1, 0].numpy(), expected_zero, rtol=1e-6)
    np.testing.assert_allclose(x_mask[:, 1, 0].numpy(), expected_mask, rtol=1e-6)
    # the covariate stays at position 1 (00:00, 06:00, 12:00); observed comes last
    np.testing.assert_array_equal(x_mask[:, 1, 1].numpy(), [0.0, 0.25, 0.5])
    np.testing.assert_array_equal(x_mask[:, 1, 1].numpy(), x_zero[:, 1, 1].numpy())
    np.testing.assert_array_equal(x_mask[:, :, 2].numpy(), [[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    # sensor a is fully observed: its readings are the same scaled values in both
    np.testing.assert_array_equal(x_mask[:, 0, 0].numpy(), x_zero[:, 0, 0].numpy())
    # targets and their mask do not depend on the setting
    assert torch.equal(y_zero, y_mask) and torch.equal(m_zero, m_mask)
    assert torch.equal(mask.batch([0, 2])[0][1], mask[2][0])


def test_mask_without_covariates_and_an_unknown_setting():
    series = _gappy_series()
    windows = WindowDataset(series, lookback=2, horizon=1, missing_inputs="mask")
    x, _, _ = windows[1]
    np.testing.assert_array_equal(x[:, 1].numpy(), [[0.0, 0.0], [0.0, 0.0]])  # unscaled: the fill is 0
    np.testing.assert_array_equal(x[:, 0].numpy(), [[12.0, 1.0], [14.0, 1.0]])
    with pytest.raises(ValueError, match=r"^data\.missing_inputs must be one of zero, mask, got 'nan'$"):
        WindowDataset(series, lookback=2, horizon=1, missing_inputs="nan")
