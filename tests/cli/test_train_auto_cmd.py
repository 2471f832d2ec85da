"""``stgraph train --model auto`` on the committed sample: the chosen run at the top level works with
``stgraph evaluate`` and ``stgraph predict``, the ranking is printed and written, and the
refusals (``--resume``, an existing ``--out``, a bad candidate section) come before any training.

Two tiny candidates (STGCN with 4 channels, T-GCN with 4 hidden units), 2 optimiser steps each.
"""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
import yaml

from stgraph.cli.main import main
from stgraph.train import auto

TINY_TGCN = [
    "--dataset", "sample", "--model", "auto", "--max-steps", "2", "--accelerator", "cpu", "--no-progress",
    "--set", "tgcn.hidden=4", "data.batch_size=16", "training.threads=1", "training.time_budget=120",
]  # fmt: skip
TINY_AUTO = [*TINY_TGCN, "stgcn.channels=[[4,2,4],[4,2,4]]"]


@pytest.fixture(scope="module")
def auto_run(sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "auto"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", str(sample_dir.parent))
        patch.setattr(auto, "AUTO_CANDIDATES", ("stgcn", "tgcn"))
        assert main(["train", *TINY_AUTO, "--out", str(out)]) == 0
    return out


def test_auto_writes_the_chosen_run_and_the_ranking(auto_run):
    own = {name: json.loads((auto_run / "candidates" / name / "metrics.json").read_text()) for name in ("stgcn", "tgcn")}
    best = min(own, key=lambda name: own[name]["best_val_mae"])
    top = json.loads((auto_run / "metrics.json").read_text())
    assert top["auto"]["chosen"] == best and top["model"] == best and top["auto"]["budget_seconds"] == 120
    assert yaml.safe_load((auto_run / "config.yaml").read_text())["model"]["name"] == best
    names = {p.relative_to(auto_run).as_posix() for p in auto_run.iterdir()}
    assert names == {
        "calibration.npz",
        "candidates",
        "config.yaml",
        "model.pt",
        "metrics.json",
        "predictions_test.npz",
        "sensors_test.csv",
        "plots",
        "report.md",
        "ranking.csv",
        "ranking.md",
    }
    with open(auto_run / "ranking.csv", newline="") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle) if row["status"] == "trained"}
    assert set(rows) == {"stgcn", "tgcn"}
    for name, row in rows.items():
        assert float(row["val_mae"]) == own[name]["best_val_mae"]
        assert float(row["test_mae_step_12"]) == own[name]["test"]["step_12"]["mae"]
        assert int(row["epochs"]) == len(own[name]["history"]) == 1
    # the candidates shared the 120 s: the first got half
    first = yaml.safe_load((auto_run / "candidates" / "stgcn" / "config.yaml").read_text())
    assert first["training"]["time_budget"] == 60.0 and first["model"]["channels"] == [[4, 2, 4], [4, 2, 4]]


def test_evaluate_and_predict_read_the_top_level_as_a_run(auto_run, sample_dir, tmp_path, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", str(sample_dir.parent))
        before = json.loads((auto_run / "metrics.json").read_text())
        assert main(["evaluate", str(auto_run), "--threads", "1"]) == 0
        after = json.loads((auto_run / "metrics.json").read_text())
        assert after["test"]["average"]["mae"] == pytest.approx(before["test"]["average"]["mae"], rel=1e-6)
        assert after["auto"] == before["auto"]  # evaluate merges into metrics.json

        frame = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp", parse_dates=True)
        frame.iloc[-12:].to_csv(tmp_path / "recent.csv")
        assert (
            main(["predict", str(auto_run), "--readings", str(tmp_path / "recent.csv"), "--out", str(tmp_path / "next.csv")]) == 0
        )
        assert pd.read_csv(tmp_path / "next.csv", index_col="timestamp").shape == (12, 207)


def test_auto_prints_the_ranking(sample_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    monkeypatch.setattr(auto, "AUTO_CANDIDATES", ("tgcn",))
    out = tmp_path / "auto"
    assert main(["train", *TINY_TGCN, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "--model auto: tgcn has the lowest validation MAE; ranking (test metrics in original units):" in printed
    assert (out / "ranking.md").read_text() in printed
    last = printed.rstrip().splitlines()[-2:]
    assert last[0] == f"run written to {out}" and last[1].startswith("warning: this model does not beat the baselines (")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--resume"], "--resume does not continue a --model auto run yet; train it again with another --out"),
        (
            ["--set", "dcrnn.hidden=4"],
            "--set dcrnn.KEY: 'dcrnn' is neither a section (data, model, training) nor a candidate of --model auto (stgcn, tgcn)",
        ),
    ],
)
def test_auto_refusals_are_one_line_errors(sample_dir, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    monkeypatch.setattr(auto, "AUTO_CANDIDATES", ("stgcn", "tgcn"))
    assert main(["train", *TINY_AUTO, "--out", str(tmp_path / "auto"), *extra]) == 2
    assert capsys.readouterr().err == f"stgraph train: error: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_auto_refuses_an_existing_out(sample_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    monkeypatch.setattr(auto, "AUTO_CANDIDATES", ("stgcn", "tgcn"))
    (tmp_path / "auto").mkdir()
    assert main(["train", *TINY_AUTO, "--out", str(tmp_path / "auto")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"stgraph train: error: {tmp_path / 'auto'} already exists; choose another --out (a finished run is never overwritten)\n"
    )
