"""The Triton CSR kernel, run on the CPU by Triton's interpreter (``TRITON_INTERPRET=1``).

Triton reads ``TRITON_INTERPRET`` when it is imported, so the checks run in a fresh Python
process with the variable set. They stay tiny: the interpreter executes every program
instance in Python.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHECKS = textwrap.dedent(
    """
    import torch
    from stgraph.ops import Operator, propagate

    generator = torch.Generator().manual_seed(0)
    nodes = 11
    matrix = torch.rand(nodes, nodes, generator=generator, dtype=torch.float64)
    matrix *= torch.rand(nodes, nodes, generator=generator) < 0.3
    matrix[0] = torch.rand(nodes, generator=generator, dtype=torch.float64)  # a full row: several edge blocks
    matrix[3] = 0.0  # an empty row
    op = Operator.from_dense(matrix)

    for shape in [(2, nodes, 5), (1, nodes, 130)]:  # features not a power of two; two feature blocks
        x = torch.randn(*shape, generator=generator)
        out = propagate(op.to(dtype=torch.float32), x, backend="triton")
        error = float((out.double() - matrix @ x.double()).norm() / (matrix @ x.double()).norm())
        assert error < 1e-5, (shape, error)
        assert torch.all(out[:, 3] == 0)

    x = torch.randn(2, 3, nodes, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(2, 3, nodes, 2, generator=generator, dtype=torch.float64)
    out = propagate(op, x, backend="triton")
    torch.testing.assert_close(out, matrix @ x, rtol=1e-12, atol=1e-12)
    out.backward(grad)
    torch.testing.assert_close(x.grad, matrix.T @ grad, rtol=1e-12, atol=1e-12)

    tiny = Operator.from_dense(matrix[:3, :3].contiguous())
    probe = torch.randn(1, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: propagate(tiny, t, backend="triton"), (probe,))
    print("triton interpreter checks passed")
    """
)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton is not installed")
def test_triton_kernel_matches_dense_product_under_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", CHECKS], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "triton interpreter checks passed" in result.stdout
