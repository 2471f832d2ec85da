"""Triton backend: CSR sparse times dense with many right-hand columns, for CUDA.

Imported lazily by :mod:`stgraph.ops.propagate` (importing Triton takes a second). The kernel
reads the input in its natural ``[slices, nodes, features]`` layout (slices = batch x time),
so no permute copy is made on either side.

One program computes ``out[s, i, f0:f0 + BLOCK_F]`` for one slice ``s`` and one output row
``i``: it loads up to ``BLOCK_E`` of row ``i``'s edges at once, gathers the matching rows of
``x[s]`` as a ``[BLOCK_E, BLOCK_F]`` tile (independent loads, so many are in flight), and
accumulates their weighted sum in float32 (float64 for float64 inputs). Consecutive programs
take consecutive rows of the same slice, so neighbouring sensors' rows are re-read from L2.
Under ``TRITON_INTERPRET=1`` the same kernel runs on CPU tensors (tests).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from stgraph.ops.operator import Operator


# Triton is untyped for mypy (no py.typed), and the kernel's parameters stay unannotated on
# purpose: Triton reads parameter annotations to choose how to specialise a kernel.
@triton.jit  # type: ignore[untyped-decorator]
def _csr_spmm_kernel(  # type: ignore[no-untyped-def]
    crow_ptr,
    col_ptr,
    val_ptr,
    x_ptr,
    out_ptr,
    num_slices,
    num_nodes,
    num_features,
    BLOCK_E: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_F: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
):
    row = tl.program_id(0)
    slices = tl.program_id(1) * BLOCK_S + tl.arange(0, BLOCK_S)
    features = tl.program_id(2) * BLOCK_F + tl.arange(0, BLOCK_F)
    slice_ok = slices < num_slices
    feature_ok = features < num_features
    slice_base = slices.to(tl.int64) * num_nodes * num_features  # [BLOCK_S]
    start = tl.load(crow_ptr + row)
    end = tl.load(crow_ptr + row + 1)
    acc = tl.zeros((BLOCK_S, BLOCK_F), dtype=ACC_DTYPE)
    for first in range(start, end, BLOCK_E):
        edges = first + tl.arange(0, BLOCK_E)
        edge_ok = edges < end
        cols = tl.load(col_ptr + edges, mask=edge_ok, other=0).to(tl.int64)
        weights = tl.load(val_ptr + edges, mask=edge_ok, other=0.0).to(ACC_DTYPE)
        # [BLOCK_E, BLOCK_S, BLOCK_F] tile of x[s, col_e, f]: every gathered row is independent.
        offsets = slice_base[None, :, None] + cols[:, None, None] * num_features + features[None, None, :]
        mask = edge_ok[:, None, None] & slice_ok[None, :, None] & feature_ok[None, None, :]
        tile = tl.load(x_ptr + offsets, mask=mask, other=0.0)
        acc += tl.sum(weights[:, None, None] * tile.to(ACC_DTYPE), axis=0)
    out_offsets = slice_base[:, None] + row.to(tl.int64) * num_features + features[None, :]
    tl.store(out_ptr + out_offsets, acc.to(out_ptr.dtype.element_ty), mask=slice_ok[:, None] & feature_ok[None, :])


def launch(
    operator: Operator,
    x: torch.Tensor,
    out: torch.Tensor,
    *,
    block_e: int,
    block_s: int,
    block_f: int,
    num_warps: int,
) -> None:
    """Run the kernel with explicit tile sizes (benchmarks sweep these)."""
    slices, nodes, features = x.shape
    acc_dtype = tl.float64 if x.dtype == torch.float64 else tl.float32
    grid = (nodes, triton.cdiv(slices, block_s), triton.cdiv(features, block_f))
    _csr_spmm_kernel[grid](
        operator.crow_indices,
        operator.col_indices,
        operator.values,
        x,
        out,
        slices,
        nodes,
        features,
        BLOCK_E=block_e,
        BLOCK_S=block_s,
        BLOCK_F=block_f,
        ACC_DTYPE=acc_dtype,
        num_warps=num_warps,
    )


def spmm(operator: Operator, x: torch.Tensor) -> torch.Tensor:
    """``operator @ x[s]`` for every slice ``s``.

    Shapes:
        x: ``[slices, nodes, features]`` (contiguous) -> ``[slices, nodes, features]``
    """
    slices, nodes, features = x.shape
    x = x.contiguous()
    out = torch.empty_like(x)
    block_f = min(triton.next_power_of_2(features), 128)
    # Tile sizes from a sweep on an H100 (benchmarks/speed/propagate_gpu.py --sweep; kNN graphs
    # of 207-8,600 sensors, mean degree 10, 64 features): one warp per program, 4 slices, edges
    # in steps of 8 reached 48-54% of the copy bandwidth, 1.8x the 2-warp and 4x the 4-warp
    # tilings. Half the mean degree per step keeps few gathered lanes masked.
    mean_degree = operator.num_edges / max(nodes, 1)
    block_e = min(max(triton.next_power_of_2(max(int(mean_degree), 1)) // 2, 4), 16)
    block_s = max(1, min(triton.next_power_of_2(slices), 4))
    launch(operator, x, out, block_e=block_e, block_s=block_s, block_f=block_f, num_warps=1)
    return out
