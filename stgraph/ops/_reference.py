"""Reference backend: ``torch.sparse`` CSR times a dense matrix. Ground truth for tests.

The ``[slices, nodes, features]`` input is folded node-major into ``[nodes, slices * features]``
(one permute copy), multiplied by the CSR operator in one ``torch.sparse.mm``, and unfolded.
"""

from __future__ import annotations

import torch

from stgraph.ops.operator import Operator


def spmm(operator: Operator, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x[s]`` for every slice ``s``.

    Shapes:
        x: ``[slices, nodes, features]`` -> ``[slices, nodes, features]``
    """
    slices, nodes, features = x.shape
    folded = x.permute(1, 0, 2).reshape(nodes, slices * features)
    out: torch.Tensor = torch.sparse.mm(operator.to_sparse_csr(), folded)  # torch.sparse.mm is unannotated
    return out.reshape(nodes, slices, features).permute(1, 0, 2).contiguous()
