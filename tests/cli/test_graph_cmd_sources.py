"""``stgraph graph`` from each kind of source besides road distances (tests/cli/test_graph_cmd.py):
a dense distance matrix, sensor locations with k nearest neighbours, a ready-made adjacency."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from stgraph.cli.graph_cmd import run
from stgraph.cli.main import main
from stgraph.graph import load_graph


def test_graph_from_a_distance_matrix_reports_its_kernel(tmp_path, capsys):
    distances = np.array([[0.0, 100.0, 300.0], [100.0, 0.0, 200.0], [300.0, 200.0, 0.0]])
    path = tmp_path / "W.csv"
    path.write_text("\n".join(",".join(f"{d:g}" for d in row) for row in distances) + "\n")
    out = tmp_path / "g.npz"
    assert main(["graph", "--distance-matrix", str(path), "--threshold", "0.3", "--no-self-loops", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    sigma = distances.std()  # population std of all nine entries, the zero diagonal included
    expected = np.exp(-((distances / sigma) ** 2))
    expected[expected < 0.3] = 0.0
    np.fill_diagonal(expected, 0.0)
    graph = load_graph(out)
    np.testing.assert_allclose(graph.adjacency.toarray(), expected)
    assert f"kernel sigma          {sigma:.6g}" in printed
    assert f"edges                 {np.count_nonzero(expected)} (0 self-loops)" in printed
    assert "symmetric             yes" in printed and "rows skipped" not in printed
    assert printed.endswith(f"wrote {out}\n")


def test_graph_from_locations_links_each_sensor_to_its_nearest(tmp_path, capsys):
    locations = tmp_path / "locations.csv"
    # along one parallel: b is 0.01 degrees east of a, c 0.04 further east
    locations.write_text("sensor_id,latitude,longitude\na,34.0,-118.00\nb,34.0,-118.01\nc,34.0,-118.05\n")
    out = tmp_path / "g.npz"
    assert main(["graph", "--locations", str(locations), "--k", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    graph = load_graph(out)
    rows, cols = graph.adjacency.nonzero()
    edges = {(graph.sensor_ids[i], graph.sensor_ids[j]) for i, j in zip(rows, cols)}
    assert edges == {("a", "b"), ("b", "a"), ("c", "b")}  # c's nearest is b, but b's is a
    assert "edges                 3 (0 self-loops)" in printed and "symmetric             no" in printed
    np.testing.assert_allclose(graph.coordinates, [[34.0, -118.0], [34.0, -118.01], [34.0, -118.05]])


def test_graph_from_an_adjacency_prints_no_build_lines(tmp_path, capsys):
    adjacency = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.save(tmp_path / "adj.npy", adjacency)
    out = tmp_path / "g.npz"
    assert main(["graph", "--adjacency", str(tmp_path / "adj.npy"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "isolated sensors      1 (no edge to or from another sensor after thresholding)" in printed  # sensor 2
    assert "connected components  2 weak (largest 2 sensors), 3 strong" in printed
    assert "kernel sigma" not in printed and "rows skipped" not in printed
    np.testing.assert_array_equal(load_graph(out).adjacency.toarray(), adjacency)


def test_run_without_a_parser_still_refuses_k_without_locations(tmp_path):
    args = argparse.Namespace(k=2, locations=None, distances=None, distance_matrix=None, adjacency="adj.npy")
    with pytest.raises(SystemExit, match=r"^stgraph graph: error: --neighbors applies to --locations only$"):
        run(args)
