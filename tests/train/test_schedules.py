"""Training schedules: the inverse-sigmoid decay of scheduled sampling, importable without Lightning."""

from __future__ import annotations

import ast
import itertools
import math
from pathlib import Path

import pytest

from stgraph.train import schedules
from stgraph.train.schedules import inverse_sigmoid_decay


def test_inverse_sigmoid_decay_values():
    # tau / (tau + exp(step / tau)): 2000/2001 at the start, exactly 1/2 at step tau * ln(tau).
    assert inverse_sigmoid_decay(0) == pytest.approx(2000 / 2001)
    assert inverse_sigmoid_decay(2000 * math.log(2000)) == pytest.approx(0.5)
    assert inverse_sigmoid_decay(3000, tau=1000) == pytest.approx(1000 / (1000 + math.exp(3)))
    values = [inverse_sigmoid_decay(step) for step in range(0, 40001, 1000)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert inverse_sigmoid_decay(10**9) == 0.0
    with pytest.raises(ValueError, match="tau must be positive"):
        inverse_sigmoid_decay(10, tau=0)


def test_schedules_module_imports_no_lightning():
    # benchmarks/ import the schedule for their own training loop, without the trainer.
    tree = ast.parse(Path(schedules.__file__).read_text())
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] in ("lightning", "pytorch_lightning")]
    assert not [name for name in imported if name.startswith("stgraph")]
