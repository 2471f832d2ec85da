"""Locality order: reverse Cuthill-McKee renumbering of sensors, and its use by the trainer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from stgraph import SensorGraph
from stgraph.graph.ordering import bandwidth, locality_order, ordered_for_locality
from stgraph.pipeline.config import DataConfig
from stgraph.pipeline.data import prepare_data


def _shuffled_corridor(sensors: int, seed: int = 0) -> tuple[SensorGraph, np.ndarray]:
    """A road corridor s0 - s1 - ... (both directions), listed in a shuffled sensor order."""
    shuffle = np.random.default_rng(seed).permutation(sensors)
    position = np.argsort(shuffle)  # where corridor sensor k sits in the shuffled list
    rows = np.concatenate([position[:-1], position[1:]])
    cols = np.concatenate([position[1:], position[:-1]])
    adjacency = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(sensors, sensors))
    return SensorGraph(adjacency, [f"s{k}" for k in shuffle]), shuffle


def test_locality_order_turns_a_shuffled_corridor_into_a_band_of_width_one():
    graph, _ = _shuffled_corridor(50)
    assert bandwidth(graph) > 10
    order = locality_order(graph)
    assert sorted(order.tolist()) == list(range(50))
    ordered = graph.permute(order)
    assert bandwidth(ordered) == 1
    # the corridor reads s0..s49 forwards or backwards
    ids = ordered.sensor_ids
    assert ids in ([f"s{k}" for k in range(50)], [f"s{k}" for k in reversed(range(50))])


def test_reordering_keeps_every_edge_and_weight_by_sensor_id():
    rng = np.random.default_rng(1)
    adjacency = sp.random(40, 40, density=0.1, random_state=2, format="csr") + sp.eye(40, k=1, format="csr")
    graph = SensorGraph(adjacency.tocsr(), [f"d{i}" for i in rng.permutation(40)])
    ordered = graph.permute(locality_order(graph))
    before = {(graph.sensor_ids[i], graph.sensor_ids[j]): w for i, j, w in zip(*sp.find(graph.adjacency))}
    after = {(ordered.sensor_ids[i], ordered.sensor_ids[j]): w for i, j, w in zip(*sp.find(ordered.adjacency))}
    assert before.keys() == after.keys()
    assert all(after[edge] == pytest.approx(weight) for edge, weight in before.items())


def test_small_graphs_keep_their_order_unless_asked():
    graph, _ = _shuffled_corridor(30)
    assert ordered_for_locality(graph) is graph  # below LOCALITY_MIN_SENSORS
    assert bandwidth(ordered_for_locality(graph, min_sensors=10)) == 1


def test_prepare_data_reorders_sensors_and_keeps_each_series_with_its_sensor(tmp_path):
    graph, shuffle = _shuffled_corridor(24, seed=3)
    steps = 400
    times = pd.date_range("2024-03-04", periods=steps, freq="5min")
    # sensor s<k> reads 100 k + t: each column identifies its sensor
    readings = pd.DataFrame({f"s{k}": 100.0 * k + np.arange(steps) for k in shuffle}, index=times)
    readings.index.name = "timestamp"
    readings.to_csv(tmp_path / "readings.csv")
    coo = graph.adjacency.tocoo()
    pd.DataFrame(
        {"from": [graph.sensor_ids[i] for i in coo.row], "to": [graph.sensor_ids[j] for j in coo.col], "weight": coo.data}
    ).to_csv(tmp_path / "edges.csv", index=False)
    config = {"readings": str(tmp_path / "readings.csv"), "edges": str(tmp_path / "edges.csv"), "covariates": []}

    kept = prepare_data(DataConfig(**config))  # 24 sensors: below the automatic threshold
    reordered = prepare_data(DataConfig(**config, reorder_sensors=True))

    assert bandwidth(kept.graph) > 1 and bandwidth(reordered.graph) == 1
    assert sorted(reordered.graph.sensor_ids) == sorted(kept.graph.sensor_ids)
    assert reordered.series.sensor_ids == reordered.graph.sensor_ids
    values = reordered.series.values[:, :, 0]
    for column, sensor in enumerate(reordered.series.sensor_ids):
        np.testing.assert_allclose(values[:, column], 100.0 * int(sensor[1:]) + np.arange(steps))
