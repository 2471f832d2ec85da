"""End to end through the command line on the committed sample: train, evaluate, predict, resume,
and bad readings that must fail before training without leaving a run directory behind.

A tiny STGCN and a handful of optimiser steps keep this to seconds; the numbers are not the
point, the files, shapes, timestamps and agreement between the code paths are.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stgraph.cli.main import main
from stgraph.errors import SensorDataError
from stgraph.metrics.masked import horizon_metrics
from stgraph.pipeline.compare import IMPROVE_HINT
from stgraph.report.export import load_predictions

TINY = [
    "--model", "stgcn",
    "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=16", "training.threads=1",
    "--accelerator", "cpu", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def sample_env(sample_dir):
    """Point the data root at the checkout's datasets/ folder, where the sample lives."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", str(sample_dir.parent))
        yield sample_dir


@pytest.fixture(scope="module")
def sample_frame(sample_dir) -> pd.DataFrame:
    return pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp", parse_dates=True)


@pytest.fixture(scope="module")
def trained_run(sample_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(["train", "--dataset", "sample", *TINY, "--max-steps", "3", "--out", str(out)])
    assert code == 0
    return out


def _own_data_args(sample_dir, readings) -> list[str]:
    return [
        "--readings",
        str(readings),
        "--adjacency",
        str(sample_dir / "adjacency.npz"),
        "--sensors",
        str(sample_dir / "sensor_locations.csv"),
    ]


# --- train ---------------------------------------------------------------------------------
def test_train_writes_a_complete_run(trained_run, sample_frame):
    names = {p.relative_to(trained_run).as_posix() for p in trained_run.rglob("*")}
    assert {"config.yaml", "model.pt", "last.ckpt", "metrics.json", "report.md", "predictions_test.npz"} <= names
    assert {"plots/forecasts_test.png", "plots/error_by_horizon_test.png", "plots/sensor_map_test.png"} <= names
    assert not trained_run.with_name("tiny.partial").exists()

    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["global_step"] == 3 and metrics["model"] == "stgcn" and metrics["units"] == "mph"
    # three steps stop inside the first epoch: it is epoch 1, not the epoch Lightning moved on to
    assert metrics["best_epoch"] == 1 and [row["epoch"] for row in metrics["history"]] == [1]
    assert [metrics["test"][f"step_{s}"]["lead_time"] for s in (3, 6, 12)] == ["15 min", "30 min", "60 min"]
    # the reported numbers are the masked metrics of the saved test predictions
    predictions = load_predictions(trained_run / "predictions_test.npz")
    assert predictions.prediction.shape == (380, 12, 207, 1)
    recomputed = horizon_metrics(predictions.prediction, predictions.target, mask=predictions.mask)
    assert metrics["test"]["step_12"]["mae"] == pytest.approx(recomputed.mae[11])
    assert metrics["test"]["average"]["rmse"] == pytest.approx(recomputed.average()["rmse"])

    # both baselines, scored on the same windows, in blocks shaped like the model's
    assert set(metrics["baselines"]) == {"historical_average", "last_value"}
    for block in metrics["baselines"].values():
        assert set(block) == set(metrics["test"]) and block["step_12"].keys() == metrics["test"]["step_12"].keys()
        assert block["per_step"]["observed"] == metrics["test"]["per_step"]["observed"]
    assert isinstance(metrics["beats_baselines"], bool) and metrics["beats_baselines"] == (metrics["shortfalls"] == [])
    # last value 15 min ahead, from the raw file: test windows start at 1613 (= 2016 - round(0.2 * 2016))
    speeds = sample_frame.to_numpy()  # the mean over all sensors does not depend on their order
    starts = np.arange(1613, 2016 - 24 + 1)
    expected = np.abs(speeds[starts + 11 + 3] - speeds[starts + 11]).mean()
    assert metrics["baselines"]["last_value"]["step_3"]["mae"] == pytest.approx(expected, rel=1e-5)
    report = (trained_run / "report.md").read_text()
    assert "## Test split: the model beside the baselines" in report and "| last value | 60 min |" in report
    assert "![test error by lead time](plots/error_by_horizon_test.png)" in report
    assert "### The 10 with the largest MAE" in report and "![test MAE by sensor](plots/sensor_map_test.png)" in report


def test_an_under_trained_model_ends_with_a_warning_per_shortfall(sample_env, tmp_path, capsys):
    out = tmp_path / "untrained"
    argv = ["train", "--dataset", "sample", *TINY, "--set", "training.lr=1e-9", "--max-steps", "1", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out.rstrip().splitlines()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["beats_baselines"] is False
    # an untrained model forecasts about the training mean: worse everywhere it is reported
    shortfalls = metrics["shortfalls"]
    assert {(s["metric"], s["lead_time"]) for s in shortfalls} == {
        (metric, lead) for metric in ("mae", "rmse") for lead in ("15 min", "30 min", "60 min", "average")
    }
    warnings = [line for line in printed if line.startswith(("warning: at ", "warning: averaged"))]  # not the graph's
    # the training output ends with them and the hint; the command then names the run directory
    # and ends on the verdict
    assert len(warnings) == len(shortfalls) == 8 and printed[-4].startswith("what to try: train longer")
    assert printed[-12:-4] == warnings and printed[-3:-1] == ["", f"run written to {out}"]
    assert printed[-1] == (
        f"warning: this model does not beat the baselines (8 shortfalls listed above); "
        f"do not use its forecasts before it does (see {out / 'report.md'})"
    )
    for line, shortfall in zip(warnings, shortfalls):
        where = "averaged over the horizon," if shortfall["step"] is None else f"at {shortfall['lead_time']}"
        assert line == (
            f"warning: {where} the model's {shortfall['metric'].upper()} {shortfall['model']:.2f} is worse than "
            f"{shortfall['baseline']}'s {shortfall['baseline_value']:.2f}"
        )
        assert shortfall["model"] > shortfall["baseline_value"]
        assert (
            shortfall["model"]
            == metrics["test"][f"step_{shortfall['step']}" if shortfall["step"] else "average"][shortfall["metric"]]
        )
    assert re.search(
        r"^warning: at 60 min the model's RMSE [\d.]+ is worse than (historical average|last value)'s [\d.]+$",
        "\n".join(warnings),
        re.M,
    )
    assert "**Verdict: the model does not beat the baselines.**" in (out / "report.md").read_text()


def test_config_yaml_is_fully_resolved(trained_run):
    config = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert config["data"]["dataset"] == "sample"
    assert config["model"]["channels"] == [[4, 2, 4], [4, 2, 4]]  # --set
    assert config["model"]["temporal_kernel"] == 3  # packaged stgcn.yaml
    assert config["training"]["max_steps"] == 3 and config["training"]["optimizer"] == "rmsprop"
    assert config["data"]["batch_size"] == 16


def test_checkpoints_load_with_weights_only(trained_run, sample_frame):
    from stgraph import models
    from stgraph.pipeline.model_file import graph_from_state

    state = torch.load(trained_run / "model.pt", weights_only=True)
    assert state["sensor_ids"] == list(sample_frame.columns)
    graph = graph_from_state(state["graph"], state["sensor_ids"])  # checks the stored fingerprint
    assert graph.coordinates.shape == (207, 2) and graph.adjacency.nnz == 1722
    assert state["data"]["interval"] == "5min" and state["data"]["lookback"] == 12
    # scaler statistics: observed training readings only (first round(0.7 * 2016) steps)
    train_values = sample_frame.to_numpy()[: round(0.7 * len(sample_frame))]
    assert state["scaler"]["mean"].numpy() == pytest.approx([train_values.mean()], rel=1e-9)
    assert state["scaler"]["std"].numpy() == pytest.approx([train_values.std()], rel=1e-9)
    # the model rebuilds from the registry name and kwargs alone
    model = models.create(state["model"]["name"], **state["model"]["kwargs"])
    model.load_state_dict(state["state_dict"])
    # Lightning's resume checkpoint is weights_only-safe too
    last = torch.load(trained_run / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3


# --- evaluate ------------------------------------------------------------------------------------
def test_evaluate_rescores_the_same_numbers(trained_run, capsys):
    before_file = json.loads((trained_run / "metrics.json").read_text())
    before, before_baselines = before_file["test"], before_file["baselines"]
    assert main(["evaluate", str(trained_run), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "60 min" in out and "average" in out
    after = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert after["step_3"]["mae"] == pytest.approx(before["step_3"]["mae"], rel=1e-6)

    assert re.search(r"^historical average\s+60 min", out, re.M) and re.search(r"^last value\s+average", out, re.M)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["baselines"]["last_value"]["step_3"]["mae"] == pytest.approx(before_baselines["last_value"]["step_3"]["mae"])
    if metrics["shortfalls"]:
        assert out.rstrip().endswith(IMPROVE_HINT) and out.count("\nwarning: ") == len(metrics["shortfalls"])
    else:
        assert "warning:" not in out

    (trained_run / "report.md").unlink()
    assert main(["evaluate", str(trained_run), "--split", "val", "--threads", "1"]) == 0
    val = load_predictions(trained_run / "predictions_val.npz")
    assert val.prediction.shape[0] == 179
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert "val" in metrics and set(metrics["baselines_val"]) == {"historical_average", "last_value"}
    assert metrics["beats_baselines_val"] == (metrics["shortfalls_val"] == [])
    report = (trained_run / "report.md").read_text()  # rewritten, now with the validation split too
    assert report.index("## Test split") < report.index("## Val split") and "plots/error_by_horizon_val.png" in report


# --- predict -------------------------------------------------------------------------------------
def test_predict_forecasts_the_next_hour_for_every_sensor(trained_run, sample_frame, tmp_path, capsys):
    predictions = load_predictions(trained_run / "predictions_test.npz")
    window = 7
    first_target = predictions.first_step[window]
    recent = sample_frame.loc[first_target - pd.Timedelta("60min") : first_target - pd.Timedelta("5min")]
    assert len(recent) == 12
    shuffled = recent[list(reversed(recent.columns))]  # predict reorders sensors by id
    shuffled.to_csv(tmp_path / "recent.csv")

    assert (
        main(["predict", str(trained_run), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.csv")]) == 0
    )
    forecast = pd.read_csv(tmp_path / "next.csv", index_col="timestamp", parse_dates=True)
    assert forecast.shape == (12, 207)
    assert list(forecast.columns) == list(sample_frame.columns)
    assert list(forecast.index) == list(pd.date_range(first_target, periods=12, freq="5min"))
    # the same window through the training-time path (WindowDataset) gives the same forecast
    np.testing.assert_allclose(forecast.to_numpy(), predictions.prediction[window, :, :, 0], atol=1e-3)

    assert (
        main(["predict", str(trained_run), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.parquet")])
        == 0
    )
    np.testing.assert_allclose(pd.read_parquet(tmp_path / "next.parquet").to_numpy(), forecast.to_numpy(), atol=1e-4)


def test_predict_refuses_other_sensors_and_intervals(trained_run, sample_frame, tmp_path):
    from stgraph.pipeline.forecast import predict_file

    recent = sample_frame.iloc[-24:]
    recent.drop(columns=["767541"]).to_csv(tmp_path / "fewer.csv")
    with pytest.raises(SensorDataError, match=r"fewer\.csv.*767541"):
        predict_file(trained_run, tmp_path / "fewer.csv", tmp_path / "out.csv")
    recent.iloc[::2].to_csv(tmp_path / "ten_minutes.csv")
    with pytest.raises(SensorDataError, match=r"ten_minutes\.csv, column timestamp: readings every 10min.*every 5min"):
        predict_file(trained_run, tmp_path / "ten_minutes.csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_predict_and_evaluate_run_without_lightning(trained_run, sample_frame, tmp_path):
    """A finished run forecasts and re-scores in a process where Lightning cannot be imported
    (and, for predict, matplotlib neither): the pipeline below the trainer is enough."""
    sample_frame.iloc[-24:].to_csv(tmp_path / "recent.csv")
    blocked = ["lightning", "pytorch_lightning", "lightning.pytorch"]
    commands = [
        (
            [*blocked, "matplotlib"],
            ["predict", str(trained_run), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.csv")],
        ),
        (blocked, ["evaluate", str(trained_run), "--split", "val"]),
    ]
    for modules, argv in commands:
        code = (
            f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
            f"from stgraph.cli.main import main\nraise SystemExit(main({argv!r}))\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"stgraph {argv[0]}: {result.stderr}"
    assert pd.read_csv(tmp_path / "next.csv", index_col="timestamp").shape == (12, 207)
    assert "val" in json.loads((trained_run / "metrics.json").read_text())


# --- bad readings fail before training ---------------------------------------------------------------
def _write_bad(frame: pd.DataFrame, path, kind: str):
    lines = frame.to_csv().splitlines()
    if kind == "text":
        cells = lines[5].split(",")
        cells[3] = "n/a"  # column 767542, data row 4, file line 6
        lines[5] = ",".join(cells)
    elif kind == "interval":
        cells = lines[7].split(",")
        cells[0] = "2012-03-01 00:32:00"  # off the 5-minute grid, file line 8
        lines[7] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing_sensor", r"readings\.csv: no column for sensor\(s\) 767541"),
        ("text", r"readings\.csv, column '767542'.*line 6.*n/a"),
        ("interval", r"readings\.csv.*off the .*grid.*00:32:00 on line 8"),
        ("ten_minutes", r"readings\.csv, column timestamp: readings are every 10min, but --interval .* every 5min"),
    ],
)
def test_bad_readings_fail_before_training_and_leave_nothing(sample_env, sample_frame, tmp_path, capsys, kind, message):
    readings = tmp_path / "readings.csv"
    frame = sample_frame.iloc[:300]
    extra = []
    if kind == "missing_sensor":
        frame.drop(columns=["767541"]).to_csv(readings)
    elif kind == "ten_minutes":
        frame.iloc[::2].to_csv(readings)
        extra = ["--interval", "5min"]
    else:
        _write_bad(frame, readings, kind)
    out = tmp_path / "run"
    code = main(["train", *_own_data_args(sample_env, readings), *TINY, *extra, "--max-steps", "1", "--out", str(out)])
    assert code == 1
    assert re.search(message, capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readings.csv"]  # no run, no .partial


def test_train_refuses_to_overwrite_a_run(trained_run, capsys):
    assert main(["train", "--dataset", "sample", *TINY, "--max-steps", "1", "--out", str(trained_run)]) == 2
    assert "already exists" in capsys.readouterr().err


# --- resume --------------------------------------------------------------------------------------------
class _Interrupt(Exception):
    pass


def test_resume_continues_an_interrupted_run(sample_env, sample_frame, tmp_path, capsys):
    """Own data, stopped by an exception after 2 steps, resumed to 4 steps from last.ckpt."""
    from lightning.pytorch.callbacks import Callback

    from stgraph.cli.train_cmd import add_parser, config_from_args
    from stgraph.train.run import train

    class StopAfter(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 2:
                raise _Interrupt

    readings = tmp_path / "readings.csv"
    sample_frame.iloc[:400].to_csv(readings)
    out = tmp_path / "run"
    argv = ["train", *_own_data_args(sample_env, readings), *TINY, "--max-steps", "4", "--out", str(out)]
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    config = config_from_args(parser.parse_args(argv))
    with pytest.raises(_Interrupt):
        train(config, out, callbacks=[StopAfter()], echo=lambda line: None)
    partial = tmp_path / "run.partial"
    assert (partial / "last.ckpt").is_file() and not out.exists()
    assert torch.load(partial / "last.ckpt", weights_only=True)["global_step"] == 2

    assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert not partial.exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["global_step"] == 4
    assert not math.isnan(metrics["test"]["average"]["mae"])


def test_max_steps_inside_the_first_epoch_with_early_stopping(sample_env, tmp_path):
    # DCRNN's and Graph WaveNet's configs set a patience; a quick check stopped by --max-steps
    # before the first validation must still validate, keep the model and finish.
    out = tmp_path / "patient"
    code = main(["train", "--dataset", "sample", *TINY, "--set", "training.patience=3", "--max-steps", "1", "--out", str(out)])
    assert code == 0
    assert (out / "model.pt").is_file() and json.loads((out / "metrics.json").read_text())["best_epoch"] == 1
