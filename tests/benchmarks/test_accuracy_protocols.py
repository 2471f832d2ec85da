"""The protocols' data: T-GCN's cut and max scaling, and DCRNN's through the pipeline, from a data root."""

import numpy as np
import pytest
import torch

from benchmarks.accuracy.protocols import dcrnn_data, tgcn_data
from stgraph.errors import SensorDataError
from stgraph.pipeline import DataConfig
from stgraph.pipeline.data import load_readings_and_graph


def _tgcn(root, pre_len):
    series, graph, *_ = load_readings_and_graph(DataConfig(dataset="los-loop"), root=root)
    return series, tgcn_data(series, graph, pre_len, name="los-loop")


def test_tgcn_data_follows_the_official_code(tiny_root):
    series, data = _tgcn(tiny_root, pre_len=3)
    train, test = data.windows("train"), data.windows("test")
    # int(400 * 0.8) = 320 training steps; range(len(part) - seq_len - pre_len) leaves out the last window that would fit
    assert train.starts.tolist() == list(range(320 - 12 - 3))
    assert test.starts.tolist() == list(range(320, 320 + 80 - 12 - 3))
    assert data.split.sizes()["val"] == 0
    maximum = series.values.max()  # over the whole series, test steps included
    assert data.scaler.max_.tolist() == [pytest.approx(maximum)]
    x, y, _ = test.batch(torch.tensor([0]))
    np.testing.assert_allclose(x[0].numpy(), series.values[320:332] / maximum, rtol=1e-6)
    np.testing.assert_array_equal(y[0].numpy(), series.values[332:335])  # targets stay in mph
    np.testing.assert_allclose(test.target_scaler.transform(y)[0].numpy(), series.values[332:335] / maximum, rtol=1e-6)


@pytest.mark.parametrize("pre_len", [70, 68])  # 68: one window fits the 80 test steps, and T-GCN leaves it out
def test_tgcn_data_needs_room_for_a_window(tiny_root, pre_len):
    with pytest.raises(SensorDataError, match=rf"los_speed\.csv: the test part has 80 steps; no window of 12 \+ {pre_len} fits"):
        _tgcn(tiny_root, pre_len)


def test_dcrnn_data_scales_inputs_on_training_steps_only(tiny_root):
    data = dcrnn_data("los-loop", tiny_root)
    assert data.split.boundaries == (280, 320)  # round(0.7 * 400), 400 - round(0.2 * 400)
    speed = data.series.values[:280, :, 0]
    assert data.scaler.mean_[0] == pytest.approx(speed.mean(), rel=1e-5)
    x, y, _ = data.windows("train").batch(torch.tensor([0]))
    assert x.shape == (1, 12, 5, 2)  # speed + time of day
    np.testing.assert_allclose(
        x[0, :, :, 0].numpy(), (data.series.values[:12, :, 0] - speed.mean()) / speed.std(), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(x[0, :, 0, 1].numpy(), np.arange(12) / 288, rtol=1e-6)  # from 2012-03-01 00:00
    np.testing.assert_array_equal(y[0].numpy(), data.series.values[12:24])
    assert set(data.windows("test").starts.tolist()).isdisjoint(data.windows("train").starts.tolist())


def test_dcrnn_data_reads_the_given_root(tmp_path):
    with pytest.raises(SensorDataError, match=rf"Los-loop: readings file {tmp_path}/los-loop/los_speed\.csv not found"):
        dcrnn_data("los-loop", tmp_path)
