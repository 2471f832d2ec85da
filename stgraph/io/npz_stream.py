"""``.npz`` files too large to hold: written a block of rows at a time, read back the same way.

An ``.npz`` is a zip archive of ``.npy`` members, one per array, each written whole. A split's
forecasts on a state-sized network (7,000 windows x 12 steps x 8,600 sensors is 2.9 GB per
array, five arrays with an interval) arrive a block of windows at a time, so
:class:`NpzSpool` spools each array's blocks to a raw file beside the target and writes the
archive member by member from those files when the last block is in: memory holds one block,
never an array. The file it writes is an ordinary ``.npz`` (``numpy.load`` reads it, no
pickled objects). :func:`iter_npz_rows` reads aligned blocks of rows of several members of any
``.npz`` without loading a whole member.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from stgraph.errors import ShapeError
from stgraph.io.atomic import atomic_path

__all__ = ["NpzSpool", "iter_npz_rows", "npz_shapes"]

#: bytes copied from a spool file into the archive at once
_COPY_BYTES = 1 << 24


class _Spooled:
    """One array arriving in blocks of rows: its raw file, dtype, row shape and rows so far."""

    def __init__(self, path: Path, dtype: np.dtype[Any], row_shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.row_shape, self.rows = path, dtype, row_shape, 0
        self.handle: IO[bytes] = open(path, "wb")  # noqa: SIM115 (closed by NpzSpool)


class NpzSpool:
    """Build the ``.npz`` at ``path`` from blocks of rows (:meth:`append`) and whole arrays
    (:meth:`put`); :meth:`commit` writes it atomically (temp file, then rename).

    Used as a context manager, leaving the block by an exception discards everything spooled
    and leaves ``path`` as it was. Members are deflated at ``compresslevel`` (1: float32
    readings gain little from more, and a level-6 pass over gigabytes takes minutes).

    Example::

        with NpzSpool(run_dir / "predictions_test.npz") as spool:
            for forecast in blocks:            # [windows_in_block, horizon, nodes, channels]
                spool.append("prediction", forecast)
            spool.put("sensor_ids", np.asarray(ids, dtype=str))
            spool.commit()
    """

    def __init__(self, path: str | os.PathLike[str], *, compresslevel: int = 1) -> None:
        self.path = Path(path)
        self.compresslevel = compresslevel
        self._spool_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".spool", dir=self.path.parent))
        self._spooled: dict[str, _Spooled] = {}
        self._whole: dict[str, np.ndarray] = {}
        self._done = False

    def __enter__(self) -> NpzSpool:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        self.close()

    def append(self, name: str, block: np.ndarray) -> None:
        """Add ``block``'s rows (its first axis) to the end of array ``name``.

        Raises:
            ShapeError: the block's row shape or dtype is not that of the array's first block.
        """
        block = np.ascontiguousarray(block)
        if name in self._whole:
            raise ShapeError(f"{self.path}: {name!r} was given whole; it cannot also be appended to")
        if block.ndim == 0:
            raise ShapeError(f"{self.path}: a block of {name!r} needs a row axis; got a scalar")
        spooled = self._spooled.get(name)
        if spooled is None:
            spooled = self._spooled[name] = _Spooled(self._spool_dir / f"{len(self._spooled)}.raw", block.dtype, block.shape[1:])
        if block.shape[1:] != spooled.row_shape or block.dtype != spooled.dtype:
            raise ShapeError(
                f"{self.path}: blocks of {name!r} must be rows of {list(spooled.row_shape)} {spooled.dtype}; "
                f"got {list(block.shape[1:])} {block.dtype}"
            )
        spooled.handle.write(block.data.cast("B"))
        spooled.rows += len(block)

    def put(self, name: str, array: np.ndarray) -> None:
        """Store ``array`` whole as member ``name`` (small arrays: ids, timestamps, levels)."""
        if name in self._spooled:
            raise ShapeError(f"{self.path}: {name!r} is being appended to; it cannot also be given whole")
        self._whole[name] = np.asarray(array)

    def rows(self, name: str) -> int:
        """Rows appended to ``name`` so far (0 if none)."""
        return self._spooled[name].rows if name in self._spooled else 0

    def commit(self) -> Path:
        """Write the archive to ``path`` (replacing it atomically) and discard the spool."""
        for spooled in self._spooled.values():
            spooled.handle.close()
        with atomic_path(self.path, suffix=".npz") as tmp:
            options: dict[str, Any] = {"compression": zipfile.ZIP_DEFLATED, "compresslevel": self.compresslevel}
            with zipfile.ZipFile(tmp, "w", allowZip64=True, **options) as archive:
                for name, array in self._whole.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
                for name, spooled in self._spooled.items():
                    with archive.open(f"{name}.npy", "w", force_zip64=True) as member, open(spooled.path, "rb") as source:
                        header = {
                            "descr": np.lib.format.dtype_to_descr(spooled.dtype),
                            "fortran_order": False,
                            "shape": (spooled.rows, *spooled.row_shape),
                        }
                        np.lib.format.write_array_header_2_0(member, header)
                        shutil.copyfileobj(source, member, _COPY_BYTES)
        self._done = True
        self.close()
        return self.path

    def close(self) -> None:
        """Discard the spooled blocks (after :meth:`commit`, or instead of it)."""
        for spooled in self._spooled.values():
            spooled.handle.close()
        shutil.rmtree(self._spool_dir, ignore_errors=True)


def _member_header(archive: zipfile.ZipFile, name: str, path: Path) -> tuple[tuple[int, ...], np.dtype[Any]]:
    with archive.open(f"{name}.npy") as member:
        return _read_header(member, name, path)


def _read_header(member: IO[bytes], name: str, path: Path) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(member)
    if fortran_order or dtype.hasobject:
        raise ShapeError(f"{path}: member {name!r} is not a C-ordered array of plain values")
    return tuple(shape), dtype


def npz_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Shape and dtype of every member of the ``.npz`` at ``path``, from the headers alone."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        names = [info.filename[: -len(".npy")] for info in archive.infolist() if info.filename.endswith(".npy")]
        return {name: _member_header(archive, name, path) for name in names}


def iter_npz_rows(
    path: str | os.PathLike[str], names: Sequence[str], *, rows: int, stop: int | None = None
) -> Iterator[dict[str, np.ndarray]]:
    """Aligned blocks of at most ``rows`` rows of the members ``names`` of the ``.npz`` at
    ``path``, in order, up to row ``stop`` (all rows when ``None``); each member is read as a
    stream, so memory holds one block of each.

    Raises:
        KeyError: a member is missing.
        ShapeError: the members do not share their first axis.
    """
    path = Path(path)
    if rows < 1:
        raise ValueError(f"rows must be at least 1; got {rows}")
    with zipfile.ZipFile(path) as archive:
        available = {info.filename for info in archive.infolist()}
        missing = [name for name in names if f"{name}.npy" not in available]
        if missing:
            raise KeyError(f"{path} has no {', '.join(map(repr, missing))}")
        members = [archive.open(f"{name}.npy") for name in names]
        try:
            headers = [_read_header(member, name, path) for member, name in zip(members, names)]
            lengths = {shape[0] if shape else 1 for shape, _ in headers}
            if len(lengths) > 1:
                raise ShapeError(f"{path}: {', '.join(names)} do not share one first axis ({sorted(lengths)} rows)")
            total = lengths.pop() if lengths else 0
            end = total if stop is None else min(stop, total)
            for start in range(0, end, rows):
                count = min(rows, end - start)
                yield {
                    name: _read_rows(member, shape, dtype, count, path, name)
                    for member, name, (shape, dtype) in zip(members, names, headers)
                }
        finally:
            for member in members:
                member.close()


def _read_rows(member: IO[bytes], shape: tuple[int, ...], dtype: np.dtype[Any], count: int, path: Path, name: str) -> np.ndarray:
    row_shape = shape[1:]
    size = count * int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
    data = member.read(size)
    if len(data) != size:
        raise ShapeError(f"{path}: member {name!r} ends early (truncated file)")
    return np.frombuffer(data, dtype=dtype).reshape(count, *row_shape)
