import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from stgraph.data import catalog
from stgraph.data.catalog import CHECKSUM_UNKNOWN, DATASETS, dataset_status, get_dataset, summarize_status
from stgraph.errors import SensorDataError
from stgraph.io.paths import checkout_datasets_dir, data_root, user_cache_dir

REPO = Path(__file__).resolve().parents[2]


def test_every_entry_is_complete_and_pinned():
    assert {"metr-la", "pems-bay", "pems03", "pems04", "pems07", "pems08", "pemsd7m", "los-loop", "sz-taxi", "sample"} <= set(DATASETS)
    for dataset in DATASETS.values():
        assert dataset.sensors > 0 and dataset.steps > 0 and dataset.citations, dataset.key
        assert set(dataset.units) == set(dataset.features), dataset.key
        assert dataset.files[0].role == "readings", dataset.key
        for file in dataset.files:
            if not dataset.bundled:
                # a raw GitHub address pinned to a full commit id
                assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", file.url), file.url
                assert file.url.endswith(file.name) or file.name in ("V_228.csv", "vel.csv", "metr-la.h5"), file.url
            assert file.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", file.sha256), file.name
            assert file.git_blob is None or re.fullmatch(r"[0-9a-f]{40}", file.git_blob), file.name
    assert get_dataset("metr-la").files[0].checksum == "git blob 7df0003054d1bccd255d38949b2ef011dcadad3f"
    assert get_dataset("pemsd7m").files[0].checksum.startswith("sha256 9731c987")


@pytest.mark.parametrize("name, key", [("METR-LA", "metr-la"), ("metr_la", "metr-la"), ("PeMSD7(M)", "pemsd7m"), ("Los-loop", "los-loop"), ("SZ-taxi", "sz-taxi"), ("PEMS04", "pems04")])
def test_lookup_ignores_case_and_punctuation(name, key):
    assert get_dataset(name).key == key


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(SensorDataError, match="unknown dataset 'metr-lb'; known: metr-la, pems-bay"):
        get_dataset("metr-lb")


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


def test_committed_sample_is_verified():
    statuses = dataset_status("sample")
    assert [s.state for s in statuses] == ["verified"] * len(statuses), [(s.file.name, s.detail) for s in statuses]
    assert summarize_status(statuses) == "verified"
    assert statuses[0].path == REPO / "datasets" / "sample" / "readings.csv.gz"


def test_local_status_states_and_verification_record(tmp_path, shared_data):
    folder = tmp_path / "los-loop"
    folder.mkdir()
    assert summarize_status(dataset_status("los-loop", tmp_path)) == "not downloaded"
    shutil.copy(shared_data / "los-loop" / "los_speed.csv", folder)
    (folder / "los_adj.csv.part").write_bytes(b"1,0\n")
    statuses = dataset_status("los-loop", tmp_path)
    assert [(s.state, s.detail) for s in statuses] == [
        ("present", "not verified yet"),
        ("partial", "interrupted download (4 bytes in los_adj.csv.part)"),
    ]
    assert summarize_status(statuses) == "1/2 files, 1 partial"
    assert dataset_status("los-loop", tmp_path, verify=True)[0].state == "verified"
    # remembered: no --verify needed any more
    assert dataset_status("los-loop", tmp_path)[0].state == "verified"
    # a changed file (same size, new bytes and mtime) is no longer taken as verified
    data = bytearray((folder / "los_speed.csv").read_bytes())
    data[-2:-1] = b"9" if data[-2:-1] != b"9" else b"8"
    (folder / "los_speed.csv").write_bytes(bytes(data))
    os.utime(folder / "los_speed.csv", ns=(1, 1))
    status = dataset_status("los-loop", tmp_path, verify=True)[0]
    assert status.state == "corrupt" and "sha256 mismatch: expected 7b732d86" in status.detail
    (folder / "los_speed.csv").write_bytes(b"short")
    assert dataset_status("los-loop", tmp_path)[0].detail == "5 bytes, expected 3402125"


def test_file_without_checksum_is_only_present(tmp_path):
    unknown = catalog.DataFile("notes.txt", "attributes", "a file with no checksum")
    assert unknown.checksum == CHECKSUM_UNKNOWN
    (tmp_path / "notes.txt").write_text("x")
    status = catalog._file_status(unknown, tmp_path / "notes.txt", {}, verify=True)
    assert (status.state, status.detail) == ("present", CHECKSUM_UNKNOWN)


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
