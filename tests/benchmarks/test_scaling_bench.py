"""``python -m benchmarks.scaling`` on a tiny network: one row per configuration, measured in a
fresh process, with ``--set`` passed through to the configuration, and the table written."""

from __future__ import annotations

import json

from benchmarks.scaling.__main__ import _small_parts, main

FIELDS = {
    "model",
    "parameters",
    "sensors",
    "steps",
    "batch",
    "train_windows",
    "measured_steps",
    "seconds_per_step",
    "samples_per_s",
    "epoch_s_extrapolated",
    "data_seconds",
    "data_rss_gb",
    "train_peak_rss_gb",
    "peak_rss_gb",
    "threads",
    "storage",
    "overrides",
}


def test_the_command_measures_in_a_subprocess_and_writes_the_table(tmp_path, capsys):
    argv = ["--sensors", "40", "--steps", "300", "--models", "stgcn", "--train-steps", "2", "--warmup", "1"]
    options = ["--threads", "1", "--set", "data.batch_size=4", "--storage", "memory", "disk"]
    assert main([*argv, *options, "--write", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "| stgcn |" in out
    payload = json.loads(next(tmp_path.glob("scaling-*.json")).read_text())
    row, on_disk = payload["rows"]
    # the same network, trained from the memory-mapped directory stgraph convert writes
    assert (row["storage"], on_disk["storage"]) == ("memory", "disk")
    assert {k: on_disk[k] for k in ("parameters", "train_windows", "steps")} == {
        k: row[k] for k in ("parameters", "train_windows", "steps")
    }
    assert set(row) == FIELDS and (row["model"], row["sensors"], row["steps"], row["batch"]) == ("stgcn", 40, 300, 4)
    assert row["measured_steps"] == 2 and row["samples_per_s"] > 0 and row["overrides"] == ["data.batch_size=4"]
    assert row["epoch_s_extrapolated"] == row["seconds_per_step"] * -(-row["train_windows"] // 4)
    assert 0 < row["data_rss_gb"] <= row["train_peak_rss_gb"] <= row["peak_rss_gb"]
    assert "extrapolated" in next(tmp_path.glob("scaling-*.md")).read_text()
    assert main([*argv, "--write", "--results", str(tmp_path)]) == 1  # refuses to overwrite without --force


def test_validation_and_test_get_a_few_batches_each():
    train, val, test = _small_parts(35000, 12, 12, 64)
    assert val == test and val * 35000 >= 12 + 12 + 128 and abs(train + val + test - 1) < 1e-9
    assert _small_parts(100, 12, 12, 64)[1] == 0.2  # a tiny series keeps a fifth for each
