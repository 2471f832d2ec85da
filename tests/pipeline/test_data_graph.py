"""The graph of one's own files, in ``prepare_data``: the threshold and what it dropped, in ``describe()``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stgraph.pipeline.config import DataConfig
from stgraph.pipeline.data import prepare_data

SENSORS = ["s1", "s2", "s3", "s4", "s5"]
CHAIN = "from,to,distance\ns1,s2,100\ns2,s3,100\ns3,s4,100\ns4,s5,5000\n"  # tests/graph/test_diagnostics.py
WARNING = (
    "warning: links.csv: the kernel threshold 0.1 dropped 1 of 4 links (sigma 2122); 1 of 5 sensors are now isolated "
    "and the graph has 2 components (largest 4 sensors). To keep them: --threshold 0.001, or "
)


@pytest.fixture
def readings(tmp_path):
    index = pd.date_range("2024-05-06 07:00", periods=80, freq="5min", name="timestamp")
    frame = pd.DataFrame(np.random.default_rng(0).normal(50, 5, size=(80, 5)).round(2), index=index, columns=SENSORS)
    frame.to_csv(tmp_path / "readings.csv")
    (tmp_path / "links.csv").write_text(CHAIN)
    return tmp_path


def _config(readings, **graph):
    return DataConfig(readings=str(readings / "readings.csv"), lookback=4, horizon=2, **graph)


def test_describe_says_what_the_threshold_dropped_from_a_distances_file(readings):
    data = prepare_data(_config(readings, distances=str(readings / "links.csv")))
    lines = data.describe()
    assert data.graph_diagnostics() == [
        WARNING + 'take the file\'s values as weights with --edges links.csv (third column headed "weight").'
    ]
    assert lines[1].startswith("graph:    5 sensors, 3 edges between sensors") and lines[2] == data.graph_diagnostics()[0]
    assert lines[3].startswith("windows:")
    assert prepare_data(_config(readings, distances=str(readings / "links.csv"), threshold=0.001)).graph_diagnostics() == []


def test_an_edge_file_headed_distance_gets_the_threshold_and_says_how_it_was_read(readings):
    (readings / "links.csv").rename(readings / "edges.csv")
    data = prepare_data(_config(readings, edges=str(readings / "edges.csv")))
    assert data.graph_diagnostics() == [
        "edges.csv: third column 'distance' read as a distance (Gaussian kernel, sigma 2122, threshold 0.1)",
        WARNING.replace("links.csv", "edges.csv") + 'head the third column "weight" to take the values as weights.',
    ]
    loose = prepare_data(_config(readings, edges=str(readings / "edges.csv"), threshold=0.001))
    assert loose.graph.num_edges == 4
