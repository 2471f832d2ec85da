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


CHAIN = "from,to,distance\ns1,s2,100\ns2,s3,100\ns3,s4,100\ns4,s5,5000\n"  # tests/graph/test_diagnostics.py


def test_graph_command_warns_what_the_threshold_dropped(tmp_path, capsys):
    links = tmp_path / "links.csv"
    links.write_text(CHAIN)
    assert main(["graph", "--distances", str(links), "--out", str(tmp_path / "g.npz")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2:] == [
        "warning: links.csv: the kernel threshold 0.1 dropped 1 of 4 links (sigma 2122); 1 of 5 sensors are now "
        "isolated and the graph has 2 components (largest 4 sensors). To keep them: --threshold 0.001, or take the "
        'file\'s values as weights with --edges links.csv (third column headed "weight").',
        f"wrote {tmp_path / 'g.npz'}",
    ]
    assert main(["graph", "--distances", str(links), "--threshold", "0.001", "--out", str(tmp_path / "all.npz")]) == 0
    assert "warning" not in capsys.readouterr().out


def test_graph_command_reads_an_edge_file_by_its_header(tmp_path, capsys):
    edges = tmp_path / "edges.csv"
    edges.write_text(CHAIN)
    assert main(["graph", "--edges", str(edges), "--threshold", "0.001", "--undirected", "--out", str(tmp_path / "g.npz")]) == 0
    printed = capsys.readouterr().out
    assert "edges.csv: third column 'distance' read as a distance (Gaussian kernel, sigma 2122, threshold 0.001)\n" in printed
    graph = load_graph(tmp_path / "g.npz")
    expected = from_distances(edges, threshold=0.001, directed=False)
    assert graph.fingerprint() == expected.fingerprint() and graph.num_edges == 8
    edges.write_text("from,to,weight\ns1,s2,0.5\n")
    assert main(["graph", "--edges", str(edges), "--out", str(tmp_path / "w.npz")]) == 0
    assert "edges.csv: third column 'weight' read as edge weights as given\n" in capsys.readouterr().out
    assert load_graph(tmp_path / "w.npz").adjacency[0, 1] == 0.5
