"""``python -m benchmarks.imputation``: scores on hidden readings only; skips what is absent; no overwrite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.imputation.__main__ import main
from benchmarks.imputation.run import score


def test_score_counts_only_the_hidden_readings():
    truth = np.array([[1.0, 2.0], [3.0, 4.0]])
    filled = np.array([[2.0, 100.0], [3.0, 1.0]])  # the 100 is an observed cell's error, not scored
    hidden = np.array([[True, False], [True, True]])
    result = score(filled, truth, hidden)
    # errors 1, 0, -3 -> MAE 4 / 3, RMSE sqrt(10 / 3)
    assert result["mae"] == pytest.approx(4 / 3)
    assert result["rmse"] == pytest.approx(np.sqrt(10 / 3))


def test_benchmark_runs_on_a_tiny_los_loop_and_skips_the_absent_slice(tiny_root, tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["--data-root", str(tiny_root), "--seeds", "1", "--results", str(results)]) == 0
    printed = capsys.readouterr().out
    assert f"skipped metr-la-sample100: its files are not under {tiny_root}" in printed
    payload = json.loads((results / "imputation.json").read_text())
    assert [(run["dataset"], run["pattern"]) for run in payload["runs"]] == [("los-loop", "point"), ("los-loop", "block")]
    point = payload["runs"][0]
    assert point["hidden"] == pytest.approx(0.25 * point["observed"], rel=0.1)
    assert set(point["methods"]) == {"locf", "linear", "historical_average", "neighbour_mean", "learned"}
    table = (results / "imputation.md").read_text()
    assert "| los-loop | point |" in table and "| learned |" in table
    assert "- los-loop, point: " in table
    assert main(["--data-root", str(tiny_root), "--seeds", "1", "--results", str(results)]) == 1
    assert "imputation.md exists; pass --force" in capsys.readouterr().err


def test_nothing_to_score_writes_nothing(tmp_path, capsys):
    assert main(["--data-root", str(tmp_path), "--results", str(tmp_path / "results")]) == 0
    assert "nothing written" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()
