r"""Graph operators that layers multiply sensor features by, computed from a weighted adjacency.

Convention: every function returns the matrix :math:`\mathbf{M}` that propagation applies as
``M @ x`` along the node axis, so ``out[i] = sum_j M[i, j] * x[j]``. The adjacency
:math:`\mathbf{A}` is directed: ``A[i, j]`` is the weight of the edge from sensor ``i`` to
sensor ``j`` (DCRNN's layout: row ``i`` holds the road distances *from* sensor ``i``).

Sensors with no edges get zero inverse degree, never NaN or inf.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = [
    "OPERATOR_KINDS",
    "backward_transition",
    "compute_operator",
    "forward_transition",
    "gcn_added_self_loops",
    "gcn_normalized",
    "scaled_laplacian",
    "symmetrize",
]


def _inverse(values: np.ndarray, power: float = 1.0) -> np.ndarray:
    out = np.zeros_like(values, dtype=np.float64)
    nonzero = values > 0
    out[nonzero] = values[nonzero] ** -power
    return out


def symmetrize(adjacency: sp.spmatrix) -> sp.csr_matrix:
    r"""Undirected version :math:`\max(\mathbf{A}, \mathbf{A}^\top)`, as DCRNN's reference code
    does before building a Laplacian."""
    adjacency = sp.csr_matrix(adjacency)
    return sp.csr_matrix(adjacency.maximum(adjacency.T))


def gcn_normalized(adjacency: sp.spmatrix) -> sp.csr_matrix:
    r"""Symmetric normalised adjacency with self-loops (Kipf & Welling, ICLR 2017).

    .. math::
        \hat{\mathbf{A}} = \tilde{\mathbf{D}}^{-1/2}(\mathbf{A}_s + \mathbf{I})\tilde{\mathbf{D}}^{-1/2},
        \quad \mathbf{A}_s = \max(\mathbf{A}, \mathbf{A}^\top)

    Existing diagonal entries are replaced by 1, so a graph that already has self-loops (the
    DCRNN pickles have a unit diagonal) is not given weight 2 on the diagonal.
    """
    undirected = symmetrize(adjacency).tolil()
    undirected.setdiag(1.0)
    undirected = undirected.tocsr()
    d_inv_sqrt = sp.diags(_inverse(np.asarray(undirected.sum(axis=1)).ravel(), 0.5))
    return sp.csr_matrix(d_inv_sqrt @ undirected @ d_inv_sqrt)


def gcn_added_self_loops(adjacency: sp.spmatrix) -> sp.csr_matrix:
    r"""T-GCN's reference-code operator (lehaifeng/T-GCN, T-GCN-TensorFlow ``utils.py``,
    ``calculate_laplacian`` and ``normalized_adj``), kept apart from :func:`gcn_normalized`.

    .. math::
        \mathbf{M} = \tilde{\mathbf{D}}^{-1/2}\tilde{\mathbf{A}}^\top\tilde{\mathbf{D}}^{-1/2},
        \quad \tilde{\mathbf{A}} = \mathbf{A} + \mathbf{I},
        \quad \tilde{\mathbf{D}} = \operatorname{diag}(\tilde{\mathbf{A}}\mathbf{1})

    The identity is **added** to the adjacency as stored, so a sensor whose diagonal entry is
    already 1 (every sensor of Los-loop's ``los_adj.csv``) has self-loop weight 2 before
    normalisation; the graph is not symmetrised, the degrees are row sums and the product is
    the code's ``adj.dot(d).transpose().dot(d)``. For a symmetric adjacency without self-loops
    this equals :func:`gcn_normalized`.
    """
    adjacency = sp.csr_matrix(adjacency, dtype=np.float64)
    with_loops = adjacency + sp.identity(adjacency.shape[0], format="csr")
    d_inv_sqrt = sp.diags(_inverse(np.asarray(with_loops.sum(axis=1)).ravel(), 0.5))
    return sp.csr_matrix(d_inv_sqrt @ with_loops.T @ d_inv_sqrt)


def scaled_laplacian(adjacency: sp.spmatrix, lambda_max: float | None = None) -> sp.csr_matrix:
    r"""Scaled Laplacian for Chebyshev filters (Defferrard et al., NeurIPS 2016; STGCN).

    .. math::
        \tilde{\mathbf{L}} = \frac{2}{\lambda_{max}}\mathbf{L} - \mathbf{I},
        \quad \mathbf{L} = \mathbf{I} - \mathbf{D}^{-1/2}\mathbf{A}_s\mathbf{D}^{-1/2}

    with :math:`\mathbf{A}_s = \max(\mathbf{A}, \mathbf{A}^\top)` without self-loops.
    :math:`\lambda_{max}` is the largest eigenvalue of :math:`\mathbf{L}` (computed with
    ARPACK unless given), so the spectrum of :math:`\tilde{\mathbf{L}}` lies in
    :math:`[-1, 1]`.
    """
    undirected = symmetrize(adjacency).tolil()
    undirected.setdiag(0.0)
    undirected = undirected.tocsr()
    undirected.eliminate_zeros()
    n = undirected.shape[0]
    d_inv_sqrt = sp.diags(_inverse(np.asarray(undirected.sum(axis=1)).ravel(), 0.5))
    laplacian = sp.identity(n, format="csr") - d_inv_sqrt @ undirected @ d_inv_sqrt
    if lambda_max is None:
        if n <= 64:
            lambda_max = float(np.linalg.eigvalsh(laplacian.toarray()).max())
        else:
            lambda_max = float(spla.eigsh(laplacian, k=1, which="LM", return_eigenvectors=False)[0])
    if lambda_max <= 0:  # a graph with no edges: L = I - 0 has lambda_max 1 by the formula
        lambda_max = 1.0
    return sp.csr_matrix((2.0 / lambda_max) * laplacian - sp.identity(n, format="csr"))


def forward_transition(adjacency: sp.spmatrix) -> sp.csr_matrix:
    r"""Forward random-walk operator, as DCRNN's and Graph WaveNet's reference code apply it.

    .. math::
        \mathbf{T}_f = (\mathbf{D}_{out}^{-1}\mathbf{A})^\top,
        \quad \mathbf{D}_{out} = \operatorname{diag}(\mathbf{A}\mathbf{1})

    so ``out[j] = sum_i A[i, j] / d_out(i) * x[i]``: each sensor receives from its upstream
    sensors along the direction of the edges. The DCRNN paper writes :math:`\mathbf{P}_f X`
    with :math:`\mathbf{P}_f = \mathbf{D}_{out}^{-1}\mathbf{A}`; its code (and every published
    number) multiplies by the transpose, which is what this returns.
    """
    adjacency = sp.csr_matrix(adjacency)
    d_inv = sp.diags(_inverse(np.asarray(adjacency.sum(axis=1)).ravel()))
    return sp.csr_matrix((d_inv @ adjacency).T)


def backward_transition(adjacency: sp.spmatrix) -> sp.csr_matrix:
    r"""Backward random-walk operator: :func:`forward_transition` of the reversed graph.

    .. math::
        \mathbf{T}_b = (\mathbf{D}_{in}^{-1}\mathbf{A}^\top)^\top = \mathbf{A}\mathbf{D}_{in}^{-1},
        \quad \mathbf{D}_{in} = \operatorname{diag}(\mathbf{A}^\top\mathbf{1})

    so ``out[i] = sum_j A[i, j] / d_in(j) * x[j]``: each sensor receives from its downstream
    sensors.
    """
    return forward_transition(sp.csr_matrix(adjacency).T)


OPERATOR_KINDS = {
    "adjacency": lambda a: sp.csr_matrix(a, dtype=np.float64),
    "gcn": gcn_normalized,
    "gcn_added_self_loops": gcn_added_self_loops,
    "laplacian": scaled_laplacian,
    "forward": forward_transition,
    "backward": backward_transition,
}


def compute_operator(adjacency: sp.spmatrix, kind: str) -> sp.csr_matrix:
    """The operator named ``kind`` (one of :data:`OPERATOR_KINDS`) as float64 CSR."""
    try:
        build = OPERATOR_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown graph operator {kind!r}; expected one of {sorted(OPERATOR_KINDS)}") from None
    out = sp.csr_matrix(build(adjacency), dtype=np.float64)
    out.sort_indices()
    return out
