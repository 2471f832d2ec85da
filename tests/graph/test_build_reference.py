"""Reference check: our builders reproduce DCRNN's published adjacency matrices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from stgraph.graph import from_distance_matrix, from_distances, from_matrix, read_sensor_ids
from stgraph.io.safe_pickle import load_pickle

pytestmark = pytest.mark.realdata


def test_pems_bay_distances_reproduce_adj_mx_bay(shared_data):
    folder = shared_data / "pems-bay-graph"
    ids, _, published = load_pickle(folder / "adj_mx_bay.pkl")
    graph = from_distances(folder / "distances_bay_2017.csv", ids)
    assert published.shape == (325, 325) and np.count_nonzero(published) == 2694
    assert graph.sensor_ids == ids
    assert graph.num_edges == 2694
    np.testing.assert_allclose(graph.adjacency.toarray(), published, rtol=0, atol=1e-6)
    # without a sensor list the numeric order of the ids is DCRNN's order
    assert from_distances(folder / "distances_bay_2017.csv").fingerprint() == graph.fingerprint()


def test_metr_la_pickle_in_sensor_id_file_order(shared_data):
    folder = shared_data / "metr-la-graph"
    graph = from_matrix(folder / "adj_mx.pkl")
    assert graph.num_sensors == 207
    assert graph.sensor_ids == read_sensor_ids(folder / "graph_sensor_ids.txt")
    assert graph.num_edges == 1722
    assert graph.adjacency.diagonal().tolist() == [1.0] * 207


def test_pemsd7m_distance_matrix_reproduces_stgcn_adjacency(shared_data):
    # hazdzz/STGCN's pemsd7-m/adj.npz is W_228.csv through the kernel with sigma = std, 0.1
    folder = shared_data / "pemsd7m-graph"
    graph = from_distance_matrix(folder / "W_228.csv")
    published = sp.load_npz(folder / "adj.npz")
    assert graph.num_edges == published.count_nonzero() == 19118
    np.testing.assert_allclose(graph.adjacency.toarray(), published.toarray(), rtol=0, atol=1e-9)
