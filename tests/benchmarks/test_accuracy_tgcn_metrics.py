import numpy as np
import pytest

from benchmarks.accuracy.tgcn_metrics import tgcn_metrics
from stgraph.errors import ShapeError


def test_metrics_match_hand_computed_values():
    target = np.array([[1.0, 2.0], [3.0, 4.0]])
    forecast = np.array([[1.0, 3.0], [2.0, 4.0]])  # errors 0, -1, 1, 0
    scores = tgcn_metrics(target, forecast)
    assert scores["rmse"] == pytest.approx(np.sqrt(0.5))
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["accuracy"] == pytest.approx(1 - np.sqrt(2) / np.sqrt(30))
    assert scores["r2"] == pytest.approx(1 - 2 / 5)  # sum of squares about the mean 2.5: 5
    assert scores["var"] == pytest.approx(1 - 0.5 / 1.25)  # var of errors 0.5, of target 1.25


def test_metrics_pool_all_entries_whatever_the_shape():
    rng = np.random.default_rng(1)
    target, forecast = rng.random((4, 3, 6)), rng.random((4, 3, 6))
    assert tgcn_metrics(target, forecast) == pytest.approx(tgcn_metrics(target.reshape(-1, 6), forecast.reshape(-1, 6)))


def test_metrics_are_scale_free_except_rmse_and_mae():
    rng = np.random.default_rng(2)
    target, forecast = rng.random((5, 7)) + 1, rng.random((5, 7)) + 1
    small, large = tgcn_metrics(target, forecast), tgcn_metrics(70 * target, 70 * forecast)
    assert large["rmse"] == pytest.approx(70 * small["rmse"]) and large["mae"] == pytest.approx(70 * small["mae"])
    for name in ("accuracy", "r2", "var"):
        assert large[name] == pytest.approx(small[name])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ShapeError, match=r"\[2, 3\] and \[3, 2\]"):
        tgcn_metrics(np.zeros((2, 3)), np.zeros((3, 2)))
