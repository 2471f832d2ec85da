"""No command writes onto one of its inputs, and none replaces an existing file unless asked:
``graph --out``, ``predict --out``, ``train --out``, ``evaluate`` (its run directory only).

Every refusal is one line naming both files, and the input stays byte-for-byte as it was.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest

from stgraph.cli.main import main
from stgraph.graph import load_graph

LOCATIONS = "sensor_id,latitude,longitude\na,34.0,-118.0\nb,34.01,-118.0\nc,34.02,-118.01\n"
TINY = [
    "--model", "stgcn",
    "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=16", "training.threads=1",
    "--accelerator", "cpu", "--no-progress",
]  # fmt: skip


@pytest.fixture
def locations(tmp_path):
    path = tmp_path / "L.csv"
    path.write_text(LOCATIONS)
    return path


@pytest.fixture(scope="module")
def tiny_run(sample_dir, tmp_path_factory):
    """A finished run of one optimiser step on the committed sample."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", str(sample_dir.parent))
        assert main(["train", "--dataset", "sample", *TINY, "--max-steps", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def recent(sample_dir, tmp_path):
    """The last two hours of the sample's readings, as predict reads them."""
    path = tmp_path / "R.csv"
    pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp").iloc[-24:].to_csv(path)
    return path


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


# --- graph --------------------------------------------------------------------------------------
def test_graph_refuses_to_write_onto_its_input(locations, capsys):
    before = locations.read_bytes()
    assert main(["graph", "--locations", str(locations), "--out", str(locations), "--force"]) == 1
    err = _err(capsys)
    assert err.startswith("stgraph graph: error: --out ") and f"is the input --locations {locations}" in err
    assert locations.read_bytes() == before


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_graph_sees_through_links_to_its_input(locations, tmp_path, capsys, link):
    before = locations.read_bytes()
    out = tmp_path / "graph.npz"
    (os.symlink if link == "symlink" else os.link)(locations, out)
    assert main(["graph", "--locations", str(locations), "--out", str(out), "--force"]) == 1
    assert f"--out {out} is the input --locations {locations}" in _err(capsys)
    assert locations.read_bytes() == before


def test_graph_replaces_an_existing_file_only_with_force(locations, tmp_path, capsys):
    out = tmp_path / "graph.npz"
    out.write_bytes(b"an older graph")
    assert main(["graph", "--locations", str(locations), "--out", str(out)]) == 1
    assert _err(capsys) == f"stgraph graph: error: --out {out} exists; pass --force to replace it"
    assert out.read_bytes() == b"an older graph"

    assert main(["graph", "--locations", str(locations), "--out", str(out), "--force"]) == 0
    assert load_graph(out).sensor_ids == ["a", "b", "c"]


def test_graph_out_must_be_an_npz_file(locations, tmp_path, capsys):
    assert main(["graph", "--locations", str(locations), "--out", str(tmp_path / "graph.csv")]) == 1
    assert (
        _err(capsys) == f"stgraph graph: error: --out {tmp_path / 'graph.csv'}: a graph is written as .npz; name the file *.npz"
    )
    (tmp_path / "folder.npz").mkdir()
    assert main(["graph", "--locations", str(locations), "--out", str(tmp_path / "folder.npz"), "--force"]) == 1
    assert _err(capsys).endswith("folder.npz is a folder; give a file name")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["L.csv", "folder.npz"]


# --- predict ------------------------------------------------------------------------------------
def test_predict_refuses_to_write_onto_the_readings(tiny_run, recent, capsys):
    before = recent.read_bytes()
    assert main(["predict", str(tiny_run), "--readings", str(recent), "--out", str(recent), "--force"]) == 1
    assert f"--out {recent} is the input --readings {recent}" in _err(capsys)
    assert recent.read_bytes() == before


@pytest.mark.parametrize("name", ["model.pt", "forecast.csv"])
def test_predict_refuses_to_write_into_the_run_directory(tiny_run, recent, capsys, name):
    model = (tiny_run / "model.pt").read_bytes()
    out = tiny_run / name
    assert main(["predict", str(tiny_run), "--readings", str(recent), "--out", str(out), "--force"]) == 1
    assert f"--out {out} is inside RUN_DIR {tiny_run}" in _err(capsys)
    assert (tiny_run / "model.pt").read_bytes() == model
    assert not (tiny_run / "forecast.csv").exists()


def test_predict_replaces_an_existing_forecast_only_with_force(tiny_run, recent, tmp_path, capsys):
    out = tmp_path / "next.csv"
    out.write_text("yesterday's forecast\n")
    assert main(["predict", str(tiny_run), "--readings", str(recent), "--out", str(out)]) == 1
    assert _err(capsys) == f"stgraph predict: error: --out {out} exists; pass --force to replace it"
    assert out.read_text() == "yesterday's forecast\n"

    assert main(["predict", str(tiny_run), "--readings", str(recent), "--out", str(out), "--force"]) == 0
    assert pd.read_csv(out, index_col="timestamp").shape == (12, 207)


def test_predict_file_refuses_its_inputs_too(tiny_run, recent):
    from stgraph.io.outputs import OutputError
    from stgraph.pipeline.forecast import predict_file

    before = recent.read_bytes()
    with pytest.raises(OutputError, match=r"R\.csv is the input readings"):
        predict_file(tiny_run, recent, recent)
    with pytest.raises(OutputError, match="inside run directory"):
        predict_file(tiny_run, recent, tiny_run / "plots" / "next.csv")
    assert recent.read_bytes() == before


# --- train and evaluate -------------------------------------------------------------------------
def test_train_refuses_an_out_that_is_an_input(sample_dir, recent, capsys):
    before = recent.read_bytes()
    argv = ["train", "--readings", str(recent), "--adjacency", str(sample_dir / "adjacency.npz"), *TINY, "--out", str(recent)]
    assert main(argv) == 1
    assert f"--out {recent} is the input --readings {recent}" in _err(capsys)
    assert recent.read_bytes() == before


def test_evaluate_writes_nothing_outside_its_run_directory(tmp_path, capsys):
    run = tmp_path / "run"
    elsewhere = tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    (run / "model.pt").write_bytes(b"not read: the outputs are checked first")
    (run / "config.yaml").write_text("data: {dataset: sample}\nmodel: {name: stgcn}\ntraining: {}\n")
    (run / "plots").symlink_to(elsewhere, target_is_directory=True)
    assert main(["evaluate", str(run)]) == 1
    err = _err(capsys)
    assert "outside the run directory" in err and str(run / "plots") in err
    assert list(elsewhere.iterdir()) == []


def test_evaluate_never_writes_onto_the_runs_data(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(b"")
    readings = run / "metrics.json"
    readings.write_text('{"a readings file": "by mistake"}')
    (run / "config.yaml").write_text(f"data: {{readings: {readings}}}\nmodel: {{name: stgcn}}\ntraining: {{}}\n")
    assert main(["evaluate", str(run)]) == 1
    assert f"is the input data.readings {readings}" in _err(capsys)
    assert readings.read_text() == '{"a readings file": "by mistake"}'
