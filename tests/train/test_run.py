"""``train()``: the finished run directory and the numbers in it, the refusals before anything is
written, what is left behind after an error, resuming, and the stopping rules (max_steps, time budget).

All on the 3-sensor toy data with a 4-unit T-GCN (4 training batches per epoch), CPU, one thread.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from stgraph import models
from stgraph.errors import RunError
from stgraph.metrics.masked import horizon_metrics
from stgraph.metrics.report import intervals_from_summary, intervals_table
from stgraph.pipeline.evaluate import predict_split
from stgraph.pipeline.model_file import load_model_file
from stgraph.report.export import load_predictions
from stgraph.train import run as run_module
from stgraph.train.callbacks import TimeBudget
from stgraph.train.run import is_rank_zero, train

pytestmark = [
    pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers"),
]


class _Fail(Callback):
    """Raises before training batch number ``at`` of the whole fit (0 = before any step)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.at:
            raise RuntimeError(f"failure at step {self.at}")


class _Diverge(Callback):
    """Makes every weight NaN after each step, as a far too high learning rate would."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        with torch.no_grad():
            for p in pl_module.parameters():
                p.fill_(math.nan)


def _quiet(line: str) -> None:
    pass


# --- a finished run ------------------------------------------------------------------------------------
def test_train_writes_a_finished_run_whose_numbers_agree(data, make_config, tmp_path):
    lines = []
    out = tmp_path / "run"
    result = train(make_config(epochs=2), out, data=data, echo=lines.append)

    assert result.run_dir == out and not (tmp_path / "run.partial").exists()
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert names == {
        "config.yaml",
        "model.pt",
        "last.ckpt",
        "calibration.npz",
        "metrics.json",
        "report.md",
        "predictions_test.npz",
        "sensors_test.csv",
        "plots",
        "plots/forecasts_test.png",
        "plots/error_by_horizon_test.png",
    }  # no sensor map: the toy graph has no coordinates

    summary = result.summary
    scores = [row["val_mae"] for row in summary["history"]]
    assert [row["epoch"] for row in summary["history"]] == [1, 2] and [row["step"] for row in summary["history"]] == [4, 8]
    assert summary["best_epoch"] == 1 + int(np.argmin(scores)) and summary["best_val_mae"] == min(scores)
    assert (summary["epochs_completed"], summary["global_step"]) == (2, 8)
    assert summary["windows"] == {"train": 31, "val": 7, "test": 7}
    assert (summary["model"], summary["data"], summary["interval"], summary["units"]) == ("tgcn", "toy", "5min", "km/h")
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(summary))

    # model.pt is the best epoch's model, and the test metrics are those of its forecasts
    best = load_model_file(out / "model.pt")
    assert best.state["val_mae"] == pytest.approx(summary["best_val_mae"]) and best.state["epoch"] + 1 == summary["best_epoch"]
    saved = load_predictions(out / "predictions_test.npz")
    again = predict_split(best.model, data, "test", batch_size=8)
    np.testing.assert_allclose(saved.prediction, again.prediction, rtol=1e-5)
    recomputed = horizon_metrics(saved.prediction, saved.target, mask=saved.mask)
    np.testing.assert_allclose(result.test.mae, recomputed.mae)
    assert summary["test"]["average"]["mae"] == pytest.approx(recomputed.average()["mae"])

    kwargs = {"num_sensors": 3, "in_features": 1, "out_channels": 1, "lookback": 4, "horizon": 2, "hidden": 4}
    parameters = sum(p.numel() for p in models.create("tgcn", **kwargs).parameters())
    assert lines[:3] == data.describe()
    assert lines[3] == f"model:    tgcn ({parameters:,} parameters), adam lr 0.01, batch 8, up to 2 epochs"
    assert lines[4].startswith("epoch   1/2  step      4  loss ") and lines[5].startswith("epoch   2/2  step      8")
    assert lines[6] == ""
    assert lines[7].startswith(f"best epoch {summary['best_epoch']} of 2 validated: val MAE {min(scores):.3f} km/h; 8 steps in ")
    assert lines[8] == "test (7 windows), masked metrics in original units, beside the baselines:"
    assert result.comparison is not None and lines[9] == result.comparison.table("tgcn")
    assert lines[10] == "test, 90% conformal intervals calibrated on validation, in original units:"
    assert lines[11] == intervals_table(intervals_from_summary(summary["intervals"]), interval="5min")
    assert lines[12:] == result.comparison.warning_lines()
    assert set(summary["baselines"]) == {"historical_average", "last_value"}
    assert summary["beats_baselines"] == (summary["shortfalls"] == [])


def test_max_steps_inside_the_first_epoch_still_validates_and_keeps_a_model(make_data, make_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no out: the run goes to runs/<data>-<model>-<time>
    lines = []
    config = make_config(epochs=5, max_steps=2, patience=1)
    result = train(config, data=make_data(test_share=0.0), echo=lines.append, show_table=True)
    assert result.run_dir.parent.as_posix() == "runs" and result.run_dir.name.startswith("toy-tgcn-")
    assert result.test is None and "test" not in result.summary  # a split without a test part
    assert (result.summary["global_step"], result.summary["best_epoch"]) == (2, 1)
    assert [(row["epoch"], row["step"]) for row in result.summary["history"]] == [(1, 2)]
    assert sorted(p.name for p in result.run_dir.iterdir()) == [
        "config.yaml",
        "last.ckpt",
        "metrics.json",
        "model.pt",
        "report.md",
    ]
    assert "No test windows were scored" in (result.run_dir / "report.md").read_text()
    assert "up to 5 epochs, at most 2 steps" in lines[3]
    assert not any(line.startswith("test (") for line in lines)


def test_train_prepares_the_data_from_the_configured_files(make_data, make_config, tmp_path):
    data = make_data(test_share=0.0)
    frame = pd.DataFrame(
        np.where(data.series.mask[..., 0], data.series.values[..., 0], np.nan),
        index=pd.Index(data.series.timestamps, name="timestamp"),
        columns=data.series.sensor_ids,
    )
    frame.to_csv(tmp_path / "readings.csv")
    np.save(tmp_path / "adjacency.npy", data.graph.adjacency.toarray())
    config = make_config(max_steps=1)
    config.data.readings, config.data.adjacency = str(tmp_path / "readings.csv"), str(tmp_path / "adjacency.npy")
    config.data.split = [0.6, 0.4, 0.0]
    lines = []
    result = train(config, tmp_path / "run", echo=lines.append)
    assert result.summary["windows"] == data.split.sizes() and result.summary["data"] == "readings"
    assert lines[:3] == data.describe()  # the same readings, graph and windows as the data built in memory
    state = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert state["sensor_ids"] == ["a", "b", "c"]
    np.testing.assert_allclose(state["scaler"]["mean"].numpy(), data.scaler.mean_, rtol=1e-6)
    # no test windows: the verdict is recorded as unknown, not left out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["baselines"], metrics["beats_baselines"], metrics["shortfalls"]) == (None, None, [])


# --- refusals before anything is written ------------------------------------------------------------------
def test_train_refuses_an_existing_run_directory(data, make_config, tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(RunError, match="already exists"):
        train(make_config(), tmp_path / "run", data=data, echo=pytest.fail)
    assert [p.name for p in tmp_path.iterdir()] == ["run"] and not any((tmp_path / "run").iterdir())


def test_train_refuses_resume_without_a_checkpoint(data, make_config, tmp_path):
    with pytest.raises(RunError, match=r"nothing to resume: .*run\.partial.last\.ckpt does not exist"):
        train(make_config(), tmp_path / "run", resume=True, data=data, echo=pytest.fail)
    assert list(tmp_path.iterdir()) == []


def test_train_refuses_to_restart_an_interrupted_run(data, make_config, tmp_path):
    partial = tmp_path / "run.partial"
    partial.mkdir()
    (partial / "last.ckpt").write_bytes(b"state")
    with pytest.raises(RunError, match="holds an interrupted run: continue it with --resume"):
        train(make_config(), tmp_path / "run", data=data, echo=pytest.fail)
    assert [p.name for p in partial.iterdir()] == ["last.ckpt"] and (partial / "last.ckpt").read_bytes() == b"state"


def test_the_run_directory_of_a_distributed_launch_wins_over_out(data, make_config, tmp_path, monkeypatch):
    (tmp_path / "launched").mkdir()
    monkeypatch.setenv("STGRAPH_RUN_DIR", str(tmp_path / "launched"))
    with pytest.raises(RunError, match="launched already exists"):
        train(make_config(), tmp_path / "asked", data=data, echo=pytest.fail)


# --- errors and resuming -------------------------------------------------------------------------------------
def test_an_error_before_the_first_step_leaves_nothing(data, make_config, tmp_path, monkeypatch):
    monkeypatch.delenv("STGRAPH_RUN_DIR", raising=False)
    lines = []
    with pytest.raises(RuntimeError, match="failure at step 0"):
        train(make_config(), tmp_path / "run", data=data, callbacks=[_Fail(at=0)], echo=lines.append)
    assert list(tmp_path.iterdir()) == []
    assert not any("interrupted" in line for line in lines)
    assert "STGRAPH_RUN_DIR" not in os.environ  # set for DDP workers during the run only


def test_an_interrupted_run_is_kept_and_resumes_to_the_end(data, make_config, tmp_path):
    out, partial = tmp_path / "run", tmp_path / "run.partial"
    lines = []
    with pytest.raises(RuntimeError, match="failure at step 6"):  # in the middle of the second epoch
        train(make_config(epochs=2), out, data=data, callbacks=[_Fail(at=6)], echo=lines.append, show_table=False)
    assert not out.exists()
    assert torch.load(partial / "last.ckpt", weights_only=True)["global_step"] == 6
    assert lines[-1] == f"run interrupted; its state is in {partial}: continue with `stgraph train --resume --out {out}`"

    result = train(make_config(epochs=2), out, resume=True, data=data, echo=_quiet, show_table=False)
    assert result.run_dir == out and out.is_dir() and not partial.exists()
    assert result.summary["global_step"] == 8
    # the first epoch's row came back with the checkpoint (the second row's epoch label is wrong:
    # test_callbacks.py::test_callbacks_label_the_epoch_resumed_in_its_middle)
    assert [row["step"] for row in result.summary["history"]] == [4, 8]


def test_a_run_whose_validation_is_never_finite_keeps_no_model(make_data, make_config, tmp_path):
    with pytest.raises(RuntimeError, match=r"validation masked MAE was never finite \(last NaN\); no model to keep"):
        train(make_config(epochs=1), tmp_path / "run", data=make_data(test_share=0.0), callbacks=[_Diverge()], echo=_quiet)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "run.partial" / "model.pt").exists()


# --- the time budget -------------------------------------------------------------------------------------------
def test_time_budget_stops_the_run_and_says_so(make_data, make_config, tmp_path, monkeypatch):
    ticks = iter(range(1000))
    monkeypatch.setattr(run_module, "TimeBudget", lambda seconds: TimeBudget(seconds, clock=lambda: float(next(ticks))))
    lines = []
    result = train(make_config(epochs=10, time_budget=6), tmp_path / "run", data=make_data(test_share=0.0), echo=lines.append)
    # one second per clock reading: epochs end at 2, 4, 6 (longest 1 s), and 6 + 1 > 6
    assert result.summary["epochs_completed"] == 3 and len(result.summary["history"]) == 3
    assert "stopped after 3 epochs: the next would have exceeded the time budget of 6 s" in lines


# --- ranks -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "zero"),
    [({}, True), ({"RANK": "0", "LOCAL_RANK": "0", "NODE_RANK": "0"}, True), ({"RANK": "1"}, False), ({"NODE_RANK": "2"}, False)],
)
def test_is_rank_zero_reads_the_launchers_environment(monkeypatch, env, zero):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_rank_zero() is zero


def test_other_ranks_neither_check_nor_build_the_run_directory(make_data, make_config, tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "run"
    out.mkdir()  # rank 0 would refuse it; another rank leaves the checks and the directory to rank 0
    lines = []
    train(make_config(max_steps=1), out, data=make_data(test_share=0.0), echo=lines.append)
    assert lines == [] and not any(out.iterdir())
    assert not (tmp_path / "run.partial" / "config.yaml").exists()
