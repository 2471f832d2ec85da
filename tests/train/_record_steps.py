"""``python tests/train/_record_steps.py train ...``: ``stgraph train`` that also saves the model's
parameters after every optimiser step (rank 0 only) to ``$STGRAPH_TEST_STEPS/<step>.pt`` and,
with ``$STGRAPH_TEST_STOP_AT``, fails on every process after that step, as a crash would.

A script, not ``-m stgraph``: Lightning's DDP launcher starts the other processes by running this
same command again, so they install the callback too.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

import stgraph.train.run
from stgraph.cli.main import main


class RecordSteps(Callback):
    def __init__(self, folder: Path, stop_at: int | None) -> None:
        self.folder = folder
        self.stop_at = stop_at

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.is_global_zero:
            weights = {name: value.detach().clone() for name, value in pl_module.state_dict().items()}
            torch.save(weights, self.folder / f"{trainer.global_step}.pt")
        if trainer.global_step == self.stop_at:
            raise RuntimeError(f"stopped at step {self.stop_at} by the test")


if __name__ == "__main__":
    stop = os.environ.get("STGRAPH_TEST_STOP_AT")
    recorder = RecordSteps(Path(os.environ["STGRAPH_TEST_STEPS"]), int(stop) if stop else None)
    stgraph.train.run.train = functools.partial(stgraph.train.run.train, callbacks=[recorder])  # type: ignore[assignment]
    sys.exit(main(sys.argv[1:]))
