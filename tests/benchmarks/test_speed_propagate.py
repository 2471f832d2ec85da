"""The propagation microbenchmark in its smoke mode (seconds): every CPU backend gets a row, per sensor order."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_propagate_smoke_prints_a_row_per_backend_and_marks_the_automatic_one():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.speed.propagate", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("| knn-600 ")]
    as_built = {row[5].strip(): row[6].strip() for row in rows if row[4].strip() == "as built"}
    assert set(as_built) == {"reference", "dense", "cpu"}
    assert list(as_built.values()).count("*") == 1  # exactly one automatic choice
    # the trainer's locality order is timed too, for the sparse backends (dense does not depend on it)
    assert {row[5].strip() for row in rows if row[4].strip().startswith("locality")} == {"reference", "cpu"}
    assert "measured copy bandwidth" in result.stdout
