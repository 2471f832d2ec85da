"""The local store: which files of a catalog dataset are on disk, verified, and fetching them.

A dataset's files live in ``<data root>/<key>/`` (:meth:`Dataset.folder
<stgraph.data.catalog.Dataset.folder>`); the committed sample lives in the checkout's
``datasets/sample``. A file counts as verified once its checksum has been checked since it
last changed; the checks are remembered in ``.stgraph-verified.json`` in the dataset folder,
so later status checks need not hash the files again. Where that record cannot be written
(a read-only data folder, the committed sample) the checks are remembered for the rest of
the process only.

:func:`verify_files` is the check before use: data preparation calls it on every catalog
file it is about to read, and a file of the wrong size or checksum stops the run with a
:class:`~stgraph.errors.DataFileError` that says how to fetch the file again.

Example:
    >>> from stgraph.data.store import dataset_status, summarize_status
    >>> summarize_status(dataset_status("sample"))  # doctest: +SKIP
    'verified'
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stgraph.data.catalog import CHECKSUM_UNKNOWN, DataFile, Dataset, get_dataset
from stgraph.errors import DataFileError
from stgraph.io.atomic import atomic_write
from stgraph.io.download import ChecksumError, DownloadError, download, verify_file

__all__ = ["FileStatus", "dataset_status", "fetch_dataset", "summarize_status", "verify_files"]

logger = logging.getLogger(__name__)

_STAMP = ".stgraph-verified.json"

#: files verified in this process: (absolute path, size, mtime_ns) -> the checksum they matched.
#: Covers what ``.stgraph-verified.json`` cannot: read-only folders and the committed sample.
_VERIFIED: dict[tuple[str, int, int], str] = {}
#: files without a known checksum already warned about in this process
_WARNED: set[Path] = set()


@dataclass(frozen=True)
class FileStatus:
    """Local state of one file: ``state`` is ``"verified"``, ``"present"`` (not verified),
    ``"partial"`` (an interrupted download), ``"missing"`` or ``"corrupt"``."""

    file: DataFile
    path: Path
    state: str
    detail: str = ""


def dataset_status(
    dataset: Dataset | str, root: str | os.PathLike[str] | None = None, *, verify: bool = False
) -> list[FileStatus]:
    """Local state of each file of ``dataset`` under ``root`` (default: the data root).

    A file counts as ``"verified"`` when its checksum was checked since it last changed
    (recorded in ``.stgraph-verified.json`` in the dataset folder); ``verify=True`` hashes
    present files that are not yet recorded. Without a known checksum a file can only be
    ``"present"``. The committed sample is small and always hashed, and nothing is recorded
    in its (committed) folder.
    """
    dataset = get_dataset(dataset) if isinstance(dataset, str) else dataset
    folder = dataset.folder(root)
    if dataset.bundled:
        return [_file_status(file, folder / file.name, {}, verify=True) for file in dataset.files]
    stamps = _read_stamps(folder)
    statuses = [_file_status(file, folder / file.name, stamps, verify) for file in dataset.files]
    if verify:
        _write_stamps(folder, stamps)
    return statuses


def _file_status(file: DataFile, path: Path, stamps: dict[str, dict[str, Any]], verify: bool) -> FileStatus:
    if not path.is_file():
        part = path.with_name(path.name + ".part")
        if part.is_file():
            return FileStatus(file, path, "partial", f"interrupted download ({part.stat().st_size} bytes in {part.name})")
        return FileStatus(file, path, "missing")
    stat = path.stat()
    if file.size is not None and stat.st_size != file.size:
        return FileStatus(file, path, "corrupt", f"{stat.st_size} bytes, expected {file.size}")
    if file.checksum == CHECKSUM_UNKNOWN:
        return FileStatus(file, path, "present", CHECKSUM_UNKNOWN)
    seen = (str(path.absolute()), stat.st_size, stat.st_mtime_ns)
    if stamps.get(file.name) == _stamp(file, stat) or _VERIFIED.get(seen) == file.checksum:
        stamps[file.name] = _stamp(file, stat)
        _VERIFIED[seen] = file.checksum
        return FileStatus(file, path, "verified", file.checksum)
    if not verify:
        return FileStatus(file, path, "present", "not verified yet")
    try:
        verify_file(path, sha256=file.sha256, git_blob=file.git_blob)
    except ChecksumError as error:
        stamps.pop(file.name, None)
        return FileStatus(file, path, "corrupt", str(error))
    stamps[file.name] = _stamp(file, stat)
    _VERIFIED[seen] = file.checksum
    return FileStatus(file, path, "verified", file.checksum)


def verify_files(
    dataset: Dataset | str, names: Iterable[str] | None = None, root: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Check the files of ``dataset`` named ``names`` (default: all of them) before they are used.

    Files that are not on disk are skipped (the caller says what is missing). For the others
    the size is checked first, for all of them (cheap: a truncated file fails before anything
    is hashed), then the checksum: the sha256, or the git blob id where only that is known.
    A file that passed since it last changed (same size and ``mtime_ns``) is not hashed again:
    the passes are recorded in ``.stgraph-verified.json`` in the dataset folder, and, where
    that cannot be written (a read-only folder; the committed sample), for the rest of the
    process. A file whose checksum the catalog does not know is used, with a warning (once).

    Returns the paths checked. Raises :class:`~stgraph.errors.DataFileError` for the first
    file of the wrong size or checksum: its path, the expected and the found value, and how to
    fetch it again.
    """
    dataset = get_dataset(dataset) if isinstance(dataset, str) else dataset
    folder = dataset.folder(root)
    wanted = None if names is None else set(names)
    files = [(f, folder / f.name) for f in dataset.files if (wanted is None or f.name in wanted) and (folder / f.name).is_file()]
    stamps = {} if dataset.bundled else _read_stamps(folder)
    try:
        for verify in (False, True):  # every size (and record) first, then the hashes
            for file, path in files:
                status = _file_status(file, path, stamps, verify)
                if status.state == "corrupt":
                    detail = status.detail if verify else f"{path}: {status.detail} bytes"
                    raise DataFileError(f"{detail}; {_fetch_again(dataset, file, path, root)}")
    finally:
        if not dataset.bundled:  # the committed folder stays as committed
            _write_stamps(folder, stamps)
    for file, path in files:
        if file.checksum == CHECKSUM_UNKNOWN and path not in _WARNED:
            _WARNED.add(path)
            logger.warning("%s: the catalog knows no checksum for this file of %s; it is used unverified", path, dataset.name)
    return [path for _, path in files]


def _fetch_again(dataset: Dataset, file: DataFile, path: Path, root: str | os.PathLike[str] | None) -> str:
    """How to replace a damaged file: download it again, restore the sample, or place it by hand."""
    if dataset.bundled:
        return "restore the committed sample (git checkout datasets/sample, or python datasets/build_sample.py)"
    if file.url is None:
        return f"place the right file ({file.checksum}) at {path} by hand"
    where = "" if root is None else f" --root {root}"
    return f"fetch it again with `stgraph download {dataset.key}{where} --force`"


def summarize_status(statuses: list[FileStatus]) -> str:
    """One phrase for a dataset: ``verified``, ``not downloaded``, ``2/5 files, 1 corrupt``..."""
    states = [s.state for s in statuses]
    total = len(states)
    if all(s == "verified" for s in states):
        return "verified"
    if all(s == "missing" for s in states):
        return "not downloaded"
    present = sum(s in ("verified", "present") for s in states)
    parts = [f"{present}/{total} files"]
    for state in ("verified", "corrupt", "partial"):
        count = states.count(state)
        if count:
            parts.append(f"{count} {state}")
    return ", ".join(parts)


def fetch_dataset(
    dataset: Dataset | str,
    root: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Download the files of ``dataset`` into ``<root>/<key>``, verifying each one.

    Files already present and verified are kept unless ``force`` (which also discards
    partial downloads). Files that cannot be fetched are collected and reported together in
    one :class:`DownloadError` that says which file to place where by hand; a checksum
    mismatch raises :class:`ChecksumError` at once.

    Returns the paths of the dataset's files.
    """
    dataset = get_dataset(dataset) if isinstance(dataset, str) else dataset
    folder = dataset.folder(root)
    if dataset.bundled:
        missing = [f.name for f in dataset.files if not (folder / f.name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{dataset.name} is committed with the source checkout, not downloaded; missing in {folder}: "
                f"{', '.join(missing)} (run python datasets/build_sample.py in a checkout)"
            )
        return [folder / f.name for f in dataset.files]
    stamps = _read_stamps(folder)
    failures = []
    for file in dataset.files:
        path = folder / file.name
        if force:
            path.with_name(path.name + ".part").unlink(missing_ok=True)
        elif _file_status(file, path, stamps, verify=True).state in ("verified", "present"):
            logger.info("%s: already present", path)
            continue
        if file.url is None:
            failures.append(f"  {path}: no download address; {dataset.obtain or f'place {file.name} there by hand'}")
            continue
        try:
            download(file.url, path, sha256=file.sha256, git_blob=file.git_blob, size=file.size, progress=progress)
        except DownloadError as error:
            failures.append(f"  {file.name}: {error}")
            continue
        if file.checksum != CHECKSUM_UNKNOWN:
            stamps[file.name] = _stamp(file, path.stat())
            _write_stamps(folder, stamps)
    _write_stamps(folder, stamps)
    if failures:
        raise DownloadError(
            f"{dataset.name}: {len(failures)} of {len(dataset.files)} files could not be downloaded into {folder}:\n"
            + "\n".join(failures)
        )
    return [folder / f.name for f in dataset.files]


def _stamp(file: DataFile, stat: os.stat_result) -> dict[str, Any]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "checksum": file.checksum}


def _read_stamps(folder: Path) -> dict[str, dict[str, Any]]:
    """File name -> the size, mtime and checksum it had when it was last verified."""
    try:
        stamps: dict[str, dict[str, Any]] = json.loads((folder / _STAMP).read_text())
        return stamps
    except (OSError, ValueError):
        return {}


def _write_stamps(folder: Path, stamps: dict[str, dict[str, Any]]) -> None:
    """Record ``stamps`` in ``folder``, unless it is read-only: not writable by this user, or
    with no write permission for anyone (a shared data folder; root ignores permissions)."""
    if not folder.is_dir() or stamps == _read_stamps(folder):
        return
    if not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222:
        logger.debug("%s is read-only: verified files are remembered for this process only", folder)
        return
    try:
        with atomic_write(folder / _STAMP) as handle:
            json.dump(stamps, handle, indent=1, sort_keys=True)
    except OSError as error:  # a read-only data folder: statuses are just not remembered
        logger.debug("could not record verified files in %s: %s", folder, error)
