"""The local store: file states, the verification record, and the committed sample."""

import os
import shutil
from pathlib import Path

from stgraph.data.catalog import CHECKSUM_UNKNOWN, DataFile
from stgraph.data.store import _file_status, dataset_status, fetch_dataset, summarize_status

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
