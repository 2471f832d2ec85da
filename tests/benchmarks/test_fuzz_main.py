"""``python -m benchmarks.fuzz`` in a tiny mode: runs, prints the count, finds nothing foreign."""

from __future__ import annotations

from benchmarks.fuzz.__main__ import main


def test_a_tiny_fuzz_run_counts_no_foreign_exceptions(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # failures, if any, are saved under the working directory
    assert main(["--csv", "40", "--mutated", "10", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "50 files in" in out and "exceptions outside stgraph's errors: 0" in out
