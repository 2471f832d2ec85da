"""``stgraph demo`` end to end with a tiny model: its table holds the model and both baselines,
and the baselines are scored on exactly the test windows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from stgraph.cli.main import main


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
        "model.channels=[[4,2,4],[4,2,4]]",
        "training.max_steps=2",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "windows:  lookback 12, horizon 12; train 1388, val 179, test 380" in printed
    assert "graph:    207 sensors" in printed
    rows = {
        (m.group(1).strip(), m.group(2)): float(m.group(3))
        for m in re.finditer(r"^(stgcn|historical average|last value)\s+(15 min|30 min|60 min|average)\s+([\d.]+)", printed, re.M)
    }
    assert {model for model, _ in rows} == {"stgcn", "historical average", "last value"}
    assert (out / "model.pt").is_file()

    # last value on the test windows, from the raw file: windows start at 1613 (= 2016 - round(0.2 * 2016))
    speeds = pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp").to_numpy()
    starts = np.arange(1613, 2016 - 24 + 1)
    expected = np.abs(speeds[starts + 11 + 3] - speeds[starts + 11]).mean()
    assert rows[("last value", "15 min")] == pytest.approx(expected, abs=0.006)
