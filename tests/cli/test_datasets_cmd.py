"""`stgraph datasets` and `stgraph download`, end to end through stgraph.cli.main.main."""

import functools
import hashlib
import http.server
import shutil
import socket
import threading

import pytest

from stgraph.cli.main import main
from stgraph.data import catalog

READINGS = b"timestamp,a,b\n2024-01-01 00:00:00,61.5,0\n"


def tiny_dataset(url: str, sha256: str) -> catalog.Dataset:
    return catalog.Dataset(
        key="tiny",
        name="Tiny",
        description="two sensors, one step",
        sensors=2,
        steps=1,
        interval="5min",
        start="2024-01-01 00:00",
        calendar="contiguous",
        features=("speed",),
        units={"speed": "mph"},
        null_value=0.0,
        missing_share=None,
        source="a test",
        citations=(catalog.Citation("A. Author", "A title", "A venue", 2024),),
        files=(catalog.DataFile("readings.csv", "readings", "wide CSV", url, size=len(READINGS), sha256=sha256),),
    )


@pytest.fixture
def http_folder(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 until the test ends (at most 30 s)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    timer = threading.Timer(30, httpd.shutdown)
    timer.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    timer.cancel()
    httpd.shutdown()
    httpd.server_close()


def test_datasets_lists_the_catalog_with_local_status(tmp_path, capsys):
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path}" in out
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    for name in ("METR-LA", "PEMS-BAY", "PEMS03", "PEMS04", "PEMS07", "PEMS08", "PeMSD7(M)", "Los-loop", "SZ-taxi"):
        assert lines[name].endswith("not downloaded"), lines[name]
    assert lines["METR-LA"].split() == ["METR-LA", "metr-la", "207", "34272", "5min", "not", "downloaded"]
    assert lines["SZ-taxi"].split()[2:5] == ["156", "2976", "15min"]
    assert lines["METR-LA sample"].endswith("verified")


def test_dataset_details_after_placing_files_by_hand(tmp_path, shared_data, capsys):
    folder = tmp_path / "los-loop"
    folder.mkdir()
    for name in ("los_speed.csv", "los_adj.csv"):
        shutil.copy(shared_data / "los-loop" / name, folder)
    assert main(["datasets", "Los-loop", "--root", str(tmp_path), "--verify"]) == 0
    out = capsys.readouterr().out
    assert "sensors 207, steps 2016, interval 5min, from 2012-03-01 00:00" in out
    assert "los_speed.csv [readings]: verified (sha256 7b732d86" in out
    assert "T-GCN: A Temporal Graph Convolutional Network for Traffic Prediction" in out
    # offline is fine now: nothing left to download
    assert main(["download", "los-loop", "--root", str(tmp_path), "--quiet"]) == 0
    assert f"Los-loop: 2 files in {folder}" in capsys.readouterr().out


def test_download_then_listed_as_verified(tmp_path, http_folder, capsys, monkeypatch):
    www, base = http_folder
    (www / "readings.csv").write_bytes(READINGS)
    monkeypatch.setitem(catalog.DATASETS, "tiny", tiny_dataset(f"{base}/readings.csv", hashlib.sha256(READINGS).hexdigest()))
    root = tmp_path / "root"
    assert main(["download", "tiny", "--root", str(root), "--quiet"]) == 0
    assert (root / "tiny" / "readings.csv").read_bytes() == READINGS
    assert main(["datasets", "--root", str(root)]) == 0
    tiny = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Tiny ")]
    assert tiny[0].split() == ["Tiny", "tiny", "2", "1", "5min", "verified"]


def test_download_of_wrong_bytes_fails_and_leaves_nothing(tmp_path, http_folder, capsys, monkeypatch):
    www, base = http_folder
    (www / "readings.csv").write_bytes(READINGS.replace(b"61.5", b"99.9"))
    expected = hashlib.sha256(READINGS).hexdigest()
    monkeypatch.setitem(catalog.DATASETS, "tiny", tiny_dataset(f"{base}/readings.csv", expected))
    assert main(["download", "tiny", "--root", str(tmp_path), "--quiet"]) == 1
    assert f"sha256 mismatch: expected {expected}" in capsys.readouterr().err
    assert list((tmp_path / "tiny").iterdir()) == []


def test_download_offline_says_which_file_to_place_where(tmp_path, capsys, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sha256 = hashlib.sha256(READINGS).hexdigest()
    monkeypatch.setitem(catalog.DATASETS, "tiny", tiny_dataset(f"http://127.0.0.1:{port}/readings.csv", sha256))
    assert main(["download", "tiny", "--root", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Tiny: 1 of 1 files could not be downloaded" in err
    assert f"place it at {tmp_path / 'tiny' / 'readings.csv'}; it should have sha256 {sha256}" in err


def test_unknown_dataset_is_an_error(capsys):
    assert main(["download", "metr-lb"]) == 1
    assert "unknown dataset 'metr-lb'; known: metr-la" in capsys.readouterr().err
