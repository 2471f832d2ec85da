r"""A static sparse graph operator, prepared once for every propagation backend.

An :class:`Operator` is the matrix :math:`\mathbf{M}` (``[nodes, nodes]``) that
:func:`stgraph.ops.propagate` applies as ``M @ x`` along the node axis. It lives on one device
with one dtype and holds the CSR arrays plus the forms the backends build from them on first
use and then keep: the transpose (the backward pass of ``M @ x`` is ``M^T @ grad``), a dense
copy (GEMM path for small graphs), and a ``torch.sparse_csr`` tensor (reference path). The graph
is never copied per sample: a model moves its operators to the device once and reuses them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from stgraph.errors import GraphError, ShapeError

__all__ = ["Operator"]

_Form = TypeVar("_Form")


class Operator:
    r"""Sparse ``[nodes, nodes]`` matrix in CSR form, on one device and dtype.

    ``row i`` lists the weights ``M[i, j]`` that sensor ``i`` receives from sensors ``j``:
    ``(M @ x)[i] = sum_j M[i, j] * x[j]``.

    Build one with :meth:`from_csr`, :meth:`from_dense` or :meth:`from_sparse`; a
    :class:`~stgraph.SensorGraph` builds them for its normalised operators
    (``graph.torch_operator("forward", device, dtype)``).

    Attributes:
        crow_indices: ``[nodes + 1]`` int64 row pointers.
        col_indices: ``[edges]`` int64 column of each stored weight, sorted within a row.
        values: ``[edges]`` weights.
    """

    def __init__(self, crow_indices: torch.Tensor, col_indices: torch.Tensor, values: torch.Tensor, num_nodes: int) -> None:
        self.crow_indices = crow_indices
        self.col_indices = col_indices
        self.values = values
        self._num_nodes = int(num_nodes)
        # Derived forms, built on first use by the backend that needs them.
        self._transpose: Operator | None = None
        self._dense: torch.Tensor | None = None
        self._sparse_csr: torch.Tensor | None = None
        self._cache: dict[str, Any] = {}  # one form per key, of whatever type its builder returns

    # --- construction ------------------------------------------------------------------
    @classmethod
    def from_csr(
        cls,
        crow_indices: torch.Tensor,
        col_indices: torch.Tensor,
        values: torch.Tensor,
        num_nodes: int,
    ) -> Operator:
        """Validate CSR arrays and wrap them; columns are sorted within each row.

        Shapes:
            crow_indices: ``[num_nodes + 1]``; col_indices, values: ``[edges]``.
        """
        crow = torch.as_tensor(crow_indices).to(torch.int64)
        col = torch.as_tensor(col_indices).to(device=crow.device, dtype=torch.int64)
        values = torch.as_tensor(values, device=crow.device)
        if not values.is_floating_point():
            values = values.to(torch.get_default_dtype())
        num_nodes = int(num_nodes)
        if num_nodes < 0:
            raise GraphError(f"num_nodes must be >= 0, got {num_nodes}")
        if crow.ndim != 1 or crow.numel() != num_nodes + 1:
            raise GraphError(f"crow_indices must be [num_nodes + 1] = [{num_nodes + 1}], got {list(crow.shape)}")
        if col.ndim != 1 or values.ndim != 1 or col.numel() != values.numel():
            raise GraphError(
                f"col_indices and values must be 1-D of equal length, got {list(col.shape)} and {list(values.shape)}"
            )
        if int(crow[0]) != 0 or int(crow[-1]) != col.numel():
            raise GraphError(
                f"crow_indices must start at 0 and end at the edge count {col.numel()}, got {int(crow[0])} .. {int(crow[-1])}"
            )
        counts = crow.diff()
        if (counts < 0).any():
            row = int(torch.nonzero(counts < 0)[0])
            raise GraphError(
                f"crow_indices must be non-decreasing; row {row} ends before it starts ({int(crow[row])} -> {int(crow[row + 1])})"
            )
        if col.numel() and (int(col.min()) < 0 or int(col.max()) >= num_nodes):
            bad = int(torch.nonzero((col < 0) | (col >= num_nodes))[0])
            row = int(torch.searchsorted(crow, torch.tensor(bad, device=crow.device), right=True)) - 1
            raise GraphError(f"col_indices must lie in [0, {num_nodes}); row {row} has column {int(col[bad])}")
        if col.numel():
            rows = torch.repeat_interleave(torch.arange(num_nodes, device=crow.device), counts)
            order = torch.argsort(rows * max(num_nodes, 1) + col)
            col, values = col[order], values[order]
        return cls(crow.contiguous(), col.contiguous(), values.contiguous(), num_nodes)

    @classmethod
    def from_dense(cls, matrix: torch.Tensor) -> Operator:
        """Operator holding the non-zeros of a dense ``[nodes, nodes]`` matrix."""
        matrix = torch.as_tensor(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ShapeError(f"operator must be a square [nodes, nodes] matrix, got {list(matrix.shape)}")
        matrix = matrix.detach()
        rows, cols = torch.nonzero(matrix, as_tuple=True)  # row-major order: already CSR order
        crow = torch.zeros(matrix.shape[0] + 1, dtype=torch.int64, device=matrix.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=matrix.shape[0]), 0)
        return cls.from_csr(crow, cols, matrix[rows, cols], matrix.shape[0])

    @classmethod
    def from_sparse(cls, matrix: torch.Tensor) -> Operator:
        """Operator from a torch sparse (COO, CSR, ...) ``[nodes, nodes]`` tensor."""
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ShapeError(f"operator must be a square [nodes, nodes] matrix, got {list(matrix.shape)}")
        coo = matrix.detach().to_sparse().coalesce()  # coalesced COO is sorted row-major
        rows, cols = coo.indices()
        crow = torch.zeros(matrix.shape[0] + 1, dtype=torch.int64, device=matrix.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=matrix.shape[0]), 0)
        return cls.from_csr(crow, cols, coo.values(), matrix.shape[0])

    # --- facts -------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return self._num_nodes

    @property
    def num_edges(self) -> int:
        """Stored weights (non-zeros)."""
        return int(self.col_indices.numel())

    @property
    def shape(self) -> tuple[int, int]:
        return (self._num_nodes, self._num_nodes)

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def density(self) -> float:
        """Share of the ``nodes^2`` entries that are stored."""
        return self.num_edges / max(self._num_nodes**2, 1)

    def row_counts(self) -> torch.Tensor:
        """``[nodes]`` stored weights per row (in-degree in the propagation sense)."""
        return self.crow_indices.diff()

    def __repr__(self) -> str:
        return f"Operator(nodes={self._num_nodes}, edges={self.num_edges}, device={self.device}, dtype={self.dtype})"

    # --- conversions -------------------------------------------------------------------
    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Operator:
        """The same operator on ``device`` with weights of ``dtype`` (self if nothing changes)."""
        device = self.device if device is None else torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        if device == self.device and dtype == self.dtype:
            return self
        # Cached, so propagate(op, x) with x on another device or dtype converts once.
        return self.cached(
            f"to:{device}:{dtype}",
            lambda op: Operator(
                op.crow_indices.to(device),
                op.col_indices.to(device),
                op.values.to(device=device, dtype=dtype),
                op._num_nodes,
            ),
        )

    def to_dense(self) -> torch.Tensor:
        """Dense ``[nodes, nodes]`` copy (cached; do not modify it)."""
        if self._dense is None:
            n = self._num_nodes
            dense = torch.zeros(n * n, device=self.device, dtype=self.dtype)
            rows = torch.repeat_interleave(torch.arange(n, device=self.device), self.row_counts())
            dense.index_put_((rows * n + self.col_indices,), self.values, accumulate=True)
            self._dense = dense.view(n, n)
        return self._dense

    def to_sparse_csr(self) -> torch.Tensor:
        """The operator as a ``torch.sparse_csr`` tensor (cached)."""
        if self._sparse_csr is None:
            with warnings.catch_warnings():  # "sparse CSR support is in beta": nothing a user can act on
                warnings.simplefilter("ignore", UserWarning)
                self._sparse_csr = torch.sparse_csr_tensor(
                    self.crow_indices,
                    self.col_indices,
                    self.values,
                    size=self.shape,
                    device=self.device,
                    dtype=self.dtype,
                    check_invariants=False,  # validated in from_csr
                )
        return self._sparse_csr

    def transpose(self) -> Operator:
        """:math:`\\mathbf{M}^\\top` as an Operator (cached both ways: ``op.transpose().transpose() is op``)."""
        if self._transpose is None:
            n = self._num_nodes
            rows = torch.repeat_interleave(torch.arange(n, device=self.device), self.row_counts())
            order = torch.argsort(self.col_indices * max(n, 1) + rows)
            counts = torch.bincount(self.col_indices, minlength=n)
            crow = torch.zeros(n + 1, dtype=torch.int64, device=self.device)
            crow[1:] = torch.cumsum(counts, 0)
            transposed = Operator(crow, rows[order].contiguous(), self.values[order].contiguous(), n)
            transposed._transpose = self
            self._transpose = transposed
        return self._transpose

    @property
    def T(self) -> Operator:
        return self.transpose()

    def cached(self, key: str, build: Callable[[Operator], _Form]) -> _Form:
        """Backend-specific form ``key``, built by ``build(self)`` once and kept."""
        if key not in self._cache:
            self._cache[key] = build(self)
        form: _Form = self._cache[key]  # stored by ``build`` (or replace_cached) under this key
        return form

    def replace_cached(self, key: str, value: object) -> None:
        """Replace the backend-specific form ``key`` (a backend that outgrew its cached form)."""
        self._cache[key] = value
