"""The propagation core: apply a static sparse graph operator to a whole batch at once.

``propagate(operator, x)`` computes ``operator @ x`` along the node axis (-2) of ``x`` with
any leading axes, through one sparse product per call. See :mod:`stgraph.ops.propagate` for
the backends and how one is chosen.
"""

from stgraph.ops.memory import reuse_freed_memory
from stgraph.ops.operator import Operator
from stgraph.ops.propagate import BACKENDS, export_mode, exporting, propagate, select_backend, triton_available

__all__ = [
    "BACKENDS",
    "Operator",
    "export_mode",
    "exporting",
    "propagate",
    "reuse_freed_memory",
    "select_backend",
    "triton_available",
]
