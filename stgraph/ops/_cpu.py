"""CPU sparse backend from torch ops only: CSR SpMM over a block-diagonal operator through ``embedding_bag``.

``embedding_bag(col_indices, table, offsets=crow_indices, per_sample_weights=values,
mode="sum")`` computes ``out[i] = sum_{e in row i} values[e] * table[col[e]]``: a CSR
sparse-dense product in one fused, vectorised kernel (FBGEMM on x86), with no gathered
intermediate and no permute of ``x``.

Layout: ``x`` is ``[slices, nodes, features]`` (slices = batch x time), so each slice
``x[s]`` is a contiguous ``[nodes, features]`` table and ``M @ x[s]`` is one bag per sensor.
``g`` consecutive slices are the contiguous table ``[g * nodes, features]``, and the
block-diagonal operator ``diag(M, ..., M)`` propagates them in one call. Every bag reads
rows of its own slice only, so a thread's working set is one slice's table (53 KB for
207 sensors and 64 features) whatever ``g`` is: the rows it gathers come from cache, and main
memory sees each input row once and each output row once.

One call covers all slices when the block-diagonal index fits ``MAX_ENTRIES_PER_CALL``: the
kernel's output is then the result, with no copy. Streaming the index costs 8 bytes per stored
entry (int32 column, float32 value), about a third of reading ``x`` for a 10-neighbour graph
with 64 features, while splitting into groups costs a copy of every group's output (torch's
``out=`` overload of this kernel copies the same way): one call ran 1.35-1.7x faster than groups
on the 2,000- and 8,600-sensor kNN graphs and PEMS-BAY (one thread, CPU time, 2026-11-23). Only
beyond the budget (e.g. 8,600 sensors at batch 64 x 12 steps) are slices grouped, which bounds
the cached index to 128 MB per operator.

The block-diagonal arrays (int32 columns and offsets, float values) are built once per
operator for the largest group seen and sliced for smaller ones, so the cache holds one copy
however many batch and time sizes the layers use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stgraph.ops.operator import Operator

# Stored entries of diag(M, ..., M) per call: 16 Mi entries are 64 MB of int32 columns plus
# 64 MB of float32 values. Every real road graph (207-883 sensors) and the 2,000-sensor kNN
# graph fit one call at batch 64 x 12 steps; 8,600 sensors take groups of ~195 slices.
MAX_ENTRIES_PER_CALL = 1 << 24

_CACHE_KEY = "cpu-block-diagonal"


def group_size(operator: Operator, slices: int) -> int:
    """Slices per call: all of them, or as many as keep the block-diagonal index within budget."""
    return max(1, min(slices, MAX_ENTRIES_PER_CALL // max(operator.num_edges, 1)))


def _block_diagonal(operator: Operator, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CSR arrays (columns, offsets with the last one, values) of ``diag(M, ..., M)``, ``group`` blocks."""
    nodes, edges = operator.num_nodes, operator.num_edges
    index = torch.int32 if group * max(nodes, edges) < 2**31 else torch.int64
    shift = torch.arange(group, device=operator.device, dtype=torch.int64)
    cols = (operator.col_indices[None, :] + shift[:, None] * nodes).reshape(-1)
    offsets = (operator.crow_indices[None, :-1] + shift[:, None] * edges).reshape(-1)
    offsets = torch.cat([offsets, offsets.new_tensor([group * edges])])
    return cols.to(index), offsets.to(index), operator.values.repeat(group)


def _arrays(operator: Operator, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cached block-diagonal arrays for at least ``group`` slices (rebuilt larger when needed)."""
    cached = operator.cached(_CACHE_KEY, lambda op: (group, _block_diagonal(op, group)))
    if cached[0] < group:
        cached = (group, _block_diagonal(operator, group))
        operator.replace_cached(_CACHE_KEY, cached)
    return cached[1]


def spmm(operator: Operator, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x[s]`` for every slice ``s``.

    Shapes:
        x: ``[slices, nodes, features]`` (contiguous) -> ``[slices, nodes, features]``
    """
    slices, nodes, features = x.shape
    group = group_size(operator, slices)
    cols, offsets, values = _arrays(operator, group)
    table = x.view(slices * nodes, features)

    def product(first: int, count: int) -> torch.Tensor:
        edges = count * operator.num_edges
        rows = table[first * nodes : (first + count) * nodes]
        return F.embedding_bag(
            cols[:edges],
            rows,
            offsets[: count * nodes + 1],
            mode="sum",
            per_sample_weights=values[:edges],
            include_last_offset=True,
        )

    if group == slices:
        return product(0, slices).view(slices, nodes, features)
    out = torch.empty_like(x)
    for first in range(0, slices, group):
        count = min(group, slices - first)
        out[first : first + count].view(count * nodes, features).copy_(product(first, count))
    return out
