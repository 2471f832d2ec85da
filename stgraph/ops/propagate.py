r"""``propagate(operator, x)``: the one place where a graph operator meets sensor features.

Every graph layer computes :math:`\mathbf{M}\mathbf{X}` along the node axis through this
function. The leading axes of ``x`` (batch, time, ...) are folded into slices, so a whole batch
is one sparse product: no Python loop over samples, time steps or sensors, and no copy of the
graph per sample.

Backends (chosen from the device and the graph, overridable with ``backend=`` or the
environment variable ``STGRAPH_BACKEND``):

``"reference"``  ``torch.sparse`` CSR @ dense; ground truth for tests.
``"dense"``      one batched GEMM with the dense ``[nodes, nodes]`` matrix; small graphs.
``"cpu"``        fused CSR SpMM through ``embedding_bag`` (torch ops only); large graphs on CPU.
``"triton"``     Triton CSR SpMM kernel for many right-hand columns; large graphs on CUDA.

All backends compute the same function and the same gradient: the backward pass of
``M @ x`` is ``M^T @ grad``, applied by the same backend with the operator's cached transpose.

While a model is traced or exported (``torch.jit.trace``, ``torch.export``, ``torch.onnx``, or
inside :func:`export_mode`), none of these runs: the autograd Function holds a Python
:class:`Operator` that no tracer can record. Plain tensor ops compute the same product instead,
with the operator's arrays baked into the graph as constants: one ``matmul`` with the dense
matrix up to :data:`EXPORT_DENSE_MAX_NODES` sensors, a gather and an ``index_add`` over the
stored entries above. Training and eager inference never take this path; ``torch.compile``
is left as it was (only ``torch.compiler.is_exporting``, not ``is_compiling``, switches).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch
from torch.autograd.function import FunctionCtx

from stgraph.errors import ShapeError
from stgraph.ops.operator import Operator

__all__ = ["BACKENDS", "EXPORT_DENSE_MAX_NODES", "export_mode", "exporting", "propagate", "select_backend", "triton_available"]

BACKENDS = ("reference", "dense", "cpu", "triton")

# On CPU the sparse path wins from METR-LA's size up (207 sensors, 4 % of pairs stored; 2
# threads, [768, 207, 64]: 13.7 ms against 23.7 ms for the GEMM, and +6 % / +6 % / +30 %
# training samples/s for STGCN / Graph WaveNet / DCRNN, 2026-11-23), so the GEMM is chosen
# only for dense operators. On CUDA the Triton kernel beat the GEMM already at 207 sensors
# (H100: 0.06 ms against 0.14 ms for [64, 12, 207, 64]), so the GEMM is used there only
# without Triton, up to DENSE_MAX_NODES_CUDA.
DENSE_MAX_NODES_CUDA = 1024
# Above this share of stored entries a GEMM is cheaper than any sparse product.
DENSE_MIN_DENSITY = 0.25
# Traced or exported, a graph up to this size is baked in as a dense matrix (16 MB of float32 at
# 2,048 sensors) and applied with one GEMM, which every runtime has; larger graphs keep their
# stored entries only (gather + index_add).
EXPORT_DENSE_MAX_NODES = 2048

_EXPORT_MODE = False


@contextlib.contextmanager
def export_mode() -> Iterator[None]:
    """Propagate with the traceable plain-tensor path inside the block (see the module notes)."""
    global _EXPORT_MODE
    before = _EXPORT_MODE
    _EXPORT_MODE = True
    try:
        yield
    finally:
        _EXPORT_MODE = before


def exporting() -> bool:
    """Whether a tracer or exporter is recording (or :func:`export_mode` is on)."""
    return (
        _EXPORT_MODE
        or torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]  # unannotated in torch
        or torch.compiler.is_exporting()
        or torch.onnx.is_in_onnx_export()
    )


def triton_available() -> bool:
    """Whether ``import triton`` works (checked once; importing Triton is slow)."""
    global _TRITON_OK
    if _TRITON_OK is None:
        try:
            import triton  # noqa: F401

            _TRITON_OK = True
        except ImportError:
            _TRITON_OK = False
    return _TRITON_OK


_TRITON_OK: bool | None = None


def select_backend(operator: Operator, device: torch.device) -> str:
    """The backend ``propagate`` uses for ``operator`` on ``device`` when none is forced."""
    nodes = operator.num_nodes
    if device.type == "cuda":
        if operator.density >= DENSE_MIN_DENSITY:
            return "dense"
        if triton_available():
            return "triton"
        return "dense" if nodes <= DENSE_MAX_NODES_CUDA else "reference"
    return "dense" if operator.density >= DENSE_MIN_DENSITY else "cpu"


def _kernel(name: str) -> Callable[[Operator, torch.Tensor], torch.Tensor]:
    if name == "reference":
        from stgraph.ops._reference import spmm
    elif name == "dense":
        from stgraph.ops._dense import spmm
    elif name == "cpu":
        from stgraph.ops._cpu import spmm
    elif name == "triton":
        if not triton_available():
            raise RuntimeError("backend 'triton' needs the triton package (pip install 'stgraph[triton]')")
        from stgraph.ops._triton import spmm
    else:
        raise ValueError(f"unknown propagation backend {name!r}; expected one of {list(BACKENDS)}")
    return spmm


class _Context(FunctionCtx):
    """What :class:`_Propagate` keeps for its backward pass (for the type checker: autograd
    makes the context object)."""

    operator: Operator
    backend: str


class _Propagate(torch.autograd.Function):
    """``M @ x[s]`` per slice with a backend kernel; backward ``M^T @ grad[s]``, same kernel."""

    if TYPE_CHECKING:
        # torch's Function.apply is unannotated (*args, **kwargs); this is what it takes here.
        @classmethod
        def apply(cls, x: torch.Tensor, operator: Operator, backend: str) -> torch.Tensor: ...

    @staticmethod
    def forward(ctx: _Context, x: torch.Tensor, operator: Operator, backend: str) -> torch.Tensor:
        ctx.operator = operator
        ctx.backend = backend
        return _kernel(backend)(operator, x)

    @staticmethod
    def backward(ctx: _Context, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        # Through apply (not the raw kernel), so the gradient is itself differentiable.
        return _Propagate.apply(grad.contiguous(), ctx.operator.transpose(), ctx.backend), None, None


def propagate(operator: Operator | torch.Tensor, x: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    r"""Apply a graph operator along the node axis: ``out[..., i, :] = sum_j M[i, j] x[..., j, :]``.

    Args:
        operator: an :class:`Operator` (static graph, the fast path); a dense ``[nodes, nodes]``
            tensor, possibly requiring grad (a learned adjacency: differentiable with respect to
            both operands); or a torch sparse tensor (converted on each call: prefer an Operator).
        x: sensor features with the node axis second to last.
        backend: force a backend (``"reference"``, ``"dense"``, ``"cpu"``, ``"triton"``);
            defaults to ``$STGRAPH_BACKEND`` or the automatic choice of :func:`select_backend`.
            Ignored for a dense tensor operator, which always goes through ``torch.matmul``.

    Shapes:
        operator: ``[nodes, nodes]``; x: ``[..., nodes, features]`` -> ``[..., nodes, features]``
    """
    if x.ndim < 2:
        raise ShapeError(f"propagate expects x as [..., nodes, features], got shape {list(x.shape)}")
    if isinstance(operator, torch.Tensor):
        if operator.layout == torch.strided:
            if operator.ndim != 2 or operator.shape[0] != operator.shape[1] or operator.shape[0] != x.shape[-2]:
                raise ShapeError(
                    f"operator {list(operator.shape)} does not match x {list(x.shape)}: expected [nodes, nodes] "
                    f"with nodes = x.shape[-2] = {x.shape[-2]}"
                )
            return torch.matmul(operator, x)
        operator = Operator.from_sparse(operator)
    if operator.num_nodes != x.shape[-2]:
        raise ShapeError(f"operator has {operator.num_nodes} nodes but x {list(x.shape)} has {x.shape[-2]} on its node axis (-2)")
    operator = operator.to(device=x.device, dtype=x.dtype)
    if exporting():
        return _traceable(operator, x)
    name = backend or os.environ.get("STGRAPH_BACKEND") or select_backend(operator, x.device)
    if name not in BACKENDS:
        raise ValueError(f"unknown propagation backend {name!r}; expected one of {list(BACKENDS)}")
    if x.numel() == 0:
        return x.clone()  # zero slices, features or nodes: the empty product, still differentiable
    shape = x.shape
    slices = x.reshape(-1, shape[-2], shape[-1])
    if not slices.is_contiguous():
        slices = slices.contiguous()
    return _Propagate.apply(slices, operator, name).reshape(shape)


def _traceable(operator: Operator, x: torch.Tensor) -> torch.Tensor:
    """``M @ x`` from plain tensor ops, for tracers and exporters (the same product as the backends).

    Shapes:
        x: ``[..., nodes, features]`` -> ``[..., nodes, features]``
    """
    if operator.num_nodes <= EXPORT_DENSE_MAX_NODES:
        return torch.matmul(operator.to_dense(), x)
    rows = operator.cached(
        "export-rows", lambda op: torch.repeat_interleave(torch.arange(op.num_nodes, device=op.device), op.row_counts())
    )
    gathered = x.index_select(-2, operator.col_indices) * operator.values[:, None]
    out = torch.zeros_like(x)
    return out.index_add(-2, rows, gathered)
