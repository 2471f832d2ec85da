"""Both protocols end to end on a 5-sensor, 400-step series: one epoch, tiny models (seconds)."""

import json
import math

import pytest

from benchmarks.accuracy.__main__ import model_options
from benchmarks.accuracy.card import write_result
from benchmarks.accuracy.report import beats_baselines, dcrnn_markdown, tgcn_markdown
from benchmarks.accuracy.run import run_dcrnn_protocol, run_tgcn_protocol
from benchmarks.accuracy.training import TrainingSetup, curriculum_tau
from stgraph.train.schedules import inverse_sigmoid_decay

TINY = {"tgcn": {"hidden": 4}, "stgcn": {"channels": [[4, 2, 4], [4, 2, 4]]}}


def test_tgcn_protocol_smoke(tiny_loop, tmp_path):
    outcome = run_tgcn_protocol(tiny_loop, ["tgcn"], [0, 1], TrainingSetup(epochs=1, batch_size=32), shared_model=True, model_options=TINY)
    assert outcome["horizons"] == ["15 min", "30 min", "45 min", "60 min"]
    rmse = outcome["results"]["tgcn"]["15 min"]["rmse"]
    assert len(rmse) == 2 and all(math.isfinite(v) and v > 0 for v in rmse)
    for label, metrics in outcome["selected"]["tgcn"].items():  # best epoch never worse than the last
        assert all(s <= l + 1e-12 for s, l in zip(metrics["rmse"], outcome["results"]["tgcn"][label]["rmse"]))
    assert outcome["published"]["15 min"]["metrics"]["15 min"]["rmse"] == 5.1264
    table = tgcn_markdown(outcome)
    assert "| 15 min | T-GCN (paper) | 5.1264 | 3.1802" in table and "| 30 min | T-GCN (paper) † |" in table
    md, js = write_result("smoke", table, outcome, tmp_path)
    assert json.loads(js.read_text())["card"]["dataset"] == "los-loop" and md.read_text().startswith("| horizon")


def test_tgcn_protocol_one_model_per_horizon(tiny_loop):
    outcome = run_tgcn_protocol(tiny_loop, ["tgcn"], [0], TrainingSetup(epochs=1), horizons=(3, 6), model_options=TINY)
    assert list(outcome["results"]["tgcn"]) == ["15 min", "30 min"]
    assert outcome["card"]["horizons"] == "one model per pre_len 3/6 (15 min / 30 min)"


def test_dcrnn_protocol_smoke(tiny_loop):
    outcome = run_dcrnn_protocol(tiny_loop, ["stgcn"], [0], TrainingSetup(epochs=1, loss="mae"), model_options=TINY)
    assert set(outcome["results"]) == {"historical average", "last value", "stgcn"}
    assert outcome["horizons"] == ["15 min", "30 min", "60 min", "average"]
    assert outcome["card"]["split_windows"] == {"train": 280 - 23, "val": 40 - 23, "test": 80 - 23}
    assert set(beats_baselines(outcome)) == {"stgcn"}
    assert "| historical average | 15 min |" in dcrnn_markdown(outcome)
    assert outcome["published"] == []  # no published DCRNN-protocol rows for Los-loop


def test_curriculum_tau_halves_teacher_forcing_at_mid_run():
    tau = curriculum_tau(1000)
    assert inverse_sigmoid_decay(500, tau) == pytest.approx(0.5, abs=1e-6)


def test_model_options_parse_and_reject():
    assert model_options(["stgcn.dropout=0.1", "gwnet.adaptive=False"]) == {"stgcn": {"dropout": 0.1}, "gwnet": {"adaptive": False}}
    with pytest.raises(SystemExit, match="MODEL.KEY=VALUE"):
        model_options(["stgcn"])
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        model_options(["nope.hidden=3"])


def test_learning_rate_follows_the_milestones(tiny_loop):
    from benchmarks.accuracy.protocols import dcrnn_windows
    from benchmarks.accuracy.training import fit
    from stgraph import models

    windows = dcrnn_windows(tiny_loop.series)
    model = models.create("stgcn", num_sensors=tiny_loop.graph.num_sensors, in_features=windows.train[0][0].shape[-1],
                          **TINY["stgcn"])
    setup = TrainingSetup(epochs=3, lr=0.01, eps=1e-3, milestones=(1, 2), gamma=0.1, loss="mae")
    log = fit(model, tiny_loop.graph, windows.train, setup, scale=windows.scale)
    assert log.learning_rate == pytest.approx([0.01, 0.001, 0.0001])


@pytest.mark.parametrize("teacher_forcing", [True, False])
def test_dcrnn_teacher_forcing_can_be_turned_off(tiny_loop, monkeypatch, teacher_forcing):
    from benchmarks.accuracy.protocols import dcrnn_windows
    from benchmarks.accuracy.training import fit
    from stgraph import models
    from stgraph.models import DCRNN

    windows = dcrnn_windows(tiny_loop.series)
    model = models.create("dcrnn", num_sensors=tiny_loop.graph.num_sensors, in_features=windows.train[0][0].shape[-1], hidden=4)
    seen = []
    forward = DCRNN.forward

    def spy(self, x, graph, *, target=None, teacher_forcing=0.0):
        seen.append(teacher_forcing)
        return forward(self, x, graph, target=target, teacher_forcing=teacher_forcing)

    monkeypatch.setattr(DCRNN, "forward", spy)
    fit(model, tiny_loop.graph, windows.train, TrainingSetup(epochs=1, batch_size=64, loss="mae", teacher_forcing=teacher_forcing),
        scale=windows.scale)
    assert len(seen) == math.ceil(len(windows.train) / 64)
    # scheduled sampling decays step by step from above 0.5; turned off, the decoder always reads its forecasts
    if teacher_forcing:
        assert seen[0] > 0.5 and all(later < earlier for earlier, later in zip(seen, seen[1:]))
    else:
        assert set(seen) == {0.0}
