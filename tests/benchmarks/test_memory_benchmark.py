"""The memory benchmark runs each option in its own process and writes a row per option."""

from __future__ import annotations

import json

from benchmarks.memory.__main__ import main


def test_each_option_is_a_row_with_its_ratio_to_float32(tmp_path, capsys):
    argv = ["--graph", "knn-200", "--models", "stid", "--options", "float32,sensor-batch", "--sensor-batch", "50"]
    assert main([*argv, "--batch", "2", "--warmup", "1", "--steps", "1", "--results", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "memory-knn-200.json").read_text())
    rows = payload["results"]
    assert [row["option"] for row in rows] == ["float32", "sensor-batch 50"]
    assert all(row["sensors"] == 200 and row["peak_rss_mb"] >= row["increase_mb"] > 0 and row["step_s"] > 0 for row in rows)
    table = (tmp_path / "memory-knn-200.md").read_text()
    assert "| stid | float32 |" in table and table.count("| 1.00x | 1.00x |") >= 1
    assert "cpu_cores" in payload["machine"] and "| stid | sensor-batch 50 |" in capsys.readouterr().out
