"""Ready-made adjacency files, edge lists and networkx graphs."""

from __future__ import annotations

import os
import pickle

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from stgraph.errors import GraphError
from stgraph.graph import from_distance_matrix, from_edge_list, from_matrix, from_networkx

MATRIX = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.25], [0.75, 0.0, 1.0]])


def write(path, text):
    path.write_text(text)
    return path


def test_csv_headerless(tmp_path):
    path = write(tmp_path / "adj.csv", "1,0.5,0\n0,1,0.25\n0.75,0,1\n")
    graph = from_matrix(path)
    np.testing.assert_array_equal(graph.adjacency.toarray(), MATRIX)
    assert graph.sensor_ids == ["0", "1", "2"]
    assert from_matrix(path, ["x", "y", "z"]).sensor_ids == ["x", "y", "z"]


@pytest.mark.parametrize(
    "text",
    [
        "s1,s2,s3\n1,0.5,0\n0,1,0.25\n0.75,0,1\n",  # header of ids
        "101,102,103\n1,0.5,0\n0,1,0.25\n0.75,0,1\n",  # numeric ids: one more row than columns
        ",101,102,103\n101,1,0.5,0\n102,0,1,0.25\n103,0.75,0,1\n",  # DataFrame.to_csv layout
    ],
)
def test_csv_with_sensor_header(tmp_path, text):
    graph = from_matrix(write(tmp_path / "adj.csv", text))
    np.testing.assert_array_equal(graph.adjacency.toarray(), MATRIX)
    assert len(graph.sensor_ids) == 3 and graph.sensor_ids[0] in ("s1", "101")


def test_csv_header_ids_reordered_by_sensor_ids(tmp_path):
    path = write(tmp_path / "adj.csv", "s1,s2,s3\n1,0.5,0\n0,1,0.25\n0.75,0,1\n")
    graph = from_matrix(path, ["s3", "s1"])
    np.testing.assert_array_equal(graph.adjacency.toarray(), [[1.0, 0.75], [0.0, 1.0]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,0.5,0\n0,nan,0.25\n0.75,0,1\n", r"adj\.csv, line 2, column 2: weight is NaN"),
        ("1,0.5,0\n0,1,0.25\n0.75,x,1\n", r"adj\.csv, line 3, column 2: weight 'x' is not a number"),
        ("1,0.5,0\n0,1\n0.75,0,1\n", r"adj\.csv, line 2: expected 3 values, got 2"),
        ("1,0.5,0\n0,1,0.25\n", r"adj\.csv: adjacency must be square \[sensors, sensors\], got 2 rows x 3 columns"),
        ("1,-0.5\n0,1\n", r"adj\.csv: adjacency has negative weights"),
    ],
)
def test_bad_csv_matrix(tmp_path, text, message):
    with pytest.raises(GraphError, match=message):
        from_matrix(write(tmp_path / "adj.csv", text))


def test_npy_and_npz_files(tmp_path):
    np.save(tmp_path / "adj.npy", MATRIX)
    sp.save_npz(tmp_path / "sparse.npz", sp.csr_matrix(MATRIX))
    np.savez(tmp_path / "dense.npz", adjacency=MATRIX)
    for name in ("adj.npy", "sparse.npz", "dense.npz"):
        np.testing.assert_array_equal(from_matrix(tmp_path / name).adjacency.toarray(), MATRIX)
    np.save(tmp_path / "bad.npy", np.ones((2, 3)))
    with pytest.raises(GraphError, match=r"bad\.npy: adjacency must be square \[sensors, sensors\], got 2 x 3"):
        from_matrix(tmp_path / "bad.npy")
    np.savez(tmp_path / "two.npz", a=MATRIX, b=MATRIX)
    with pytest.raises(GraphError, match=r"two\.npz: expected a scipy\.sparse\.save_npz matrix"):
        from_matrix(tmp_path / "two.npz")


def test_nan_weight_in_array_names_file(tmp_path):
    bad = MATRIX.copy()
    bad[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(GraphError, match=r"nan\.npy: adjacency has 1 non-finite weights \(first at row 2, column 1\)"):
        from_matrix(tmp_path / "nan.npy")


def test_dcrnn_pickle(tmp_path):
    ids = ["773869", "767541", "767542"]
    path = tmp_path / "adj_mx.pkl"
    path.write_bytes(pickle.dumps((ids, {s: i for i, s in enumerate(ids)}, MATRIX.astype(np.float32)), protocol=2))
    graph = from_matrix(path)
    assert graph.sensor_ids == ids
    np.testing.assert_allclose(graph.adjacency.toarray(), MATRIX)
    assert from_matrix(path, ["767542", "773869"]).adjacency.toarray().tolist() == [[1.0, 0.75], [0.0, 1.0]]
    path.write_bytes(pickle.dumps((ids, {"773869": 1, "767541": 0, "767542": 2}, MATRIX), protocol=2))
    with pytest.raises(GraphError, match=r"adj_mx\.pkl: sensor_id_to_ind disagrees"):
        from_matrix(path)


def test_distance_matrix_kernel(tmp_path):
    path = write(tmp_path / "W.csv", "0,1000,3000\n1000,0,2000\n3000,2000,0\n")
    graph = from_distance_matrix(path)
    # entries 0 x3, 1000 x2, 2000 x2, 3000 x2: mean 12000 / 9, population std over all nine
    d = np.array([[0.0, 1000, 3000], [1000, 0, 2000], [3000, 2000, 0]])
    sigma = np.sqrt(((d - 12000 / 9) ** 2).mean())
    expected = np.exp(-((d / sigma) ** 2))
    expected[expected < 0.1] = 0.0
    np.testing.assert_allclose(graph.adjacency.toarray(), expected)
    assert graph.adjacency[0, 2] == 0.0 and graph.adjacency[0, 0] == 1.0
    # STGCN's reference setting: d / 10000, sigma^2 = 0.1, epsilon = 0.5, no self-loops
    stgcn = from_distance_matrix(path, sigma=1000 * 10**0.5, threshold=0.5, self_loops=False)
    # (1000 / 3162.3)^2 = 0.1, (2000 / ...)^2 = 0.4 kept; exp(-0.9) = 0.41 < 0.5 dropped
    near, far = np.exp(-0.1), np.exp(-0.4)
    np.testing.assert_allclose(stgcn.adjacency.toarray(), [[0, near, 0], [near, 0, far], [0, far, 0]])
    with pytest.raises(GraphError, match=r"W\.csv: all distances are equal"):
        from_distance_matrix(write(tmp_path / "W.csv", "0,0\n0,0\n"))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "adj_mx.pkl"
    path.write_bytes(pickle.dumps((["a"], _Exploit(marker), np.eye(1)), protocol=2))
    with pytest.raises(GraphError, match=r"adj_mx\.pkl: refused to load global (posix|os|nt)\.system"):
        from_matrix(path)
    assert not marker.exists()


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(GraphError, match=r"adj\.xlsx: unknown adjacency format"):
        from_matrix(write(tmp_path / "adj.xlsx", ""))
    with pytest.raises(FileNotFoundError, match=r"nowhere.csv"):
        from_matrix(tmp_path / "nowhere.csv")


def test_edge_list_file_weights_as_given(tmp_path):
    path = write(tmp_path / "edges.csv", "from,to,weight\n0,1,0.5\n1,2,2\n2,9,1\n")
    graph = from_edge_list(path, ["0", "1", "2", "3"])
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2] = 0.5, 2.0
    np.testing.assert_array_equal(graph.adjacency.toarray(), expected)
    assert graph.build_report.rows_skipped == 1
    assert graph.build_report.isolated_sensors == ["3"]
    binary = from_edge_list(path, weighted=False, directed=False)
    assert binary.sensor_ids == ["0", "1", "2", "9"]
    assert binary.adjacency.toarray().tolist() == [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]


def test_edge_list_rows_and_errors(tmp_path):
    graph = from_edge_list([("a", "b"), ("b", "c")])
    assert graph.sensor_ids == ["a", "b", "c"] and graph.num_edges == 2
    with pytest.raises(GraphError, match=r"edge row 1: weight must be a finite non-negative number, got nan"):
        from_edge_list([("a", "b", 1.0), ("b", "c", float("nan"))])
    with pytest.raises(GraphError, match=r"edges\.csv, line 3: weight is NaN"):
        from_edge_list(write(tmp_path / "edges.csv", "from,to,weight\n0,1,1\n1,2,NaN\n"))


def test_from_networkx_undirected_is_symmetric():
    g = nx.Graph()
    g.add_edge("a", "b", weight=0.5)
    g.add_edge("b", "c")  # no weight: 1
    graph = from_networkx(g)
    assert graph.sensor_ids == ["a", "b", "c"]
    np.testing.assert_array_equal(graph.adjacency.toarray(), [[0, 0.5, 0], [0.5, 0, 1], [0, 1, 0]])
    g.add_edge("c", "a", weight=float("nan"))
    with pytest.raises(GraphError, match=r"edge (c -> a|a -> c) has NaN 'weight'"):
        from_networkx(g)
