"""reuse_freed_memory: freed large tensors are reused instead of mapped and page-faulted again.

Each case runs in a fresh interpreter: the setting is process-wide and cannot be undone.
Page faults (``ru_minflt``) are counted, not time: a 64 MiB tensor is 16,384 pages of 4 KiB.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="the setting applies to glibc only"
)

PROBE = """
import json, resource, torch
from stgraph.ops import reuse_freed_memory
applied = reuse_freed_memory()
again = reuse_freed_memory()
def faults_of_fresh_tensor():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.empty(16 * 2**20)  # 64 MiB
    t.fill_(1.0)                  # touch every page
    del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
# The first allocations map their pages either way, and small allocations made between them may
# take the start of a freed block until the heap has settled (up to ~8 rounds seen here): a
# training run reaches that steady state in its first steps.
for _ in range(16):
    faults_of_fresh_tensor()
print(json.dumps({"applied": applied, "again": again, "faults": min(faults_of_fresh_tensor() for _ in range(3))}))
"""


def _probe(**env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env={**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_freed_tensor_memory_is_reused_without_page_faults():
    tuned = _probe(STGRAPH_MALLOC="")
    assert tuned["applied"] is True and tuned["again"] is True
    assert tuned["faults"] < 1000  # the 16,384 pages come back from the heap, already mapped


def test_system_setting_keeps_glibc_defaults():
    default = _probe(STGRAPH_MALLOC="system")
    assert default["applied"] is False
    assert default["faults"] > 16_000  # glibc maps a >32 MiB request afresh every time
