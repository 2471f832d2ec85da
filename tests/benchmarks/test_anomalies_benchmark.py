"""The faulty-sensor benchmark (benchmarks/anomalies): faults land where their labels say, the
scores are precision / recall / F1 worked out by hand, and ``python -m benchmarks.anomalies``
runs end to end on a tiny Los-loop (and skips without one)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.anomalies.__main__ import main
from benchmarks.anomalies.evaluate import fault_scores
from benchmarks.anomalies.inject import FAULTS, inject_faults
from stgraph.anomalies import KINDS
from stgraph.cli.main import main as stgraph

HEALTHY = 50 + np.arange(96 * 4, dtype=float).reshape(96, 4) % 7  # never constant, never zero


def _inject(kind: str, seed: int = 0):
    return inject_faults(HEALTHY, interval_minutes=5, shares={kind: 1.0}, block=48, lead=12, seed=seed)


@pytest.mark.parametrize("kind", FAULTS)
def test_each_block_holds_one_fault_after_its_healthy_lead(kind):
    faulty, labels = _inject(kind)
    changed = faulty != HEALTHY
    for sensor in range(4):
        for begin in (0, 48):
            block = labels[begin : begin + 48, sensor]
            where = np.flatnonzero(block)
            assert len(where) > 0 and set(block[where]) == {FAULTS.index(kind) + 1}
            assert where[0] >= 12 and np.array_equal(where, np.arange(where[0], where[-1] + 1))  # one stretch, after the lead
    assert not changed[labels == 0].any()  # healthy readings untouched


def test_faults_have_the_documented_sizes():
    faulty, labels = _inject("spike")
    assert (labels > 0).sum() == 8  # one reading per block
    assert np.all((np.abs(faulty - HEALTHY)[labels > 0] >= 20) & (np.abs(faulty - HEALTHY)[labels > 0] <= 40))
    faulty, labels = _inject("stuck")
    for sensor in range(4):
        run = faulty[:48][labels[:48, sensor] > 0, sensor]
        assert 18 <= len(run) <= 36 and np.all(run == run[0])  # 1.5 to 3 h at 5 minutes, one value
    faulty, labels = _inject("zero")
    assert np.all(faulty[labels > 0] == 0) and (labels[:, 0] > 0).sum() >= 2 * 3
    faulty, labels = _inject("drift")
    for sensor in range(4):
        offset = (faulty - HEALTHY)[:48][labels[:48, sensor] > 0, sensor]
        assert np.all(np.diff(np.abs(offset)) > 0) and 10 <= abs(offset[-1]) <= 20  # a ramp to 10-20 mph


def test_fault_scores_are_precision_recall_and_f1_by_hand():
    labels = np.array([[0, 1], [3, 3], [2, 4], [0, 0]])  # healthy, spike; zero, zero; stuck, drift; healthy x2
    spike, stuck, zero, none = (KINDS.index("spike"), KINDS.index("stuck"), KINDS.index("zero"), -1)
    kind = np.array([[spike, spike], [zero, none], [stuck, stuck], [none, none]])
    scores = fault_scores(labels, kind)
    rows = {row["fault"]: row for row in scores["faults"]}
    # spike: flagged 2, one of them the spike -> P 0.5, R 1, F1 2/3
    assert (rows["spike"]["precision"], rows["spike"]["recall"], rows["spike"]["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert (rows["zero"]["precision"], rows["zero"]["recall"]) == (1.0, 0.5)
    # stuck: flagged 2, the stuck reading and the drift one -> P 0.5, R 1
    assert (rows["stuck"]["precision"], rows["stuck"]["recall"]) == (0.5, 1.0)
    assert np.isnan(rows["drift"]["precision"]) and rows["drift"]["recall"] == 1.0  # flagged stuck: any kind counts
    assert scores["healthy_readings"] == 3 and scores["false_alarms"]["spike"] == 1
    assert scores["false_alarm_rate"] == pytest.approx(1 / 3)


def test_benchmark_skips_without_los_loop(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "run"), "--data-root", str(tmp_path), "--results", str(tmp_path / "r")]) == 0
    assert "skipped: Los-loop readings not found" in capsys.readouterr().out
    assert not (tmp_path / "r").exists()


def test_benchmark_runs_on_a_tiny_los_loop_and_keeps_its_results(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STGRAPH_DATA", str(tiny_root))
    run = tmp_path / "run"
    train = ["train", "--dataset", "los-loop", "--model", "stgcn", "--set", "model.channels=[[4,2,4],[4,2,4]]"]
    assert (
        stgraph([*train, "training.threads=1", "--accelerator", "cpu", "--no-progress", "--max-steps", "1", "--out", str(run)])
        == 0
    )
    results = tmp_path / "results"
    arguments = ["--run", str(run), "--data-root", str(tiny_root), "--results", str(results)]
    assert main(arguments) == 0
    payload = json.loads((results / "anomalies-los-loop.json").read_text())
    assert [row["fault"] for row in payload["faults"]] == list(FAULTS)
    assert payload["test_steps"] == 80 and payload["sensors"] == 5
    assert "| stuck |" in (results / "anomalies-los-loop.md").read_text()
    capsys.readouterr()
    assert main(arguments) == 2  # results exist: refused without --force
    assert "pass --force" in capsys.readouterr().out
