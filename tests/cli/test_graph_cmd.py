"""``stgraph graph``: statistics printed, graph written."""

from __future__ import annotations

import pytest

from stgraph.cli.main import main
from stgraph.graph import from_distances, load_graph


def test_graph_command_from_distances(tmp_path, capsys):
    distances = tmp_path / "distances.csv"
    distances.write_text("from,to,cost\na,a,0\na,b,100\nb,c,150\nc,a,300\nz,a,5\n")
    sensors = tmp_path / "ids.txt"
    sensors.write_text("a,b,c\n")
    out = tmp_path / "graph.npz"
    assert main(["graph", "--distances", str(distances), "--sensors", str(sensors), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    expected = from_distances(distances, ["a", "b", "c"])
    assert f"edges                 {expected.num_edges} (1 self-loops)" in printed
    assert "connected components  1 weak" in printed
    assert "rows skipped          1 of 5" in printed
    assert load_graph(out).fingerprint() == expected.fingerprint()


def test_graph_command_reports_bad_file(tmp_path, capsys):
    distances = tmp_path / "distances.csv"
    distances.write_text("from,to,cost\na,b,-1\n")
    assert main(["graph", "--distances", str(distances), "--out", str(tmp_path / "g.npz")]) == 1
    assert "distances.csv, line 2: negative distance" in capsys.readouterr().err
    assert not (tmp_path / "g.npz").exists()


def test_k_needs_locations(tmp_path):
    with pytest.raises(SystemExit):
        main(["graph", "--adjacency", "adj.csv", "--k", "3", "--out", str(tmp_path / "g.npz")])
