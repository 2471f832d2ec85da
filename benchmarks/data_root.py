"""Where the benchmarks read real data: the library's data root rule, with this project's folder first.

The default is ``$STGRAPH_DATA`` when set; else ``../shared/data`` beside the checkout, where
this project keeps its real data, when that folder exists; else the library's data root
(:func:`stgraph.io.paths.data_root`: the checkout's ``datasets/``, then the user cache). The
accuracy benchmark's ``--data-root`` overrides it and is passed to the pipeline as ``root``.
"""

from __future__ import annotations

import os
from pathlib import Path

from stgraph.io.paths import data_root

__all__ = ["SHARED_DATA", "default_data_root"]

#: ``../shared/data`` beside the checkout.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def default_data_root() -> Path:
    """``$STGRAPH_DATA``, else :data:`SHARED_DATA` when it exists, else the library's data root."""
    if not os.environ.get("STGRAPH_DATA") and SHARED_DATA.is_dir():
        return SHARED_DATA
    return data_root()
