"""The local store: file states, the verification record, and the committed sample."""

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import pytest

import stgraph.data.catalog
import stgraph.data.store
from stgraph.data.catalog import CHECKSUM_UNKNOWN, DataFile, get_dataset
from stgraph.data.store import _file_status, dataset_status, fetch_dataset, summarize_status, verify_files
from stgraph.errors import DataFileError, SensorDataError

REPO = Path(__file__).resolve().parents[2]


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
    unknown = DataFile("notes.txt", "attributes", "a file with no checksum")
    assert unknown.checksum == CHECKSUM_UNKNOWN
    (tmp_path / "notes.txt").write_text("x")
    status = _file_status(unknown, tmp_path / "notes.txt", {}, verify=True)
    assert (status.state, status.detail) == ("present", CHECKSUM_UNKNOWN)


def test_fetching_the_committed_sample_returns_its_files(sample_dir, tmp_path):
    paths = fetch_dataset("sample", tmp_path, progress=False)  # the sample stays in the checkout, whatever the root
    assert paths == [
        sample_dir / name for name in ("readings.csv.gz", "sensor_locations.csv", "adjacency.npz", "metr-la-raw100.csv.gz")
    ]
    assert list(tmp_path.iterdir()) == []


# --- verified before use --------------------------------------------------------------------------
@pytest.fixture
def hashes(monkeypatch):
    """Forget what this process verified, and count the files :func:`verify_file` hashes."""
    monkeypatch.setattr(stgraph.data.store, "_VERIFIED", {})
    monkeypatch.setattr(stgraph.data.store, "_WARNED", set())
    hashed = []
    verify = stgraph.data.store.verify_file

    def counting(path, **checksums):
        hashed.append(Path(path).name)
        return verify(path, **checksums)

    monkeypatch.setattr(stgraph.data.store, "verify_file", counting)
    return hashed


@pytest.fixture
def sample_copy(sample_dir, tmp_path, monkeypatch):
    """A copy of the committed sample at ``<tmp_path>/sample``, where an installed stgraph
    (no checkout) looks for it under the data root ``tmp_path``."""
    monkeypatch.setattr(stgraph.data.catalog, "checkout_datasets_dir", lambda: None)
    shutil.copytree(sample_dir, tmp_path / "sample")
    return tmp_path / "sample"


def test_a_changed_byte_fails_its_sha256(sample_copy, hashes):
    data = bytearray((sample_copy / "adjacency.npz").read_bytes())
    data[100] ^= 1
    (sample_copy / "adjacency.npz").write_bytes(bytes(data))
    expected = get_dataset("sample").files[2].sha256
    with pytest.raises(DataFileError, match=rf"adjacency.npz: sha256 mismatch: expected {expected}, got [0-9a-f]{{64}}; restore"):
        verify_files("sample", root=sample_copy.parent)
    assert issubclass(DataFileError, SensorDataError)


def test_a_truncated_file_fails_its_size_before_anything_is_hashed(sample_copy, hashes):
    with open(sample_copy / "adjacency.npz", "r+b") as handle:
        handle.truncate(4000)
    with pytest.raises(
        DataFileError, match=r"sample/adjacency.npz: 4000 bytes, expected 8661 bytes; restore the committed sample"
    ):
        verify_files("sample", root=sample_copy.parent)
    assert hashes == []


def test_a_correct_copy_is_hashed_once(sample_copy, hashes):
    names = ["readings.csv.gz", "adjacency.npz"]
    assert verify_files("sample", names, sample_copy.parent) == [sample_copy / name for name in names]
    assert verify_files("sample", names, sample_copy.parent) == [sample_copy / name for name in names]
    assert hashes == names
    assert not (sample_copy / ".stgraph-verified.json").exists()  # the sample's folder is left as committed
    os.utime(sample_copy / "adjacency.npz", ns=(1, 1))  # touched: hashed again
    verify_files("sample", names, sample_copy.parent)
    assert hashes == [*names, "adjacency.npz"]


def _los_loop_copy(shared_data, tmp_path):
    """A writable copy of ``../shared/data/los-loop`` (which is read-only) under ``tmp_path``."""
    folder = shutil.copytree(shared_data / "los-loop", tmp_path / "los-loop")
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


def test_passes_are_recorded_in_the_dataset_folder(shared_data, tmp_path, hashes, monkeypatch):
    _los_loop_copy(shared_data, tmp_path)
    verify_files("los-loop", root=tmp_path)
    assert hashes == ["los_speed.csv", "los_adj.csv"]
    assert (tmp_path / "los-loop" / ".stgraph-verified.json").is_file()
    monkeypatch.setattr(stgraph.data.store, "_VERIFIED", {})  # a new process reads the record
    verify_files("los-loop", root=tmp_path)
    assert hashes == ["los_speed.csv", "los_adj.csv"]
    assert dataset_status("los-loop", tmp_path)[0].state == "verified"
    with open(tmp_path / "los-loop" / "los_adj.csv", "ab") as handle:
        handle.write(b"0\n")
    with pytest.raises(DataFileError, match=r"los_adj.csv: 111688 bytes, expected 111686 bytes; fetch it again with "):
        verify_files("los-loop", root=tmp_path)
    with pytest.raises(DataFileError, match=f"`stgraph download los-loop --root {tmp_path} --force`"):
        verify_files("los-loop", root=tmp_path)


def test_a_read_only_folder_is_verified_once_per_process(shared_data, tmp_path, hashes):
    _los_loop_copy(shared_data, tmp_path)
    (tmp_path / "los-loop").chmod(0o555)  # no write permission for anyone: left alone, even by root
    try:
        verify_files("los-loop", root=tmp_path)
        verify_files("los-loop", root=tmp_path)
        assert not (tmp_path / "los-loop" / ".stgraph-verified.json").exists()
    finally:
        (tmp_path / "los-loop").chmod(0o755)
    assert hashes == ["los_speed.csv", "los_adj.csv"]


def test_los_loop_in_the_shared_data_verifies(shared_data, hashes):
    folder = shared_data / "los-loop"
    before = sorted(folder.iterdir())
    assert verify_files("los-loop", root=shared_data) == [folder / "los_speed.csv", folder / "los_adj.csv"]
    assert sorted(folder.iterdir()) == before  # read-only: nothing written


def test_a_file_without_a_known_checksum_is_used_with_one_warning(sample_copy, hashes, caplog):
    sample = get_dataset("sample")
    unknown = dataclasses.replace(sample, files=(dataclasses.replace(sample.files[2], sha256=None), *sample.files[:2]))
    with caplog.at_level(logging.WARNING, logger="stgraph.data.store"):
        for _ in range(2):
            verify_files(unknown, ["adjacency.npz"], sample_copy.parent)
    assert [r.getMessage() for r in caplog.records] == [
        f"{sample_copy / 'adjacency.npz'}: the catalog knows no checksum for this file of METR-LA sample; it is used unverified"
    ]
    assert hashes == []
