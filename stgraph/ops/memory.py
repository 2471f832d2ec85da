r"""Keep freed CPU tensor memory in the process, so large tensors are not page-faulted every step.

PyTorch's CPU allocator takes memory from the C library's ``malloc``. glibc serves every
request above its mmap threshold (at most 32 MiB on 64-bit Linux) with a fresh ``mmap`` and
returns it with ``munmap`` on free. A training step at batch 64 allocates many such tensors
(STGCN's ``[64, 12, 207, 64]`` activations are 41 MB; a propagation's output on a 2,000-sensor
graph is 49 MB), so every step the kernel maps them again and zero-fills each 4 KiB page on
first touch. On the 2-core machine of ``benchmarks/RESULTS.md`` that made a 49 MB
``torch.clone`` take 30 ms against 6 ms for a copy into existing memory, and the CPU sparse
propagation 47 ms against 12 ms.

:func:`reuse_freed_memory` switches glibc to serve all requests from its heap
(``M_MMAP_MAX = 0``) and to keep freed memory instead of trimming it back to the system
(``M_TRIM_THRESHOLD``), the effect PyTorch's CPU tuning guide gets by preloading jemalloc or
tcmalloc. Memory then stays mapped at the process's high-water mark, and freed memory is not
returned to the system until the process exits. The heap takes a few steps to settle: small
allocations made between two large ones can take the start of a freed block, so the next large
tensor is placed above it and faults in (a 64 MiB tensor allocated and freed in a loop settled
after at most 8 rounds in our tests), which also raises the peak resident size by a few such
blocks.

It changes process-wide state, so the library never calls it on import: the trainer
(``stgraph train``, :func:`stgraph.train.train`) and the speed benchmark call it, and the
environment variable ``STGRAPH_MALLOC=system`` turns it off. Elsewhere (macOS, Windows, musl)
it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

__all__ = ["reuse_freed_memory"]

log = logging.getLogger(__name__)

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# Free memory at the top of the heap kept before trimming: larger than any tensor we allocate.
_KEEP_BYTES = 2**31 - 1

_applied: bool | None = None


def reuse_freed_memory() -> bool:
    """Make glibc ``malloc`` reuse freed memory for large CPU tensors; ``True`` when applied.

    Idempotent; returns ``False`` (and changes nothing) when ``STGRAPH_MALLOC=system`` is set,
    when the C library is not glibc, or when ``mallopt`` refuses a setting.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("STGRAPH_MALLOC", "").lower() == "system":
        log.debug("STGRAPH_MALLOC=system: the C library's default allocator settings are kept")
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        log.debug("not glibc (%s %s): allocator settings unchanged", platform.system(), platform.libc_ver()[0] or "?")
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # Order matters: with trimming off first, no freed memory is handed back between the calls.
    if not libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES) or not libc.mallopt(_M_MMAP_MAX, 0):
        log.warning("glibc mallopt refused the settings: large CPU tensors are page-faulted on every allocation")
        return False
    _applied = True
    return True
