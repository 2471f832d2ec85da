"""Training with Lightning (the only package that imports it): the module, the callbacks, ``train``.

Everything below the trainer (configuration, data preparation, the run directory, forecasting
with a trained model) is :mod:`stgraph.pipeline`, which needs no Lightning.

>>> from stgraph.pipeline import resolve_config  # doctest: +SKIP
>>> from stgraph.train import train  # doctest: +SKIP
>>> config = resolve_config(model="stgcn", dataset="sample", overrides=["training.epochs=5"])  # doctest: +SKIP
>>> result = train(config, "runs/my-first-run")  # doctest: +SKIP
>>> result.test.average()  # doctest: +SKIP
"""

from stgraph.train.module import ForecastModule
from stgraph.train.run import RunResult, train

__all__ = ["ForecastModule", "RunResult", "train"]
