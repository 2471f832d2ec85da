"""The memory-mapped series benchmark in a tiny mode: its phases run and report their memory."""

from __future__ import annotations

import numpy as np

from benchmarks.memmap.__main__ import _parser, _phase, write_npz
from stgraph.data.load import load_series


def test_the_synthetic_npz_is_written_in_pieces_as_a_pems_file(tmp_path):
    write_npz(tmp_path / "s.npz", 2100, 3)  # two pieces of 2,048 steps
    series = load_series(tmp_path / "s.npz", start="2019-01-01", interval="15min")
    assert series.values.shape == (2100, 3, 1) and 0.03 < series.missing_share() < 0.07
    assert 40 < float(series.values[series.mask].mean()) < 70


def test_every_phase_reports_its_peak_memory(tmp_path):
    write_npz(tmp_path / "synthetic.npz", 300, 4)
    args = _parser().parse_args(["--sensors", "4", "--steps", "300", "--batches", "2", "--batch-size", "3"])
    rows = [_phase(phase, tmp_path, args) for phase in ("convert", "disk", "memory")]  # in this process: seconds
    assert all(row["peak_rss_gb"] > 0 and "RssAnon_gb_at_end" in row for row in rows)
    assert rows[1]["x_shape"] == rows[2]["x_shape"] == [3, 12, 4, 1] and np.isfinite(rows[2]["batch_ms"])
    assert (tmp_path / "synthetic.stseries" / "values.npy").is_file()
