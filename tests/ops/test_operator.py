"""Operator: CSR validation, conversions, transpose and caching."""

from __future__ import annotations

import pytest
import torch

from stgraph.errors import GraphError, ShapeError
from stgraph.ops import Operator


def _matrix() -> torch.Tensor:
    # Row 1 is empty, row 2 has a self-loop.
    return torch.tensor(
        [[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0], [0.0, 5.0, 0.0, 0.0]], dtype=torch.float64
    )


def test_from_dense_round_trips_and_counts():
    op = Operator.from_dense(_matrix())
    assert op.num_nodes == 4 and op.num_edges == 5
    assert op.crow_indices.tolist() == [0, 2, 2, 4, 5]
    assert op.col_indices.tolist() == [1, 3, 0, 2, 1]
    torch.testing.assert_close(op.to_dense(), _matrix())


def test_from_sparse_coo_equals_from_dense():
    op = Operator.from_sparse(_matrix().to_sparse())
    torch.testing.assert_close(op.to_dense(), _matrix())


def test_from_csr_sorts_columns_within_rows():
    op = Operator.from_csr(torch.tensor([0, 2, 3]), torch.tensor([1, 0, 0]), torch.tensor([5.0, 7.0, 9.0]), 2)
    assert op.col_indices.tolist() == [0, 1, 0]
    assert op.values.tolist() == [7.0, 5.0, 9.0]


def test_transpose_is_cached_both_ways():
    op = Operator.from_dense(_matrix())
    torch.testing.assert_close(op.transpose().to_dense(), _matrix().T)
    assert op.T.T is op


def test_to_converts_once_and_keeps_the_original():
    op = Operator.from_dense(_matrix())
    single = op.to(dtype=torch.float32)
    assert single.dtype == torch.float32 and op.dtype == torch.float64
    assert op.to(dtype=torch.float32) is single
    assert op.to() is op


@pytest.mark.parametrize(
    "crow, col, values, match",
    [
        ([0, 1], [0], [1.0], r"\[num_nodes \+ 1\] = \[3\]"),
        ([0, 2, 1], [0, 1], [1.0, 1.0], "end at the edge count 2"),
        ([0, 2, 2], [0, 1], [1.0], "equal length"),
        ([0, 1, 2], [0, 5], [1.0, 1.0], "row 1 has column 5"),
    ],
)
def test_from_csr_rejects_malformed_arrays(crow, col, values, match):
    with pytest.raises(GraphError, match=match):
        Operator.from_csr(torch.tensor(crow), torch.tensor(col), torch.tensor(values), 2)


def test_from_csr_rejects_decreasing_row_pointers():
    with pytest.raises(GraphError, match=r"row 1 ends before it starts \(2 -> 1\)"):
        Operator.from_csr(torch.tensor([0, 2, 1, 2]), torch.tensor([0, 1]), torch.tensor([1.0, 1.0]), 3)


def test_from_dense_rejects_non_square():
    with pytest.raises(ShapeError, match=r"\[3, 2\]"):
        Operator.from_dense(torch.ones(3, 2))
