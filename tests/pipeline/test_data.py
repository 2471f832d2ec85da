"""Catalog datasets through the data preparation: the entry's facts date and name the readings,
and every file read is verified first."""

import dataclasses
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

import stgraph.data.catalog
import stgraph.data.store
import stgraph.pipeline.data
from stgraph.errors import DataFileError
from stgraph.pipeline.config import DataConfig
from stgraph.pipeline.data import load_readings_and_graph, prepare_data


def test_los_loop_gets_its_catalog_start_and_interval(shared_data, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(shared_data))  # ../shared/data/los-loop is the dataset folder
    series, graph, null_value, name, units = load_readings_and_graph(DataConfig(dataset="los-loop"))
    assert series.timestamps[0] == pd.Timestamp("2012-03-01 00:00") and series.interval == pd.Timedelta("5min")
    assert series.timestamps[-1] == pd.Timestamp("2012-03-07 23:55")
    assert (series.feature_names, null_value, name, units) == (["speed"], None, "los-loop", "mph")
    assert graph.sensor_ids == series.sensor_ids and graph.num_sensors == 207


# --- verified before use --------------------------------------------------------------------------
@pytest.fixture
def sample_root(sample_dir, tmp_path, monkeypatch):
    """A data root holding a copy of the committed sample, as an installed stgraph (no checkout)
    reads it; what this process verified is forgotten, and hashed files are counted."""
    monkeypatch.setattr(stgraph.data.catalog, "checkout_datasets_dir", lambda: None)
    monkeypatch.setattr(stgraph.data.store, "_VERIFIED", {})
    monkeypatch.setattr(stgraph.data.store, "_WARNED", set())
    shutil.copytree(sample_dir, tmp_path / "sample")
    return tmp_path


@pytest.fixture
def hashed(monkeypatch):
    names = []
    verify = stgraph.data.store.verify_file

    def counting(path, **checksums):
        names.append(Path(path).name)
        return verify(path, **checksums)

    monkeypatch.setattr(stgraph.data.store, "verify_file", counting)
    return names


def _nothing_built(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a file was read before the files were verified")

    monkeypatch.setattr(stgraph.pipeline.data, "load_series", fail)
    monkeypatch.setattr(stgraph.pipeline.data, "from_matrix", fail)


def test_a_corrupt_adjacency_stops_before_anything_is_built(sample_root, monkeypatch):
    adjacency = sample_root / "sample" / "adjacency.npz"
    data = bytearray(adjacency.read_bytes())
    data[-10] ^= 0xFF
    adjacency.write_bytes(bytes(data))
    _nothing_built(monkeypatch)
    with pytest.raises(DataFileError, match=rf"{adjacency}: sha256 mismatch: expected 803a0c8f\w+, got \w+; restore"):
        prepare_data(DataConfig(dataset="sample"), root=sample_root)
    adjacency.write_bytes(bytes(data[:100]))
    monkeypatch.setenv("STGRAPH_DATA", str(sample_root))  # the data root from the environment
    with pytest.raises(DataFileError, match=rf"{adjacency}: 100 bytes, expected 8661 bytes"):
        load_readings_and_graph(DataConfig(dataset="sample"))


def test_a_correct_copy_is_hashed_once_across_two_loads(sample_root, hashed, monkeypatch):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_root))
    first = prepare_data(DataConfig(dataset="sample"))
    second = prepare_data(DataConfig(dataset="sample"))
    assert sorted(hashed) == ["adjacency.npz", "readings.csv.gz", "sensor_locations.csv"]  # the files it reads
    assert first.graph.num_edges == second.graph.num_edges == 1722


def test_a_file_without_a_known_checksum_is_loaded_with_a_warning(sample_root, hashed, monkeypatch, caplog):
    sample = stgraph.data.catalog.get_dataset("sample")
    files = tuple(dataclasses.replace(f, sha256=None) if f.role == "adjacency" else f for f in sample.files)
    monkeypatch.setattr(stgraph.pipeline.data, "get_dataset", lambda name: dataclasses.replace(sample, files=files))
    with caplog.at_level(logging.WARNING, logger="stgraph.data.store"):
        _, graph, *_ = load_readings_and_graph(DataConfig(dataset="sample"), root=sample_root)
        load_readings_and_graph(DataConfig(dataset="sample"), root=sample_root)
    assert graph.num_sensors == 207 and "adjacency.npz" not in hashed
    assert [r.getMessage() for r in caplog.records] == [
        f"{sample_root / 'sample' / 'adjacency.npz'}: the catalog knows no checksum for this file of METR-LA sample; "
        "it is used unverified"
    ]


def test_los_loop_in_the_shared_data_is_verified_and_left_alone(shared_data, hashed, monkeypatch):
    monkeypatch.setattr(stgraph.data.store, "_VERIFIED", {})
    before = sorted((shared_data / "los-loop").iterdir())
    load_readings_and_graph(DataConfig(dataset="los-loop"), root=shared_data)
    assert sorted(hashed) == ["los_adj.csv", "los_speed.csv"]
    assert sorted((shared_data / "los-loop").iterdir()) == before


def test_epoch_shuffle_draws_what_a_shuffling_torch_dataloader_draws():
    """Each epoch's order is PyTorch's for the same seed (so seeds keep their batches), yet a
    function of (seed, epoch) alone (so a resumed process draws the same order)."""
    from torch.utils.data import DataLoader

    from stgraph.pipeline.data import EpochShuffle

    windows, seed = 37, 5
    loader = DataLoader(list(range(windows)), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(seed))
    torch_orders = [[int(i) for batch in loader for i in batch] for _ in range(4)]
    assert [EpochShuffle(windows, seed).order(epoch).tolist() for epoch in range(4)] == torch_orders
    assert torch_orders[0] != torch_orders[1] and sorted(torch_orders[3]) == list(range(windows))


def test_rank_batches_share_out_the_one_process_batches():
    """Each process takes every R-th window of each one-process batch; in training the epoch is cut
    to a multiple of R windows (equal steps and shares), a resume skips the same windows."""
    from stgraph.errors import ConfigError
    from stgraph.pipeline.data import EpochShuffle, RankBatches

    alone = RankBatches(EpochShuffle(21, seed=4), batch_size=6, even=True)
    alone.sampler.set_epoch(2)
    batches = list(alone)
    assert [len(b) for b in batches] == [6, 6, 6, 3] and len(alone) == 4
    shares = []
    for rank in range(2):
        mine = RankBatches(EpochShuffle(21, seed=4), batch_size=6, even=True)
        mine.shard(rank, 2)
        mine.sampler.set_epoch(2)
        shares.append(list(mine))
        assert len(mine) == 4
    assert [sorted(a + b) for a, b in zip(*shares, strict=True)] == [sorted(b) for b in batches[:3]] + [sorted(batches[3][:2])]
    assert shares[0][0] == batches[0][0::2] and shares[1][0] == batches[0][1::2]
    resumed = RankBatches(EpochShuffle(21, seed=4), batch_size=6, even=True)
    resumed.shard(1, 2)
    assert isinstance(resumed.sampler, EpochShuffle)
    resumed.sampler.resume_at(2, 12)  # two global batches trained before an interruption
    assert list(resumed) == shares[1][2:]
    evaluation = RankBatches(range(6), batch_size=4)  # nothing dropped; rank 2 has one batch fewer
    evaluation.shard(2, 3)
    assert list(evaluation) == [[2]]
    with pytest.raises(ConfigError, match=r"data\.batch_size 6 is the global batch, split evenly over 4 processes"):
        alone.shard(0, 4)
