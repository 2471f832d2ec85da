"""The run directory's lock: one process writes a run at a time, and a dead process blocks nobody."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stgraph
from stgraph.errors import RunError
from stgraph.pipeline.config import ExperimentConfig
from stgraph.pipeline.run_dir import LAST_CHECKPOINT, building, check_new_run, lock_path, partial_dir, run_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="runs are locked with flock, which Windows lacks")


def _config() -> ExperimentConfig:
    config = ExperimentConfig()
    config.model.name = "stgcn"
    return config


def test_a_second_holder_is_refused_with_the_first_ones_process(tmp_path):
    run = tmp_path / "run"
    with run_lock(run):
        assert lock_path(run).read_text().startswith(f"process {os.getpid()} since ")
        # flock locks belong to open files: a second open in the same process conflicts too
        message = rf"run is being written by process {os.getpid()} since \d{{4}}-"
        with pytest.raises(RunError, match=message), run_lock(run):
            pass
        with pytest.raises(RunError, match="is being written by process"):
            check_new_run(run)
    assert not lock_path(run).exists()  # removed when released
    with run_lock(run):  # and free again
        pass


def test_building_a_locked_run_changes_nothing(tmp_path):
    run = tmp_path / "run"
    with building(run, _config()) as work:
        (work / "model.pt").write_text("the first process's model")
        with pytest.raises(RunError, match="is being written by process"), building(run, _config()):
            pass
        assert sorted(p.name for p in work.iterdir()) == ["config.yaml", "model.pt"]
    assert (run / "model.pt").read_text() == "the first process's model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial, no lock left


def test_the_lock_of_a_killed_process_does_not_block(tmp_path):
    run = tmp_path / "run"
    holder = textwrap.dedent(f"""
        import os, signal
        from stgraph.pipeline.run_dir import run_lock
        with run_lock({str(run)!r}):
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run(
        [sys.executable, "-c", holder], env={**os.environ, "PYTHONPATH": str(Path(stgraph.__file__).parents[1])}, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    assert lock_path(run).read_text().startswith("process ")  # left behind, naming the dead process
    check_new_run(run)
    with building(run, _config()) as work:
        assert work == partial_dir(run)
    assert run.is_dir() and not lock_path(run).exists()


def test_a_partial_run_without_checkpoint_is_replaced_and_one_with_is_kept(tmp_path):
    run = tmp_path / "run"
    work = partial_dir(run)
    work.mkdir()
    (work / "config.yaml").write_text("killed before its first checkpoint")
    with pytest.raises(RunError, match="stopped before its first checkpoint: train it again without --resume"):
        check_new_run(run, resume=True)
    with building(run, _config()):
        pass
    assert "stgcn" in (run / "config.yaml").read_text()

    other = tmp_path / "other"
    partial_dir(other).mkdir()
    (partial_dir(other) / LAST_CHECKPOINT).write_bytes(b"")
    with pytest.raises(RunError, match="continue it with --resume"), building(other, _config()):
        pass
    assert (partial_dir(other) / LAST_CHECKPOINT).is_file()
