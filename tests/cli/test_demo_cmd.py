"""``stgraph demo`` end to end with a tiny model: its table holds the model and both baselines,
the baselines are scored on exactly the test windows, and a model that loses is warned about."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from stgraph.cli.main import main
from stgraph.pipeline.compare import IMPROVE_HINT


def test_demo_prints_model_beside_baselines(sample_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(out),
        "--set",
        "model.embedding_dim=4",
        "training.max_steps=2",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "windows:  lookback 12, horizon 12; train 1388, val 179, test 380" in printed
    assert "graph:    207 sensors" in printed
    rows = {
        (m.group(1).strip(), m.group(2)): float(m.group(3))
        for m in re.finditer(r"^(stid|historical average|last value)\s+(15 min|30 min|60 min|average)\s+([\d.]+)", printed, re.M)
    }
    assert {model for model, _ in rows} == {"stid", "historical average", "last value"}
    assert (out / "model.pt").is_file()

    # last value on the test windows, from the raw file: windows start at 1613 (= 2016 - round(0.2 * 2016))
    speeds = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp").to_numpy()
    starts = np.arange(1613, 2016 - 24 + 1)
    expected = np.abs(speeds[starts + 11 + 3] - speeds[starts + 11]).mean()
    assert rows[("last value", "15 min")] == pytest.approx(expected, abs=0.006)

    # the numbers and warnings are train's (stgraph.pipeline.compare): two steps do not beat the baselines
    metrics = json.loads((out / "metrics.json").read_text())
    assert rows[("historical average", "60 min")] == pytest.approx(
        metrics["baselines"]["historical_average"]["step_12"]["mae"], abs=0.006
    )
    assert metrics["beats_baselines"] is False
    lines = printed.rstrip().splitlines()
    warnings = [line for line in lines if line.startswith(("warning: at ", "warning: averaged"))]  # not the graph's
    assert len(warnings) == len(metrics["shortfalls"]) and lines[-1] == IMPROVE_HINT
    assert lines[-1 - len(warnings) : -1] == warnings
    persistence = rows[("last value", "15 min")]
    assert any(
        re.fullmatch(rf"warning: at 15 min the model's MAE [\d.]+ is worse than last value's {persistence:.2f}", w)
        for w in warnings
    )
