"""A user's mistake ends in one line naming the flag or the file, never in a traceback: bad
counts, hardware that is not there, a folder that cannot be written, a full disk, a missing
file. ``--verbose`` keeps the traceback, and so does a bug in stgraph."""

from __future__ import annotations

import errno
import os
import stat

import pytest
import torch

from stgraph.cli.main import main

LOCATIONS = "sensor_id,latitude,longitude\na,34.0,-118.0\nb,34.01,-118.0\nc,34.02,-118.01\n"
SAMPLE = ["--dataset", "sample", "--model", "stgcn", "--no-progress"]


@pytest.fixture
def locations(tmp_path):
    path = tmp_path / "L.csv"
    path.write_text(LOCATIONS)
    return path


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine without GPUs, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err.splitlines()[-1]


# --- counts: argparse refuses them, naming the flag ----------------------------------------------
@pytest.mark.parametrize(
    ("argv", "flag", "value"),
    [
        (["train", *SAMPLE, "--max-steps", "-7"], "--max-steps", "-7"),
        (["train", *SAMPLE, "--epochs", "0"], "--epochs", "0"),
        (["train", *SAMPLE, "--batch-size", "-16"], "--batch-size", "-16"),
        (["train", *SAMPLE, "--seed", "-1"], "--seed", "-1"),
        (["train", *SAMPLE, "--devices", "-3"], "--devices", "-3"),
        (["train", *SAMPLE, "--epochs", "two"], "--epochs", "two"),
        (["evaluate", "run", "--batch-size", "0"], "--batch-size", "0"),
        (["evaluate", "run", "--threads", "-1"], "--threads", "-1"),
        (["predict", "run", "--readings", "r.csv", "--out", "f.csv", "--threads", "0"], "--threads", "0"),
        (["graph", "--locations", "L.csv", "--neighbors", "0", "--out", "g.npz"], "--neighbors/--k", "0"),
        (["demo", "--epochs", "0"], "--epochs", "0"),
        (["demo", "--threads", "0"], "--threads", "0"),
        (["demo", "--seconds", "-5"], "--seconds", "-5"),
    ],
)
def test_bad_counts_fail_in_argparse(argv, flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    line = _one_line(capsys)
    assert line.startswith(f"stgraph {argv[0]}: error: argument {flag}: expected ") and line.endswith(repr(value))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.threads=0", "training.threads must be a positive integer or null, got 0"),
        ("training.max_steps=-7", "training.max_steps must be a positive integer or -1 (no limit), got -7"),
        ("training.time_budget=-1", "training.time_budget must be a positive number of seconds or null, got -1"),
    ],
)
def test_bad_counts_from_the_configuration_are_one_line(sample_dir, tmp_path, monkeypatch, capsys, override, message):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    out = tmp_path / "run"
    assert main(["train", *SAMPLE, "--set", override, "--out", str(out)]) == 2
    assert _one_line(capsys) == f"stgraph train: error: {message}"
    assert list(tmp_path.iterdir()) == []


# --- hardware that is not there ------------------------------------------------------------------
def test_train_on_a_gpu_that_is_not_there(sample_dir, tmp_path, monkeypatch, no_gpu, capsys):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    assert main(["train", *SAMPLE, "--accelerator", "gpu", "--out", str(tmp_path / "run")]) == 2
    assert _one_line(capsys) == (
        "stgraph train: error: --accelerator gpu: no GPU is visible to torch (torch.cuda.is_available() is False); "
        "use --accelerator cpu or auto"
    )
    assert list(tmp_path.iterdir()) == []  # refused before any data is read or folder made


def test_demo_on_a_gpu_that_is_not_there(sample_dir, tmp_path, monkeypatch, no_gpu, capsys):
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    assert main(["demo", "--set", "training.accelerator=cuda", "--out", str(tmp_path / "run")]) == 2
    assert "training.accelerator 'cuda': no GPU is visible to torch" in _one_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_lightning_refusing_the_hardware_is_one_line(sample_dir, tmp_path, monkeypatch, capsys):
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    import stgraph.train.run

    def refuse(*args, **kwargs):
        raise MisconfigurationException("You requested gpu: [3]\n But your machine only has: [0]")

    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    monkeypatch.setattr(stgraph.train.run, "train", refuse)
    assert main(["train", *SAMPLE, "--out", str(tmp_path / "run")]) == 2
    assert _one_line(capsys).startswith("stgraph train: error: You requested gpu: [3]")


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", "--device cuda: no GPU is visible to torch (torch.cuda.is_available() is False)"),
        ("cuda:1", "--device cuda:1: no GPU is visible to torch (torch.cuda.is_available() is False)"),
        ("gpu0", "--device gpu0: not a torch device (expected cpu, cuda, cuda:N or mps)"),
    ],
)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_device_that_is_not_there(tmp_path, no_gpu, capsys, device, message, command):
    argv = [command, str(tmp_path), "--device", device]
    if command == "predict":
        argv += ["--readings", str(tmp_path / "r.csv"), "--out", str(tmp_path / "f.csv")]
    assert main(argv) == 2
    assert _one_line(capsys) == f"stgraph {command}: error: {message}"


# --- writing: a read-only folder, a full disk ----------------------------------------------------
@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("permissions are not enforced here (running as root)")
        yield folder
    finally:
        folder.chmod(stat.S_IRWXU)


def test_graph_into_a_read_only_folder(locations, read_only, capsys):
    out = read_only / "graph.npz"
    assert main(["graph", "--locations", str(locations), "--out", str(out)]) == 1
    assert (
        _one_line(capsys) == f"stgraph graph: error: cannot write {out}: permission denied (folder {read_only} is not writable)"
    )


def test_permission_denied_while_writing(locations, tmp_path, monkeypatch, capsys):
    """The same refusal where the check cannot see it coming (root, network file systems)."""
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "graph.npz"
    assert main(["graph", "--locations", str(locations), "--out", str(out)]) == 1
    assert _one_line(capsys) == f"stgraph graph: error: cannot write {out}: Permission denied"


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_graph_on_a_full_disk(locations, tmp_path, monkeypatch, capsys, where):
    out = tmp_path / "graph.npz"
    out.write_bytes(b"the graph from last week")
    before = locations.read_bytes()
    monkeypatch.setattr(os, where, _disk_full)
    assert main(["graph", "--locations", str(locations), "--out", str(out), "--force"]) == 1
    assert _one_line(capsys) == f"stgraph graph: error: cannot write {out}: No space left on device"
    assert out.read_bytes() == b"the graph from last week" and locations.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["L.csv", "graph.npz"]  # no temporary file left


def test_predict_on_a_full_disk(sample_dir, tmp_path, monkeypatch, capsys):
    import pandas as pd

    run = tmp_path / "run"
    monkeypatch.setenv("STGRAPH_DATA", str(sample_dir.parent))
    train = ["train", *SAMPLE, "--set", "model.channels=[[4,2,4],[4,2,4]]", "training.threads=1"]
    assert main([*train, "--accelerator", "cpu", "--max-steps", "1", "--out", str(run)]) == 0
    readings = tmp_path / "R.csv"
    pd.read_csv(sample_dir / "readings.csv.gz", index_col="timestamp").iloc[-24:].to_csv(readings)
    before = readings.read_bytes()
    capsys.readouterr()

    monkeypatch.setattr(pd.DataFrame, "to_csv", _disk_full)
    out = tmp_path / "next.csv"
    assert main(["predict", str(run), "--readings", str(readings), "--out", str(out)]) == 1
    assert _one_line(capsys) == f"stgraph predict: error: cannot write {out}: No space left on device"
    assert not out.exists() and readings.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R.csv", "run"]


# --- reading, and what keeps its traceback --------------------------------------------------------
def test_missing_input_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nothere.csv"
    assert main(["graph", "--locations", str(missing), "--out", str(tmp_path / "g.npz")]) == 1
    assert _one_line(capsys) == f"stgraph graph: error: {missing}: No such file or directory"


def test_a_damaged_model_file_is_one_line_without_unsafe_advice(tmp_path, capsys):
    import argparse

    torch.save({"state": argparse.Namespace(model="not one")}, tmp_path / "model.pt")  # a global weights_only refuses
    (tmp_path / "R.csv").write_text("timestamp,a\n2012-03-01 00:00:00,1\n")
    assert main(["predict", str(tmp_path), "--readings", str(tmp_path / "R.csv"), "--out", str(tmp_path / "f.csv")]) == 1
    err = _one_line(capsys)
    assert err.startswith("stgraph predict: error: ")
    assert "weights_only=False" not in err and "allow_pickle" not in err


def test_verbose_keeps_the_traceback(locations):
    from stgraph.io.outputs import OutputError

    with pytest.raises(OutputError, match="is the input --locations"):
        main(["--verbose", "graph", "--locations", str(locations), "--out", str(locations)])


def test_a_bug_keeps_its_traceback(locations, tmp_path, monkeypatch):
    import stgraph.cli.graph_cmd

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in stgraph")

    monkeypatch.setattr(stgraph.cli.graph_cmd, "from_locations", broken)
    with pytest.raises(RuntimeError, match="a bug in stgraph"):
        main(["graph", "--locations", str(locations), "--out", str(tmp_path / "g.npz")])
