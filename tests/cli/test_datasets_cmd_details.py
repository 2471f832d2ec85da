"""``stgraph datasets NAME``: one dataset in detail (facts, citation, each file's state and where it
goes), on a two-file catalog entry made up for the test, so no real data is needed."""

from __future__ import annotations

import hashlib
import os

import pytest

from stgraph.cli.main import main
from stgraph.data import catalog

READINGS = b"timestamp,a,b\n2024-01-01 00:00:00,10,12\n"
SHA256 = hashlib.sha256(READINGS).hexdigest()


@pytest.fixture
def tiny(monkeypatch) -> catalog.Dataset:
    dataset = catalog.Dataset(
        key="tiny",
        name="Tiny",
        description="two loop detectors",
        sensors=2,
        steps=1,
        interval="15min",
        start="2024-01-01 00:00",
        calendar="contiguous",
        features=("flow", "speed"),
        units={"flow": "vehicles", "speed": "km/h"},
        null_value=None,
        missing_share=0.125,
        source="a test",
        notes="made up",
        citations=(catalog.Citation("A. Author", "A title", "A venue", 2024),),
        files=(
            catalog.DataFile(
                "readings.csv", "readings", "wide CSV", "https://example.org/r.csv", size=len(READINGS), sha256=SHA256
            ),
            catalog.DataFile("adjacency.csv", "adjacency", "dense matrix", ""),
        ),
    )
    monkeypatch.setitem(catalog.DATASETS, "tiny", dataset)
    return dataset


def _details(tmp_path, capsys, *extra: str) -> list[str]:
    assert main(["datasets", "tiny", "--root", str(tmp_path), *extra]) == 0
    return capsys.readouterr().out.splitlines()


def test_details_of_a_dataset_not_downloaded(tiny, tmp_path, capsys):
    assert _details(tmp_path, capsys) == [
        "Tiny (tiny): two loop detectors",
        "  sensors 2, steps 1, interval 15min, from 2024-01-01 00:00 (contiguous)",
        "  features: flow (vehicles), speed (km/h)",
        "  missing readings: null value none (NaN only); share 12.5%",
        "  source: a test",
        "  notes: made up",
        "  cite:",
        '    A. Author, "A title", A venue, 2024',
        f"  files in {tmp_path / 'tiny'}:",
        "    readings.csv [readings]: missing",
        "      wide CSV",
        f"      {len(READINGS)} bytes; sha256 {SHA256}",
        "      https://example.org/r.csv",
        "    adjacency.csv [adjacency]: missing",
        "      dense matrix",
        "      size not yet known; checksum not yet known",
    ]


def test_placed_files_are_verified_only_when_asked(tiny, tmp_path, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "readings.csv").write_bytes(READINGS)
    (folder / "adjacency.csv").write_text("1,0\n0,1\n")
    lines = _details(tmp_path, capsys)
    assert "    readings.csv [readings]: present (not verified yet)" in lines
    assert "    adjacency.csv [adjacency]: present (checksum not yet known)" in lines
    lines = _details(tmp_path, capsys, "--verify")
    assert f"    readings.csv [readings]: verified (sha256 {SHA256})" in lines


def test_a_damaged_or_half_downloaded_file_says_so(tiny, tmp_path, capsys):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "readings.csv").write_bytes(READINGS.replace(b"10", b"99"))  # same size, other bytes
    (folder / "adjacency.csv.part").write_bytes(b"1,0\n")
    lines = _details(tmp_path, capsys, "--verify")
    (state,) = [line for line in lines if line.startswith("    readings.csv")]
    assert state.startswith("    readings.csv [readings]: corrupt (") and f"expected {SHA256}" in state
    assert "    adjacency.csv [adjacency]: partial (interrupted download (4 bytes in adjacency.csv.part))" in lines
    # nothing is deleted or renamed: the user decides what to do with the files
    assert {"readings.csv", "adjacency.csv.part"} <= set(os.listdir(folder))
