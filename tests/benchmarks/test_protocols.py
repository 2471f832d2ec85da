import numpy as np
import pytest
import torch

from benchmarks.accuracy.protocols import dcrnn_windows, tgcn_windows
from stgraph.errors import SensorDataError


def test_tgcn_windows_follow_the_official_code(tiny_loop):
    series = tiny_loop.series
    windows = tgcn_windows(series, pre_len=3)
    train_size = int(400 * 0.8)  # 320
    assert windows.train_steps == train_size
    # range(len(part) - seq_len - pre_len): the last window that would fit is left out
    assert windows.train.starts.tolist() == list(range(320 - 12 - 3))
    assert windows.test.starts.tolist() == list(range(320, 320 + 80 - 12 - 3))
    assert windows.max_value == pytest.approx(float(series.values.max()))
    x, y, _ = windows.test.batch(torch.tensor([0]))
    expected = series.values[320:332, :, :1] / windows.max_value
    np.testing.assert_allclose(x[0].numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(y[0].numpy(), series.values[332:335, :, :1] / windows.max_value, rtol=1e-6)


def test_tgcn_windows_need_room_for_a_window(tiny_loop):
    with pytest.raises(SensorDataError, match="tiny.csv: the test part has 80 steps"):
        tgcn_windows(tiny_loop.series, pre_len=70)


def test_dcrnn_windows_scale_inputs_on_training_steps_only(tiny_loop):
    series = tiny_loop.series
    windows = dcrnn_windows(series)
    train_end = windows.split.boundaries[0]
    speed = series.values[:train_end, :, 0]
    assert windows.scaler.mean_[0] == pytest.approx(speed.mean(), rel=1e-5)
    x, y, mask = windows.train.batch(torch.tensor([0]))
    assert x.shape == (1, 12, 5, 2)  # speed + time of day
    np.testing.assert_allclose(x[0, :, :, 0].numpy(), (series.values[:12, :, 0] - speed.mean()) / speed.std(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(windows.unscale(windows.scale(y)).numpy(), y.numpy(), rtol=1e-5)
    assert set(windows.test.starts.tolist()).isdisjoint(windows.train.starts.tolist())
