"""The catalog's facts: complete, pinned, matching the real files, and used when loading."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stgraph.data import load_series
from stgraph.data.catalog import DATASETS, get_dataset, normalise_name
from stgraph.errors import SensorDataError
from stgraph.io.paths import checkout_datasets_dir, data_root, user_cache_dir

REPO = Path(__file__).resolve().parents[2]


def test_every_entry_is_complete_and_pinned():
    assert {"metr-la", "pems-bay", "pems03", "pems04", "pems07", "pems08", "pemsd7m", "los-loop", "sz-taxi", "sample"} <= set(
        DATASETS
    )
    for dataset in DATASETS.values():
        assert dataset.sensors > 0 and dataset.steps > 0 and dataset.citations, dataset.key
        assert set(dataset.units) == set(dataset.features), dataset.key
        assert dataset.files[0].role == "readings", dataset.key
        for file in dataset.files:
            if file.url is None and not dataset.bundled:  # LargeST: Kaggle, behind a login
                assert dataset.obtain, f"{dataset.key}: a file without a download address needs `obtain`"
            elif not dataset.bundled:
                # a raw GitHub address pinned to a full commit id
                assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", file.url), file.url
                assert file.url.endswith(file.name) or file.name in ("V_228.csv", "vel.csv", "metr-la.h5"), file.url
            assert file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", file.sha256), file.name
            assert file.git_blob is None or re.fullmatch(r"[0-9a-f]{40}", file.git_blob), file.name
    assert get_dataset("metr-la").files[0].checksum == "git blob 7df0003054d1bccd255d38949b2ef011dcadad3f"
    assert get_dataset("pemsd7m").files[0].checksum.startswith("sha256 9731c987")


@pytest.mark.parametrize(
    "name, key",
    [
        ("METR-LA", "metr-la"),
        ("metr_la", "metr-la"),
        ("PeMSD7(M)", "pemsd7m"),
        ("Los-loop", "los-loop"),
        ("SZ-taxi", "sz-taxi"),
        ("PEMS04", "pems04"),
    ],
)
def test_lookup_ignores_case_and_punctuation(name, key):
    assert get_dataset(name).key == key


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(SensorDataError, match="unknown dataset 'metr-lb'; known: metr-la, pems-bay"):
        get_dataset("metr-lb")


def test_normalise_name_drops_case_and_punctuation():
    assert [normalise_name(n) for n in ("PeMSD7(M)", "metr_la", "Los-loop")] == ["pemsd7m", "metrla", "losloop"]


def test_layout_dates_only_readings_without_timestamps():
    assert get_dataset("metr-la").layout() == {"features": ["speed"]}  # the HDF5 frame has a DatetimeIndex
    assert get_dataset("sample").layout() == {"features": ["speed"]}  # a timestamp column
    assert get_dataset("sz-taxi").layout() == {"features": ["speed"], "start": "2015-01-01 00:00", "interval": "15min"}
    assert get_dataset("pems08").layout() == {
        "features": ["flow", "occupancy", "speed"],
        "start": "2016-07-01 00:00",
        "interval": "5min",
    }
    with pytest.raises(
        SensorDataError,
        match=r"V_228\.csv: no timestamps, and a start and an interval cannot date the rows of PeMSD7\(M\) \(weekdays",
    ):
        get_dataset("pemsd7m").layout()


def test_pems_npz_loaded_with_its_entry_facts(tmp_path):
    """A synthetic PEMS04.npz: the entry, not the file name, gives start, interval and features."""
    pems04 = get_dataset("pems04")
    np.savez(tmp_path / pems04.readings.name, data=np.ones((4, 3, 3)))
    series = load_series(tmp_path / pems04.readings.name, null_value=pems04.null_value, **pems04.layout())
    assert series.feature_names == ["flow", "occupancy", "speed"]
    assert series.timestamps[0] == pd.Timestamp("2018-01-01 00:00") and series.interval == pd.Timedelta("5min")


def test_los_loop_loaded_with_its_entry_facts(shared_data):
    los_loop = get_dataset("los-loop")
    series = load_series(shared_data / "los-loop" / los_loop.readings.name, **los_loop.layout())
    assert (series.num_steps, series.num_sensors) == (los_loop.steps, los_loop.sensors)
    assert series.timestamps[0] == pd.Timestamp("2012-03-01 00:00") and series.interval == pd.Timedelta("5min")
    assert series.feature_names == ["speed"]


def test_committed_sample_agrees_with_its_entry(sample_dir):
    sample = get_dataset("sample")
    series = load_series(sample_dir / sample.readings.name, **sample.layout())
    assert (series.num_steps, series.num_sensors) == (sample.steps, sample.sensors)
    assert series.timestamps[0] == pd.Timestamp(sample.start) and series.interval == pd.Timedelta(sample.interval)


def test_catalog_checksums_match_the_real_files(shared_data):
    """Every catalog file we hold a copy of has the catalog's size and sha256."""
    copies = {path.name: path for path in shared_data.rglob("*") if path.is_file()}
    not_held = []
    for dataset in DATASETS.values():
        for file in dataset.files:
            if dataset.bundled or file.sha256 is None:
                continue
            if file.name not in copies:
                not_held.append(file.name)
                continue
            data = copies[file.name].read_bytes()
            assert len(data) == file.size, file.name
            assert hashlib.sha256(data).hexdigest() == file.sha256, file.name
    assert not_held == ["V_228.csv"]  # its sha256 comes from the README's section 8


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("STGRAPH_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("STGRAPH_DATA")
    assert checkout_datasets_dir() == REPO / "datasets"
    assert data_root() == REPO / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert user_cache_dir() == tmp_path / "cache" / "stgraph"
    assert get_dataset("pems04").folder(tmp_path) == tmp_path / "pems04"
    assert get_dataset("sample").folder(tmp_path) == REPO / "datasets" / "sample"  # stays in the checkout


def test_build_sample_reproduces_the_committed_sample(shared_data, sample_dir, tmp_path):
    import gzip
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_sample", REPO / "datasets" / "build_sample.py")
    build_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_sample)
    files = build_sample.build(shared_data, tmp_path)
    assert sum(len(data) for data in files.values()) <= 1_000_000
    for name, data in files.items():
        committed = (sample_dir / name).read_bytes()
        if name.endswith(".gz"):  # compare content: gzip bytes may vary with the zlib build
            assert gzip.decompress(data) == gzip.decompress(committed), name
        elif name != "README.md":  # the README lists the gzip digests
            assert data == committed, name
    assert build_sample.build(shared_data, tmp_path / "again") == files  # deterministic
