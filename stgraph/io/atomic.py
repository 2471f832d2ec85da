"""Atomic writes: write beside the target, then ``os.replace``.

A reader never sees a half-written file, and an interrupted write leaves whatever was on disk
before untouched. An :class:`OSError` on the way (a read-only folder, a full disk) comes out as
:class:`WriteError`, which names the target rather than the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["WriteError", "atomic_path", "atomic_write"]


class WriteError(OSError):
    """Writing ``filename`` failed; ``str()`` is ``cannot write <filename>: <reason>``.

    ``errno`` and ``strerror`` are those of the underlying error (``errno.ENOSPC``, ``errno.EACCES``).
    """

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror or 'unknown error'}"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` if the block succeeds.

    Use this for writers that insist on a file name (``np.savez``, ``torch.save``,
    ``DataFrame.to_parquet``). ``suffix`` keeps an extension such writers look at. On an
    exception the temporary file is removed and ``path`` is left as it was.

    Raises:
        WriteError: an ``OSError`` while creating the folder or the temporary file, in the
        block, or while moving it onto ``path``; it names ``path``.
    """
    target = Path(path)
    tmp_path: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, target)
    except BaseException as error:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, WriteError):
            raise WriteError(error.errno, error.strerror or str(error), str(target)) from error
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; replace ``path`` on success.

    Example:
        >>> with atomic_write("metrics.json") as f:  # doctest: +SKIP
        ...     json.dump(metrics, f)

    Raises:
        WriteError: as :func:`atomic_path`.
    """
    if not any(flag in mode for flag in "wax"):
        raise ValueError(f"atomic_write needs a write mode, got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode.replace("x", "w"), **open_kwargs) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
