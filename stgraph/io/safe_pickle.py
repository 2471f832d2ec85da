"""Load pickles that may only hold numpy arrays and plain Python values.

DCRNN publishes its adjacency as a Python 2 pickle ``(sensor_ids, sensor_id_to_ind, adj_mx)``.
:func:`pickle.load` runs whatever callable a pickle names, so a file from the internet could
execute code on load. :func:`load_pickle` resolves only the globals that rebuild numpy arrays,
dtypes and scalars, plus a few inert builtins; any other global (``os.system``, ``eval``,
``subprocess.Popen``...) stops the load *before* it is called.
"""

from __future__ import annotations

import importlib
import os
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

# imported by name: the private helpers below (_reconstruct, _frombuffer) are not in numpy's stubs
try:  # numpy >= 2
    _multiarray = importlib.import_module("numpy._core.multiarray")
    _numeric = importlib.import_module("numpy._core.numeric")
except ImportError:  # pragma: no cover - numpy 1.x
    _multiarray = importlib.import_module("numpy.core.multiarray")
    _numeric = importlib.import_module("numpy.core.numeric")

__all__ = ["UnsafePickleError", "load_pickle"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the numpy/builtins allow-list."""


# numpy moved ``numpy.core`` to ``numpy._core`` in 2.0; pickles name either module.
_NUMPY_MODULES = {
    "multiarray": ("numpy.core.multiarray", "numpy._core.multiarray"),
    "numeric": ("numpy.core.numeric", "numpy._core.numeric"),
}
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 pickles of bytes at protocol <= 2 go through _codecs.encode(text, "latin1")
    ("_codecs", "encode"): __import__("_codecs").encode,
}
for _module in _NUMPY_MODULES["multiarray"]:
    _ALLOWED[(_module, "_reconstruct")] = _multiarray._reconstruct
    _ALLOWED[(_module, "scalar")] = _multiarray.scalar
for _module in _NUMPY_MODULES["numeric"]:
    _ALLOWED[(_module, "_frombuffer")] = _numeric._frombuffer
for _name in (
    "list",
    "dict",
    "tuple",
    "set",
    "frozenset",
    "int",
    "float",
    "complex",
    "bool",
    "str",
    "bytes",
    "bytearray",
    "slice",
    "range",
):
    for _module in ("builtins", "__builtin__"):  # Python 3 and Python 2 names
        _ALLOWED[(_module, _name)] = getattr(__import__("builtins"), _name)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], source: str, *, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: refused to load global {module}.{name}; only numpy arrays and "
                "plain builtins (lists, dicts, strings, numbers) are allowed in a pickle"
            ) from None


def load_pickle(path: str | os.PathLike[str], *, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` admitting only numpy arrays, dtypes, scalars and inert builtins.

    Args:
        path: the pickle file.
        encoding: how Python 2 ``str`` objects are decoded; ``"latin1"`` (the default) is the
            only choice that rebuilds numpy arrays written by Python 2 byte for byte.

    Raises:
        UnsafePickleError: the pickle names any other global; nothing from it was called.
        pickle.UnpicklingError: the file is truncated or not a pickle.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        return _RestrictedUnpickler(handle, str(path), encoding=encoding).load()
