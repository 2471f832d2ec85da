"""``stgraph impute``: filled readings in the input's layout, a mask of the filled cells, no overwrites."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.cli.main import main

# sensors a, b, c at 5 minutes; a misses 00:05 and 00:10, b misses 00:00, c reads 0 (the null value) at 00:15
WIDE = (
    "timestamp,a,b,c\n"
    "2024-01-01 00:00:00,10,,7.125\n"
    "2024-01-01 00:05:00,,22,7\n"
    "2024-01-01 00:10:00,,24,7\n"
    "2024-01-01 00:15:00,40,26,0\n"
)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_linear_fills_a_wide_table_in_its_layout_and_writes_the_mask(tmp_path, capsys):
    readings = write(tmp_path, "readings.csv", WIDE)
    out = tmp_path / "filled.csv"
    assert main(["impute", "--readings", str(readings), "--model", "linear", "--null-value", "0", "--out", str(out)]) == 0
    filled = pd.read_csv(out)
    assert list(filled.columns) == ["timestamp", "a", "b", "c"]
    assert list(filled["timestamp"]) == list(pd.read_csv(readings)["timestamp"])
    # a: 10 -> 40 over three steps; b: held back from 22; c: held at its last reading 7; observed cells as read
    np.testing.assert_allclose(filled[["a", "b", "c"]].to_numpy(), [[10, 22, 7.125], [20, 22, 7], [30, 24, 7], [40, 26, 7]])
    mask = pd.read_csv(tmp_path / "filled.mask.csv")
    assert list(mask.columns) == ["timestamp", "a", "b", "c"]
    np.testing.assert_array_equal(mask[["a", "b", "c"]].to_numpy(), [[0, 1, 0], [1, 0, 0], [1, 0, 0], [0, 0, 1]])
    assert "filled 4 of 12 readings (33.3%) of 3 sensors over 4 steps with linear" in capsys.readouterr().out


def test_neighbour_mean_reads_the_graph_and_a_long_table(tmp_path):
    # long layout; the 00:05 reading of b is absent (no row), a and c are its neighbours with weights 1 and 3
    long = write(
        tmp_path,
        "long.csv",
        "timestamp,sensor,speed\n"
        "2024-01-01 00:00:00,a,10\n2024-01-01 00:00:00,b,20\n2024-01-01 00:00:00,c,30\n"
        "2024-01-01 00:05:00,a,12\n2024-01-01 00:05:00,c,32\n",
    )
    adjacency = write(tmp_path, "adjacency.csv", "a,b,c\n0,1,0\n1,0,3\n0,3,0\n")
    out, mask_out = tmp_path / "filled.csv", tmp_path / "cells.csv"
    argv = ["impute", "--readings", str(long), "--model", "neighbour_mean", "--adjacency", str(adjacency)]
    assert main([*argv, "--out", str(out), "--mask-out", str(mask_out)]) == 0
    filled = pd.read_csv(out)
    assert list(filled.columns) == ["timestamp", "sensor", "speed"]
    assert len(filled) == 6
    row = filled[(filled["timestamp"] == "2024-01-01 00:05:00") & (filled["sensor"] == "b")]
    assert row["speed"].item() == pytest.approx((1 * 12 + 3 * 32) / 4)
    assert pd.read_csv(mask_out)["speed"].tolist() == [0, 0, 0, 0, 1, 0]


def test_a_gap_in_the_timestamps_becomes_a_filled_row(tmp_path):
    readings = write(tmp_path, "gap.csv", "timestamp,a\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n2024-01-01 00:15:00,4\n")
    out = tmp_path / "filled.csv"
    assert main(["impute", "--readings", str(readings), "--model", "locf", "--out", str(out)]) == 0
    assert pd.read_csv(out)["a"].tolist() == [1, 2, 2, 4]
    assert pd.read_csv(tmp_path / "filled.mask.csv")["a"].tolist() == [0, 0, 1, 0]


def test_an_existing_output_needs_force_and_the_input_is_never_replaced(tmp_path, capsys):
    readings = write(tmp_path, "readings.csv", WIDE)
    out = write(tmp_path, "filled.csv", "keep me\n")
    assert main(["impute", "--readings", str(readings), "--model", "locf", "--out", str(out)]) == 1
    assert f"--out {out} exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert main(["impute", "--readings", str(readings), "--model", "locf", "--out", str(readings), "--force"]) == 1
    assert "is the input --readings" in capsys.readouterr().err
    assert readings.read_text() == WIDE
    assert main(["impute", "--readings", str(readings), "--model", "locf", "--out", str(out), "--force"]) == 0
    assert pd.read_csv(out)["a"].tolist() == [10, 10, 10, 40]


def test_bad_input_is_named(tmp_path, capsys):
    readings = write(tmp_path, "readings.csv", WIDE)
    adjacency = write(tmp_path, "adjacency.csv", "a,b,z\n0,1,0\n1,0,1\n0,1,0\n")
    argv = ["impute", "--readings", str(readings), "--model", "neighbour_mean", "--out", str(tmp_path / "f.csv")]
    assert main([*argv, "--adjacency", str(adjacency)]) == 1
    assert "sensor 'c' is not in the graph" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(argv)  # no graph
    assert "needs the sensor graph" in capsys.readouterr().err
    bad = write(tmp_path, "bad.csv", "timestamp,a\n2024-01-01 00:00:00,n/a\n2024-01-01 00:05:00,1\n")
    assert main(["impute", "--readings", str(bad), "--model", "locf", "--out", str(tmp_path / "g.csv")]) == 1
    assert "bad.csv, column 'a'" in capsys.readouterr().err
    empty = write(tmp_path, "empty.csv", "timestamp,a,b\n2024-01-01 00:00:00,1,\n2024-01-01 00:05:00,2,\n")
    assert main(["impute", "--readings", str(empty), "--model", "locf", "--out", str(tmp_path / "h.csv")]) == 1
    assert "sensor b" in capsys.readouterr().err
    assert not list(tmp_path.glob("[fgh].csv"))


def test_the_learned_imputer_fills_from_the_graph(tmp_path):
    readings = write(tmp_path, "readings.csv", WIDE)
    adjacency = write(tmp_path, "adjacency.csv", "a,b,c\n0,1,1\n1,0,1\n1,1,0\n")
    out = tmp_path / "filled.csv"
    argv = ["impute", "--readings", str(readings), "--model", "learned", "--adjacency", str(adjacency), "--no-progress"]
    assert main([*argv, "--null-value", "0", "--out", str(out)]) == 0
    filled = pd.read_csv(out)[["a", "b", "c"]].to_numpy()
    mask = pd.read_csv(tmp_path / "filled.mask.csv")[["a", "b", "c"]].to_numpy()
    original = pd.read_csv(readings)[["a", "b", "c"]].to_numpy()
    np.testing.assert_array_equal(filled[mask == 0], original[mask == 0])
    assert np.isfinite(filled).all() and mask.sum() == 4


def test_a_saved_imputer_fills_new_readings_and_refuses_other_sensors_or_interval(tmp_path, capsys):
    readings = write(tmp_path, "readings.csv", WIDE)
    adjacency = write(tmp_path, "adjacency.csv", "a,b,c\n0,1,1\n1,0,1\n1,1,0\n")
    run_dir = tmp_path / "run"
    argv = ["impute", "--readings", str(readings), "--model", "learned", "--adjacency", str(adjacency), "--no-progress"]
    assert main([*argv, "--null-value", "0", "--save-run", str(run_dir), "--out", str(tmp_path / "first.csv")]) == 0
    assert (run_dir / "imputer.pt").is_file()
    # the same readings with the columns in another order: filled alike, written in their own order
    reordered = write(tmp_path, "reordered.csv", pd.read_csv(readings)[["timestamp", "c", "a", "b"]].to_csv(index=False))
    out = tmp_path / "again.csv"
    assert main(["impute", "--readings", str(reordered), "--run", str(run_dir), "--null-value", "0", "--out", str(out)]) == 0
    again = pd.read_csv(out)
    assert list(again.columns) == ["timestamp", "c", "a", "b"]
    np.testing.assert_allclose(again[["a", "b", "c"]].to_numpy(), pd.read_csv(tmp_path / "first.csv")[["a", "b", "c"]].to_numpy())

    other = write(tmp_path, "other.csv", WIDE.replace("timestamp,a,b,c", "timestamp,a,b,d"))
    assert main(["impute", "--readings", str(other), "--run", str(run_dir), "--out", str(tmp_path / "x.csv")]) == 1
    assert "sensor(s) c of the run are not in the readings; sensor(s) d are not among the run's" in capsys.readouterr().err
    hourly = write(tmp_path, "hourly.csv", "timestamp,a,b,c\n2024-01-01 00:00:00,1,2,3\n2024-01-01 01:00:00,1,,3\n")
    assert main(["impute", "--readings", str(hourly), "--run", str(run_dir), "--out", str(tmp_path / "y.csv")]) == 1
    assert "readings every 0 days 01:00:00, but the imputer in" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["impute", "--readings", str(readings), "--run", str(tmp_path / "empty"), "--out", str(tmp_path / "z.csv")]) == 1
    assert "empty: no imputer.pt" in capsys.readouterr().err
    assert main(["impute", "--readings", str(readings), "--run", str(run_dir), "--out", str(run_dir / "z.csv")]) == 1
    assert "is inside --run" in capsys.readouterr().err
