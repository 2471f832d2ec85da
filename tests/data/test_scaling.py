"""StandardScaler: observed training readings only, hand-computed statistics, round trips."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from stgraph.data import SensorSeries, StandardScaler, split_by_fraction
from stgraph.data.scaling import MaxScaler
from stgraph.data.windows import WindowDataset
from stgraph.errors import SensorDataError, ShapeError


def test_statistics_by_hand_skip_masked_readings():
    values = np.array([[[1.0, 10.0], [3.0, 0.0]], [[5.0, 30.0], [0.0, 20.0]]])  # [2 steps, 2 sensors, 2 features]
    mask = np.array([[[True, True], [True, False]], [[True, True], [False, True]]])
    scaler = StandardScaler().fit(values, mask)
    # feature 0 observed: 1, 3, 5 -> mean 3, population std sqrt(8/3); feature 1: 10, 30, 20 -> mean 20, std sqrt(200/3)
    np.testing.assert_allclose(scaler.mean_, [3.0, 20.0])
    np.testing.assert_allclose(scaler.std_, [np.sqrt(8 / 3), np.sqrt(200 / 3)])
    np.testing.assert_array_equal(scaler.count_, [3, 3])


def test_scaler_sees_only_training_steps():
    rng = np.random.default_rng(0)
    values = rng.normal(50.0, 5.0, size=(100, 4, 1)).astype(np.float32)
    timestamps = pd.date_range("2012-03-01", periods=100, freq="5min")
    split = split_by_fraction(100, lookback=3, horizon=3)
    base = StandardScaler().fit(SensorSeries(values, None, timestamps, list("abcd"), ["speed"]), steps=split.train_steps)
    poisoned = values.copy()
    poisoned[split.train_steps.stop :] = 1e6  # validation and test periods
    scaler = StandardScaler().fit(SensorSeries(poisoned, None, timestamps, list("abcd"), ["speed"]), steps=split.train_steps)
    np.testing.assert_array_equal(scaler.mean_, base.mean_)
    np.testing.assert_array_equal(scaler.std_, base.std_)
    train = values[:70].astype(np.float64)
    np.testing.assert_allclose(scaler.mean_, [train.mean()], rtol=1e-12)
    np.testing.assert_allclose(scaler.std_, [train.std()], rtol=1e-12)
    assert scaler.count_.tolist() == [70 * 4]


def test_masked_values_do_not_move_the_statistics():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(20, 3, 2))
    mask = rng.random((20, 3, 2)) > 0.3
    garbage = np.where(mask, values, 1e9)
    np.testing.assert_allclose(StandardScaler().fit(garbage, mask).mean_, StandardScaler().fit(values, mask).mean_)
    expected = [values[..., f][mask[..., f]].mean() for f in range(2)]
    np.testing.assert_allclose(StandardScaler().fit(values, mask).mean_, expected)


def test_per_sensor_statistics_and_sensor_without_training_readings(caplog):
    values = np.array([[[1.0], [10.0], [7.0]], [[3.0], [30.0], [7.0]]])
    mask = np.ones_like(values, dtype=bool)
    mask[:, 2] = False
    scaler = StandardScaler(per_sensor=True).fit(values, mask)
    assert scaler.mean_.shape == (3, 1)
    np.testing.assert_allclose(scaler.mean_[:2, 0], [2.0, 20.0])
    np.testing.assert_allclose(scaler.std_[:2, 0], [1.0, 10.0])
    # sensor 2 is never observed: pooled statistics of 1, 3, 10, 30
    pooled = np.array([1.0, 3.0, 10.0, 30.0])
    np.testing.assert_allclose(scaler.mean_[2, 0], pooled.mean())
    np.testing.assert_allclose(scaler.std_[2, 0], pooled.std())
    assert "no observed training reading" in caplog.text


def test_zero_std_is_guarded_and_empty_feature_is_an_error(caplog):
    values = np.full((4, 2, 2), 5.0)
    values[..., 1] = np.arange(8.0).reshape(4, 2)
    scaler = StandardScaler().fit(values)
    assert scaler.std_[0] == 1.0 and scaler.mean_[0] == 5.0
    assert np.isfinite(scaler.transform(values)).all()
    assert "standard deviation 0" in caplog.text
    mask = np.ones_like(values, dtype=bool)
    mask[..., 1] = False
    with pytest.raises(SensorDataError, match=r"feature\(s\) 1 have no observed reading"):
        StandardScaler().fit(values, mask)


def test_round_trip_numpy_and_torch_keep_type_and_dtype():
    rng = np.random.default_rng(2)
    values = rng.normal(40.0, 8.0, size=(30, 5, 2)).astype(np.float32)
    scaler = StandardScaler().fit(values)
    scaled = scaler.transform(values)
    assert isinstance(scaled, np.ndarray) and scaled.dtype == np.float32
    np.testing.assert_allclose(scaled.reshape(-1, 2).mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), values, rtol=1e-5)
    tensor = torch.from_numpy(values).double()
    back = scaler.inverse_transform(scaler.transform(tensor))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float64
    torch.testing.assert_close(back, tensor)
    np.testing.assert_allclose(scaler.transform(tensor).numpy(), scaled, rtol=1e-5, atol=1e-5)


def test_feature_subset_for_targets():
    values = np.stack([np.arange(10.0), np.arange(10.0) * 100], axis=-1)[:, None, :]  # [10, 1, 2]
    series = SensorSeries(values, None, pd.date_range("2018-01-01", periods=10, freq="5min"), ["s"], ["flow", "speed"])
    scaler = StandardScaler().fit(series)
    speed = scaler.subset(["speed"])
    assert speed.feature_names_ == ["speed"] and speed.mean_.tolist() == [450.0]
    y = torch.tensor([[[900.0]]])
    torch.testing.assert_close(speed.transform(y), scaler.transform(y, features=[1]))
    with pytest.raises(ShapeError, match=r"ending in \[2\], got shape \[1, 1, 1\]"):
        scaler.transform(y)
    with pytest.raises(SensorDataError, match=r"no feature 'volume'"):
        scaler.subset(["volume"])
    with pytest.raises(RuntimeError, match=r"not fitted"):
        StandardScaler().transform(values)


def test_state_dict_round_trip_through_weights_only_load(tmp_path):
    import torch

    from stgraph.data import StandardScaler

    values = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    scaler = StandardScaler(per_sensor=True).fit(values, steps=slice(0, 3))
    torch.save(scaler.state_dict(), tmp_path / "scaler.pt")
    restored = StandardScaler.from_state_dict(torch.load(tmp_path / "scaler.pt", weights_only=True))
    np.testing.assert_array_equal(restored.mean_, scaler.mean_)
    np.testing.assert_array_equal(restored.std_, scaler.std_)
    np.testing.assert_allclose(restored.inverse_transform(restored.transform(values)), values, rtol=1e-6)


# --- MaxScaler: T-GCN's division by the largest observed reading, 3 steps x 2 sensors by hand ---
def _series() -> SensorSeries:
    speed = [[60.0, 50.0], [70.0, 40.0], [65.0, 90.0]]
    flow = [[10.0, 20.0], [30.0, 5.0], [15.0, 25.0]]
    mask = np.ones((3, 2, 2), dtype=bool)
    mask[2, 1, 0] = False  # the 90 is not an observed reading
    return SensorSeries(
        values=np.stack([speed, flow], axis=-1).astype(np.float32),
        mask=mask,
        timestamps=pd.date_range("2012-03-01", periods=3, freq="5min"),
        sensor_ids=["a", "b"],
        feature_names=["speed", "flow"],
    )


def test_maxima_of_observed_readings_pooled_per_sensor_and_over_steps():
    series = _series()
    assert MaxScaler().fit(series).max_.tolist() == [70.0, 30.0]  # the masked 90 does not count
    assert MaxScaler(per_sensor=True).fit(series).max_.tolist() == [[70.0, 30.0], [50.0, 25.0]]
    assert MaxScaler().fit(series, steps=slice(0, 1)).max_.tolist() == [60.0, 20.0]


def test_transform_divides_and_inverse_multiplies():
    scaler = MaxScaler().fit(_series())
    x = np.array([[35.0, 15.0], [70.0, 3.0]])
    np.testing.assert_allclose(scaler.transform(x), [[0.5, 0.5], [1.0, 0.1]])
    z = torch.tensor([[0.5, 0.5]], dtype=torch.float32)
    torch.testing.assert_close(scaler.inverse_transform(z), torch.tensor([[35.0, 15.0]]))
    flow = scaler.subset(["flow"])
    assert isinstance(flow, MaxScaler) and flow.max_.tolist() == [30.0]
    np.testing.assert_allclose(flow.inverse_transform(flow.transform(np.array([[7.5]]))), [[7.5]])


def test_state_dict_round_trips_through_torch_load_weights_only():
    scaler = MaxScaler(per_sensor=True).fit(_series())
    buffer = io.BytesIO()
    torch.save(scaler.state_dict(), buffer)
    buffer.seek(0)
    again = MaxScaler.from_state_dict(torch.load(buffer, weights_only=True))
    assert isinstance(again, MaxScaler) and again.feature_names_ == ["speed", "flow"]
    np.testing.assert_array_equal(again.max_, scaler.max_)


def test_window_inputs_are_divided_and_targets_stay_in_original_units():
    series = _series()
    windows = WindowDataset(series, lookback=2, horizon=1, scaler=MaxScaler().fit(series))
    x, y, _ = windows[0]
    np.testing.assert_allclose(x.numpy(), series.values[:2] / np.array([70.0, 30.0]), rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), series.values[2:3, :, :1])
    assert windows.target_scaler.max_.tolist() == [70.0]


def test_a_maximum_that_cannot_scale_is_an_error():
    series = _series()
    values = series.values.copy()
    values[..., 1] = 0.0
    with pytest.raises(
        SensorDataError, match=r"MaxScaler: 1 statistic\(s\) without a positive maximum \(first: feature '1', maximum 0\.0\)"
    ):
        MaxScaler().fit(values, series.mask)  # an array: features by position
    mask = series.mask.copy()
    mask[:, 1, 1] = False  # sensor b has no observed flow
    with pytest.raises(SensorDataError, match=r"first: feature 'flow', sensor position 1, maximum -inf"):
        MaxScaler(per_sensor=True).fit(series, mask)
