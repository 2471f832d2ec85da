"""Surviving a crash: a training killed with SIGKILL resumes to the weights of one never
interrupted, and a second training into the same ``--out`` is refused while the first runs.

A tiny STGCN on 40% of the committed sample (13 batches of 64 windows an epoch, about a second
on one CPU thread), in subprocesses that are killed as a crash would kill them.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import stgraph
from stgraph.cli.main import main
from stgraph.pipeline.data import EpochShuffle
from stgraph.pipeline.run_dir import LAST_CHECKPOINT, lock_path, partial_dir

EPOCHS = 3
BATCHES_PER_EPOCH = 13  # 783 training windows in batches of 64
TINY = [
    "--model", "stgcn", "--dataset", "sample",
    "--set", "model.channels=[[4,2,4],[4,2,4]]", "data.batch_size=64", "data.split=[0.4,0.1,0.5]", "training.threads=1",
    f"training.epochs={EPOCHS}", "training.step_size=1", "training.seed=3",
    # checkpoints within epochs too, so that the kill may land after one
    "training.checkpoint_every=0.3",
    "--accelerator", "cpu", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def environment(sample_dir) -> dict[str, str]:
    return {
        **os.environ,
        "STGRAPH_DATA": str(sample_dir.parent),
        "PYTHONPATH": str(Path(stgraph.__file__).parents[1]),
    }


@pytest.fixture(scope="module")
def uninterrupted(environment, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", environment["STGRAPH_DATA"])
        assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def _start(out: Path, environment: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "stgraph", "train", *TINY, *extra, "--out", str(out)]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(condition, process: subprocess.Popen[str], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"training ended (code {process.returncode}) before {what}:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} after {timeout:g} s")
        time.sleep(0.02)


def _checkpoint_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["global_step"])
    except FileNotFoundError:
        return 0


def test_epoch_shuffle_depends_on_seed_and_epoch_only():
    sampler = EpochShuffle(10, seed=3)
    sampler.set_epoch(2)
    order = list(sampler)
    again = EpochShuffle(10, seed=3)
    again.set_epoch(2)
    assert list(again) == order and sorted(order) == list(range(10))  # a fresh sampler draws the same
    sampler.set_epoch(1)
    assert list(sampler) != order
    again.resume_at(2, 4)  # the windows of epoch 2 not trained before an interruption
    assert list(again) == order[4:] and list(again) == order  # the next pass starts at the beginning


def test_a_killed_training_resumes_to_the_uninterrupted_weights(uninterrupted, environment, tmp_path):
    out = tmp_path / "run"
    checkpoint = partial_dir(out) / LAST_CHECKPOINT
    process = _start(out, environment)
    # kill (no chance to save anything) once a checkpoint inside or after epoch 2 is on disk
    _wait_for(lambda: _checkpoint_step(checkpoint) > BATCHES_PER_EPOCH, process, "checkpoint in epoch 2")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and not out.exists()
    killed_at = _checkpoint_step(checkpoint)
    assert BATCHES_PER_EPOCH < killed_at < EPOCHS * BATCHES_PER_EPOCH

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", environment["STGRAPH_DATA"])
        assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    assert not partial_dir(out).exists() and not lock_path(out).exists()

    expected = torch.load(uninterrupted / "model.pt", weights_only=True)
    got = torch.load(out / "model.pt", weights_only=True)
    assert got["state_dict"].keys() == expected["state_dict"].keys()
    for name, weights in expected["state_dict"].items():
        torch.testing.assert_close(got["state_dict"][name], weights, msg=f"{name} (killed at step {killed_at})")

    history = json.loads((out / "metrics.json").read_text())
    reference = json.loads((uninterrupted / "metrics.json").read_text())
    assert [row["epoch"] for row in history["history"]] == list(range(1, EPOCHS + 1))
    assert all(math.isfinite(row["lr"]) and math.isfinite(row["train_loss"]) for row in history["history"])
    for row, want in zip(history["history"], reference["history"], strict=True):
        assert row["step"] == want["step"] and row["lr"] == pytest.approx(want["lr"])
        assert row["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)
        assert row["val_mae"] == pytest.approx(want["val_mae"], rel=1e-5)
    assert history["best_epoch"] == reference["best_epoch"] == got["epoch"] + 1
    assert history["best_val_mae"] == pytest.approx(reference["best_val_mae"], rel=1e-5)
    assert history["global_step"] == EPOCHS * BATCHES_PER_EPOCH and history["windows"]["train"] == 783


def test_a_second_training_into_the_same_out_is_refused(environment, tmp_path, capsys):
    out = tmp_path / "run"
    first = _start(out, environment, "--set", "training.epochs=2")
    _wait_for(lambda: (partial_dir(out) / "config.yaml").is_file(), first, "run directory")

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", environment["STGRAPH_DATA"])
        other = ["--set", "model.channels=[[8,2,8],[8,2,8]]", "training.epochs=1"]
        assert main(["train", *TINY, *other, "--out", str(out)]) == 2
        assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(f"run is being written by process {first.pid} since " in line for line in errors)

    assert first.wait(timeout=300) == 0
    assert "run written to" in first.stdout.read()
    config = (out / "config.yaml").read_text()
    assert "- 4\n" in config and "- 8\n" not in config  # the first process's model, not the second's
    model = torch.load(out / "model.pt", weights_only=True)
    assert model["model"]["kwargs"]["channels"] == [[4, 2, 4], [4, 2, 4]]
    assert np.isfinite(json.loads((out / "metrics.json").read_text())["best_val_mae"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing else, no lock left


def test_last_ckpt_is_replaced_within_an_epoch_every_checkpoint_every_seconds(environment, tmp_path):
    from lightning.pytorch.callbacks import Callback

    from stgraph.pipeline.config import resolve_config
    from stgraph.train.run import train

    seen: list[int] = []

    class Watch(Callback):  # runs after RollingCheckpoint's on_train_batch_end
        def on_train_batch_end(self, trainer, *args):
            seen.append(_checkpoint_step(partial_dir(out) / LAST_CHECKPOINT))

    out = tmp_path / "run"
    overrides = [o for o in TINY[TINY.index("--set") + 1 : TINY.index("--accelerator")] if "checkpoint_every" not in o]
    config = resolve_config(
        model="stgcn",
        dataset="sample",
        overrides=[*overrides, "training.checkpoint_every=1e-9", "training.max_steps=3", "training.progress_bar=false"],
    )
    config.training.accelerator = "cpu"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", environment["STGRAPH_DATA"])
        train(config, out, callbacks=[Watch()], echo=lambda line: None, show_table=False)
    assert seen == [1, 2, 3]  # after every batch, since every batch ends 1e-9 s after the last save
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


class _Interrupt(Exception):
    pass


def test_an_interruption_mid_epoch_resumes_with_the_right_epoch_lr_and_best(uninterrupted, environment, tmp_path, capsys):
    """Ctrl-C or an exception in epoch 2: SaveOnInterrupt's checkpoint, resumed mid-epoch."""
    from lightning.pytorch.callbacks import Callback

    from stgraph.pipeline.config import resolve_config
    from stgraph.train.run import train

    class StopAt(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == BATCHES_PER_EPOCH + 4:
                raise _Interrupt

    out = tmp_path / "run"
    overrides = [o for o in TINY[TINY.index("--set") + 1 : TINY.index("--accelerator")] if "checkpoint_every" not in o]
    config = resolve_config(model="stgcn", dataset="sample", overrides=[*overrides, "training.checkpoint_every=null"])
    config.training.accelerator, config.training.progress_bar = "cpu", False
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", environment["STGRAPH_DATA"])
        with pytest.raises(_Interrupt):
            train(config, out, callbacks=[StopAt()], echo=lambda line: None)
        assert _checkpoint_step(partial_dir(out) / LAST_CHECKPOINT) == BATCHES_PER_EPOCH + 4
        capsys.readouterr()
        assert main(["train", "--resume", "--out", str(out), "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == [f"{e}/{EPOCHS}" for e in range(2, EPOCHS + 1)]
    assert "nan" not in " ".join(lines)
    history = json.loads((out / "metrics.json").read_text())
    reference = json.loads((uninterrupted / "metrics.json").read_text())
    assert history["best_epoch"] == reference["best_epoch"]
    assert [row["epoch"] for row in history["history"]] == list(range(1, EPOCHS + 1))
    for row, want in zip(history["history"], reference["history"], strict=True):
        assert row["lr"] == pytest.approx(want["lr"]) and row["train_loss"] == pytest.approx(want["train_loss"], rel=1e-5)


def test_a_resumed_run_continues_the_curriculum_where_it_stopped(environment, tmp_path):
    """The curriculum is a function of Lightning's global step, which the checkpoint restores:
    after an interruption in epoch 2 the loss covers as many horizon steps as it would have."""
    from lightning.pytorch.callbacks import Callback

    from stgraph.nn.curriculum import HorizonCurriculum
    from stgraph.pipeline.config import resolve_config
    from stgraph.train.run import train

    seen: dict[int, int] = {}  # optimiser step (from 0) -> horizon steps in its loss

    class Record(Callback):
        def on_train_batch_end(self, trainer, *args):
            seen[trainer.global_step - 1] = int(trainer.callback_metrics["curriculum_steps"])

    class StopAt(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == BATCHES_PER_EPOCH + 4:
                raise _Interrupt

    out = tmp_path / "run"
    overrides = [o for o in TINY[TINY.index("--set") + 1 : TINY.index("--accelerator")] if "checkpoint_every" not in o]
    overrides += ["training.checkpoint_every=null", "training.curriculum_every=5", "training.curriculum_unit=steps"]
    config = resolve_config(model="stgcn", dataset="sample", overrides=overrides)
    config.training.accelerator, config.training.progress_bar = "cpu", False
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STGRAPH_DATA", environment["STGRAPH_DATA"])
        with pytest.raises(_Interrupt):
            train(config, out, callbacks=[Record(), StopAt()], echo=lambda line: None)
        assert max(seen) == BATCHES_PER_EPOCH + 3
        train(config, out, resume=True, callbacks=[Record()], echo=lambda line: None, show_table=False)
    curriculum = HorizonCurriculum(horizon=12, every=5, unit="steps")
    assert sorted(seen) == list(range(EPOCHS * BATCHES_PER_EPOCH))
    assert seen == {step: curriculum.steps(step=step, epoch=0) for step in seen}
    assert seen[BATCHES_PER_EPOCH + 4] == 4  # the first step after the resume: not back at 1
