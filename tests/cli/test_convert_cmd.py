"""``stgraph convert`` end to end, and training from the converted directory as from the file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stgraph.cli.main import main
from stgraph.data.load import load_series
from stgraph.data.memmap import open_series

TINY = [
    "--model", "stgcn",
    "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=16", "training.threads=1",
    "--accelerator", "cpu", "--no-progress", "--max-steps", "3",
]  # fmt: skip


@pytest.fixture(scope="module")
def converted_sample(sample_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("convert") / "sample.stseries"
    code = main(["convert", str(sample_dir / "readings.csv.gz"), "--out", str(out), "--chunk-rows", "500", "--no-progress"])
    assert code == 0
    return out


def test_convert_writes_the_series_of_the_file(converted_sample, sample_dir, capsys):
    series, loaded = open_series(converted_sample), load_series(sample_dir / "readings.csv.gz")
    np.testing.assert_array_equal(series.values, loaded.values)
    np.testing.assert_array_equal(series.mask, loaded.mask)
    assert series.timestamps.equals(loaded.timestamps) and series.sensor_ids == loaded.sensor_ids
    assert sorted(p.name for p in converted_sample.iterdir()) == ["mask.npy", "meta.json", "timestamps.npy", "values.npy"]


def test_an_existing_out_is_refused_in_one_line_without_force(converted_sample, sample_dir, capsys):
    before = (converted_sample / "meta.json").read_text()
    code = main(["convert", str(sample_dir / "readings.csv.gz"), "--out", str(converted_sample), "--no-progress"])
    assert code == 1
    assert (
        capsys.readouterr().err.strip()
        == f"stgraph convert: error: {converted_sample}: already exists; pass --force to replace it"
    )
    assert (converted_sample / "meta.json").read_text() == before


def test_bad_readings_fail_in_one_line_naming_the_file(tmp_path, capsys):
    file = tmp_path / "readings.csv"
    file.write_text("timestamp,a,b\n2024-01-01 00:00,1,2\n2024-01-01 00:05,n/a,3\n")
    assert main(["convert", str(file), "--out", str(tmp_path / "r.stseries"), "--no-progress"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == f"stgraph convert: error: {file}, column 'a': 1 non-numeric values (first at line 3: 'n/a')"
    assert not (tmp_path / "r.stseries").exists()


def _train(readings, sample_dir, out) -> dict:
    graph = ["--adjacency", str(sample_dir / "adjacency.npz"), "--sensors", str(sample_dir / "sensor_locations.csv")]
    assert main(["train", "--readings", str(readings), *graph, *TINY, "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_training_from_the_directory_equals_training_from_the_file(converted_sample, sample_dir, tmp_path):
    from_file = _train(sample_dir / "readings.csv.gz", sample_dir, tmp_path / "file")
    from_disk = _train(converted_sample, sample_dir, tmp_path / "disk")
    assert from_disk["global_step"] == from_file["global_step"] == 3
    assert from_disk["test"] == from_file["test"] and from_disk["history"] == from_file["history"]
    assert from_disk["test"]["step_3"]["mae"] > 0
