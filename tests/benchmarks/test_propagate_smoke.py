"""The propagation microbenchmark in its smoke mode (seconds): every CPU backend gets a row."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_propagate_smoke_prints_a_row_per_backend_and_marks_the_automatic_one():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed.propagate", "--smoke"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| knn-600 ")]
    backends = {row[4].strip(): row[5].strip() for row in rows}
    assert set(backends) == {"reference", "dense", "cpu"}
    assert list(backends.values()).count("*") == 1  # exactly one automatic choice
    assert "measured copy bandwidth" in result.stdout
