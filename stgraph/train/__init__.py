"""Training with Lightning (the only package that imports it): the module, the callbacks, ``train``
and ``train_auto`` (``--model auto``: the best of a short list of models).

Everything below the trainer (configuration, data preparation, the run directory, forecasting
with a trained model) is :mod:`stgraph.pipeline`, which needs no Lightning. The training
schedules (:mod:`stgraph.train.schedules`) need no Lightning either: this package's names are
imported on first use, so ``import stgraph.train.schedules`` does not load Lightning.

>>> from stgraph.pipeline import resolve_config  # doctest: +SKIP
>>> from stgraph.train import train  # doctest: +SKIP
>>> config = resolve_config(model="stgcn", dataset="sample", overrides=["training.epochs=5"])  # doctest: +SKIP
>>> result = train(config, "runs/my-first-run")  # doctest: +SKIP
>>> result.test.average()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stgraph.train.auto import AutoResult, train_auto
    from stgraph.train.module import ForecastModule
    from stgraph.train.run import RunResult, train

__all__ = ["AutoResult", "ForecastModule", "RunResult", "train", "train_auto"]

_HOME = {
    "AutoResult": "stgraph.train.auto",
    "ForecastModule": "stgraph.train.module",
    "RunResult": "stgraph.train.run",
    "train": "stgraph.train.run",
    "train_auto": "stgraph.train.auto",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'stgraph.train' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
