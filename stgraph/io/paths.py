"""Where datasets live on disk: the data root.

The data root is, in order of precedence:

1. ``$STGRAPH_DATA``, if set;
2. the checkout's ``datasets/`` folder, when stgraph runs from a source checkout (the folder
   beside the ``stgraph`` package that holds ``README.md``; it also holds the committed sample);
3. a user cache directory: ``$XDG_CACHE_HOME/stgraph``, else ``~/.cache/stgraph``.

Each dataset has a sub-folder of the root named after it (``<root>/metr-la/metr-la.h5``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["checkout_datasets_dir", "data_root", "user_cache_dir"]


def checkout_datasets_dir() -> Path | None:
    """The source checkout's ``datasets/`` folder, or ``None`` when installed elsewhere."""
    candidate = Path(__file__).resolve().parents[2] / "datasets"
    return candidate if (candidate / "README.md").is_file() else None


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/stgraph``, else ``~/.cache/stgraph``."""
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "stgraph"


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``root`` if given, else ``$STGRAPH_DATA``, the checkout, the user cache."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("STGRAPH_DATA")
    if env:
        return Path(env).expanduser()
    return checkout_datasets_dir() or user_cache_dir()
