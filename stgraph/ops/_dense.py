"""Dense backend: the operator as a dense ``[nodes, nodes]`` matrix, one batched GEMM.

Best for small graphs (a few hundred sensors) where a GEMM at the machine's full arithmetic
rate beats any sparse product; ``torch.matmul`` broadcasts ``[nodes, nodes] @ [slices, nodes,
features]`` without a permute copy.
"""

from __future__ import annotations

import torch

from stgraph.ops.operator import Operator


def spmm(operator: Operator, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x[s]`` for every slice ``s``.

    Shapes:
        x: ``[slices, nodes, features]`` -> ``[slices, nodes, features]``
    """
    return torch.matmul(operator.to_dense(), x)
