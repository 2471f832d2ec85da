"""Two CPU processes (DDP over gloo) train the weights one process trains, resume from their own
checkpoint mid-epoch, and write the run directory once; the torchrun example launches the same run.

Launched as a user launches them (``stgraph train --strategy ddp --devices 2``, which Lightning
answers by running the command again for rank 1), with ``tests/train/_record_steps.py``
saving rank 0's parameters after every optimiser step. A tiny STGCN on a synthetic, fully
observed series of 5 sensors: 70 training windows, 9 batches of 8 an epoch (the last of 6, 3 per
process), so 11 steps cross an epoch boundary.

STGCN trains without dropout here (its default, ``model.dropout: 0``): a random draw per window
would differ between a process that draws for 8 windows and two that draw for 4 each, and the
weights could not match. Everything else (the RMSprop optimiser, the MAE + RMSE loss, which is
not a mean over entries) is the recipe's, so the test covers the loss of the whole global batch
(:mod:`stgraph.train.global_batch`), not just a mean of the shares' losses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

import stgraph
from stgraph.cli.main import main
from stgraph.pipeline.run_dir import LAST_CHECKPOINT, partial_dir

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo is not available"
)

ROOT = Path(stgraph.__file__).parents[1]
RECORDER = Path(__file__).with_name("_record_steps.py")
STEPS = 11
TIMEOUT = 180


def _tiny(readings: Path, distances: Path) -> list[str]:
    return [
        "--model", "stgcn", "--readings", str(readings), "--distances", str(distances), "--threshold", "0",
        "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=8", "data.lookback=9", "data.horizon=3",
        "data.split=[0.5,0.2,0.3]", "training.threads=1", "training.seed=3", "training.coverage=0.8",
        "--max-steps", str(STEPS), "--accelerator", "cpu", "--no-progress",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[str]:
    """A daily-looking sine per sensor plus seeded noise, every reading present (162 steps)."""
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    steps, sensors = 162, 5
    t = np.arange(steps)[:, None]
    values = 50 + 10 * np.sin(2 * np.pi * t / 24 + np.arange(sensors)) + rng.normal(0, 1, (steps, sensors))
    frame = pd.DataFrame(values.round(3), columns=[f"s{i}" for i in range(sensors)])
    frame.insert(0, "timestamp", pd.date_range("2024-01-01", periods=steps, freq="5min"))
    frame.to_csv(folder / "readings.csv", index=False)
    links = [(f"s{i}", f"s{j}", 100.0 * abs(i - j)) for i in range(sensors) for j in range(sensors) if 0 < abs(i - j) <= 2]
    pd.DataFrame(links, columns=["from", "to", "cost"]).to_csv(folder / "distances.csv", index=False)
    return _tiny(folder / "readings.csv", folder / "distances.csv")


def _environment(steps: Path, stop_at: int | None = None) -> dict[str, str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "STGRAPH_TEST_STEPS": str(steps)}
    environment.pop("STGRAPH_RUN_DIR", None)
    if stop_at is not None:
        environment["STGRAPH_TEST_STOP_AT"] = str(stop_at)
    return environment


def _train(folder: Path, *args: str, stop_at: int | None = None) -> subprocess.CompletedProcess[str]:
    """``stgraph train ARGS --out folder/run`` (recording steps in ``folder/steps``), in an empty working directory."""
    for name in ("steps", "cwd"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(RECORDER), "train", *args, "--out", str(folder / "run")]
    return subprocess.run(
        command, env=_environment(folder / "steps", stop_at), cwd=folder / "cwd", capture_output=True, text=True, timeout=TIMEOUT
    )


def _steps(folder: Path) -> dict[int, dict[str, torch.Tensor]]:
    return {int(path.stem): torch.load(path, weights_only=True) for path in (folder / "steps").glob("*.pt")}


def _files(run: Path) -> list[str]:
    return sorted(str(path.relative_to(run)) for path in run.rglob("*"))


def _assert_same_weights(steps: dict[int, dict[str, torch.Tensor]], reference: dict[int, dict[str, torch.Tensor]]) -> None:
    for step, weights in sorted(steps.items()):
        for name, value in weights.items():
            where = f"step {step}, {name}"
            torch.testing.assert_close(
                value, reference[step][name], rtol=1e-5, atol=1e-6, msg=lambda m, where=where: f"{where}: {m}"
            )


@pytest.fixture(scope="module")
def one_process(inputs, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("one")
    result = _train(folder, *inputs)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def test_two_processes_train_the_one_process_weights_through_a_resume_and_write_the_run_once(inputs, one_process, tmp_path):
    ddp = [*inputs, "--strategy", "ddp", "--devices", "2"]
    # both processes fail after step 6 (mid-epoch, as a crash would); the exact state goes to last.ckpt
    stopped = _train(tmp_path, *ddp, stop_at=6)
    assert stopped.returncode != 0 and (partial_dir(tmp_path / "run") / LAST_CHECKPOINT).is_file()
    reference = _steps(one_process)
    assert sorted(_steps(tmp_path)) == list(range(1, 7))
    _assert_same_weights(_steps(tmp_path), reference)
    shutil.rmtree(tmp_path / "steps")
    resumed = _train(tmp_path, *ddp, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert sorted(_steps(tmp_path)) == list(range(7, STEPS + 1))
    _assert_same_weights(_steps(tmp_path), reference)
    # the run directory: the one process's files, nothing left beside it, nothing in the working directory
    assert _files(tmp_path / "run") == _files(one_process / "run")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cwd", "run", "steps"]
    assert list((tmp_path / "cwd").iterdir()) == []
    assert resumed.stdout.count("run written to") == 1 and resumed.stdout.count("best epoch") == 1  # rank 1 is silent
    # the test part evaluated once, on all its windows: the one process's metrics
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    expected = json.loads((one_process / "run" / "metrics.json").read_text())
    assert metrics["global_step"] == STEPS and metrics["windows"] == expected["windows"]
    for block in ("test", "intervals"):  # intervals: calibrated on all validation windows
        for name, values in expected[block]["per_step"].items():
            assert metrics[block]["per_step"][name] == pytest.approx(values, rel=1e-5), (block, name)
    assert metrics["best_val_mae"] == pytest.approx(expected["best_val_mae"], rel=1e-5)


def test_the_batch_must_split_evenly_over_the_processes(inputs, tmp_path, capsys):
    assert main(["train", *inputs, "--strategy", "ddp", "--devices", "3", "--out", str(tmp_path / "run")]) == 2
    assert "data.batch_size 8 is the global batch, split evenly over 3 processes" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # refused before any process started or file was written


def test_the_torchrun_example_trains_one_run(inputs, one_process, tmp_path):
    """examples/ddp/train_torchrun.sh: torchrun starts both processes, which write one run directory."""
    environment = {**_environment(tmp_path / "steps"), "NPROC": "2", "PYTHON": sys.executable}
    command = ["bash", str(ROOT / "examples" / "ddp" / "train_torchrun.sh"), *inputs, "--out", str(tmp_path / "run")]
    result = subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _files(tmp_path / "run") == _files(one_process / "run")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    expected = json.loads((one_process / "run" / "metrics.json").read_text())
    assert metrics["test"]["per_step"]["mae"] == pytest.approx(expected["test"]["per_step"]["mae"], rel=1e-5)
