"""benchmarks/missing_inputs: the hiding functions on tiny arrays, and the hidden test windows are
the pipeline's own windows when nothing is hidden."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.missing_inputs.run import hidden_windows, hide_blocks, hide_points
from stgraph.pipeline.config import resolve_config
from stgraph.pipeline.data import prepare_data


def test_hide_points_hides_only_observed_readings_at_the_rate():
    observed = np.ones((50, 12, 20, 1), dtype=bool)
    observed[:, 0] = False
    hidden = hide_points(observed, seed=0, rate=0.25)
    assert hidden.shape == observed.shape and not hidden[:, 0].any()
    assert hidden[:, 1:].mean() == pytest.approx(0.25, abs=0.01)
    assert np.array_equal(hidden, hide_points(observed, seed=0, rate=0.25))  # seeded
    assert not hide_points(observed, seed=0, rate=0.0).any()


def test_hide_blocks_hides_one_consecutive_run_per_window_and_sensor():
    observed = np.ones((200, 6, 3, 2), dtype=bool)
    hidden = hide_blocks(observed, seed=1, block_steps=4)
    assert np.array_equal(hidden[..., 0], hidden[..., 1])  # all features of a sensor
    for window in range(200):
        for sensor in range(3):
            steps = np.flatnonzero(hidden[window, :, sensor, 0])
            assert 1 <= len(steps) <= 4 and np.array_equal(steps, np.arange(steps[0], steps[0] + len(steps)))
            # a run shorter than the block is cut by the window's edge
            assert len(steps) == 4 or steps[0] == 0 or steps[-1] == 5
    # a block as long as the window hides the whole window when it starts at 0 and never nothing
    whole = hide_blocks(np.ones((100, 3, 1, 1), dtype=bool), seed=0, block_steps=3)
    assert whole.any(axis=1).all() and whole.all(axis=1).any()
    partly = np.zeros((1, 6, 1, 1), dtype=bool)
    assert not hide_blocks(partly, seed=0, block_steps=4).any()  # missing readings stay missing, not "hidden"


@pytest.mark.parametrize("setting", ["zero", "mask"])
def test_nothing_hidden_gives_the_pipeline_test_windows(sample_dir, setting):
    config = resolve_config(model="stid", dataset="sample", overrides=[f"data.missing_inputs={setting}"])
    data = prepare_data(config.data)
    windows, missing = hidden_windows(data, "test", "as is", seed=0)
    expected = data.windows("test")
    indices = [0, 7, len(expected) - 1]
    for mine, theirs in zip(windows.batch(indices), expected.batch(indices), strict=True):
        torch.testing.assert_close(mine, theirs)
    assert missing == pytest.approx(1.0 - data.series.mask[data.split.test[0] : data.split.test[-1] + 12].mean(), abs=0.05)
    hidden, share = hidden_windows(data, "test", "points", seed=0)
    x_hidden = hidden.batch(indices)[0]
    assert share > missing + 0.2
    if setting == "mask":
        assert (x_hidden[..., -1] == 0).float().mean() > 0.2  # the observed channel knows
    torch.testing.assert_close(hidden.batch(indices)[1], expected.batch(indices)[1])  # targets unchanged
