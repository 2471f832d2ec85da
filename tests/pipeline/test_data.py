"""Catalog datasets through the data preparation: the entry's facts date and name the readings."""

import pandas as pd

from stgraph.pipeline.config import DataConfig
from stgraph.pipeline.data import load_readings_and_graph


def test_los_loop_gets_its_catalog_start_and_interval(shared_data, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(shared_data))  # ../shared/data/los-loop is the dataset folder
    series, graph, null_value, name, units = load_readings_and_graph(DataConfig(dataset="los-loop"))
    assert series.timestamps[0] == pd.Timestamp("2012-03-01 00:00") and series.interval == pd.Timedelta("5min")
    assert series.timestamps[-1] == pd.Timestamp("2012-03-07 23:55")
    assert (series.feature_names, null_value, name, units) == (["speed"], None, "los-loop", "mph")
    assert graph.sensor_ids == series.sensor_ids and graph.num_sensors == 207
