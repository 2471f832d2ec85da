"""Whether Triton is there, asked once, and what forcing the Triton backend says without it
(stgraph/ops/propagate.py; tests/ops/test_triton.py runs the kernel itself)."""

from __future__ import annotations

import importlib
import sys
import types

import pytest
import torch

from stgraph.ops.operator import Operator
from stgraph.ops.propagate import propagate, triton_available

module = importlib.import_module("stgraph.ops.propagate")  # the module, not the function stgraph.ops exports


@pytest.fixture
def unchecked(monkeypatch):
    """Forget the answer of an earlier check; the real one comes back after the test."""
    monkeypatch.setattr(module, "_TRITON_OK", None)
    return monkeypatch


def test_triton_is_looked_for_once(unchecked):
    unchecked.setitem(sys.modules, "triton", types.ModuleType("triton"))
    assert triton_available() is True
    unchecked.setitem(sys.modules, "triton", None)  # now `import triton` would fail
    assert triton_available() is True  # the first answer stands: importing Triton is slow


def test_forcing_triton_without_it_names_the_package_to_install(unchecked):
    unchecked.setitem(sys.modules, "triton", None)
    assert triton_available() is False
    op = Operator.from_dense(torch.eye(3))
    with pytest.raises(RuntimeError, match=r"backend 'triton' needs the triton package \(pip install 'stgraph\[triton\]'\)"):
        propagate(op, torch.ones(2, 3, 1), backend="triton")
