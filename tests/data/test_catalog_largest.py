"""LargeST in the catalog: its four datasets, their files, licence and benchmark protocol."""

import pytest

from stgraph.data.catalog import CHECKSUM_UNKNOWN, LARGEST_PROTOCOL, get_dataset
from stgraph.pipeline.config import resolve_config


@pytest.mark.parametrize(
    "key, name, sensors, districts",
    [
        ("largest-ca", "CA", 8600, None),
        ("largest-gla", "GLA", 3834, (7, 8, 12)),
        ("largest-gba", "GBA", 2352, (4,)),
        ("largest-sd", "SD", 716, (11,)),
    ],
)
def test_entries_state_sensors_files_licence_and_subset(key, name, sensors, districts):
    entry = get_dataset(key)
    assert (entry.name, entry.sensors, entry.interval, entry.null_value) == (name, sensors, "5min", 0.0)
    assert "CC BY-NC 4.0" in entry.licence
    assert "kaggle.com/datasets/liuxu77/largest" in entry.obtain
    assert [f.name for f in entry.files] == ["ca_his_raw_2019.h5", "ca_meta.csv", "ca_rn_adj.npy"]
    assert [f.role for f in entry.files] == ["readings", "locations", "adjacency"]
    assert all(f.url is None and f.checksum == CHECKSUM_UNKNOWN for f in entry.files)
    assert entry.layout() == {"features": ["flow"]}  # the HDF5 frame carries its timestamps
    assert entry.subset is not None and entry.subset.values == districts and entry.subset.adjacency_rows == "ID2"
    assert entry.folder("/data").as_posix() == "/data/largest-ca"  # the subsets read CA's files
    assert entry.protocol is LARGEST_PROTOCOL


def test_protocol_facts_and_source():
    p = LARGEST_PROTOCOL
    assert (p.interval, p.decimals, p.split, p.lookback, p.horizon, p.report_steps) == (
        "15min",
        0,
        (0.6, 0.2, 0.2),
        12,
        12,
        (3, 6, 12),
    )
    assert "process_ca_his.ipynb" in p.source and "generate_data_for_training.py" in p.source


@pytest.mark.parametrize("model", [None, "stgcn", "graph_wavenet", "stid"])
def test_the_protocol_resolves_over_every_model_yaml(model):
    config = resolve_config(model=model, dataset="largest-sd")
    assert (config.data.split, config.data.lookback, config.data.horizon) == ([0.6, 0.2, 0.2], 12, 12)


def test_the_protocol_yields_to_the_user():
    config = resolve_config(model="stgcn", overrides=["data.dataset=largest-gba", "data.split=[0.7,0.1,0.2]"])
    assert config.data.split == [0.7, 0.1, 0.2] and config.data.lookback == 12
    assert resolve_config(model="stgcn", dataset="metr-la").data.split == [0.7, 0.1, 0.2]  # no protocol: unchanged
