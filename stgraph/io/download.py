"""Checked, resumable downloads.

:func:`download` streams a URL into ``<target>.part`` beside the target, verifies the bytes
(sha256, or the git blob id where only that is known), and only then moves the file into
place with ``os.replace``. So the target path only ever holds a complete, verified file:

- a connection cut halfway leaves ``<target>.part``; the next call resumes it with an HTTP
  ``Range`` request (or starts over when the server answers ``200`` instead of ``206``);
- a checksum mismatch deletes the ``.part`` file and raises :class:`ChecksumError` naming the
  expected and the actual digest;
- when the server cannot be reached, :class:`DownloadError` says which file to place where
  by hand.

The git blob id of a file is ``sha1(b"blob <size>\\0" + content)``, what ``git hash-object
FILE`` prints; public repositories expose it for every file they hold.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

from stgraph.errors import DataFileError

__all__ = ["ChecksumError", "DownloadError", "download", "file_digest", "verify_file"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


class ChecksumError(DataFileError):
    """A file's sha256 or git blob id differs from the expected one (a
    :class:`~stgraph.errors.SensorDataError`)."""


class DownloadError(OSError):
    """A download could not be completed (unreachable server, HTTP error, cut connection)."""


def file_digest(path: str | os.PathLike[str], kind: str = "sha256") -> str:
    """Hex digest of a file: ``kind="sha256"``, or ``kind="git_blob"`` for git's blob id."""
    path = Path(path)
    if kind == "sha256":
        digest = hashlib.sha256()
    elif kind == "git_blob":
        digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    else:
        raise ValueError(f"unknown digest kind {kind!r}; expected 'sha256' or 'git_blob'")
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: str | os.PathLike[str], *, sha256: str | None = None, git_blob: str | None = None) -> str | None:
    """Check ``path`` against ``sha256`` (preferred) or ``git_blob``.

    Returns the kind checked (``"sha256"`` / ``"git_blob"``), or ``None`` when no checksum
    is known. Raises :class:`ChecksumError` naming the file, the expected and the actual digest.
    """
    for kind, expected in (("sha256", sha256), ("git_blob", git_blob)):
        if expected:
            actual = file_digest(path, kind)
            if actual != expected.lower():
                raise ChecksumError(f"{path}: {kind} mismatch: expected {expected.lower()}, got {actual}")
            return kind
    return None


def download(
    url: str,
    target: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    git_blob: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> Path:
    """Download ``url`` to ``target``, resuming a previous ``.part`` file, verified before use.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        target: final path; its folder is created. An existing target is replaced only by a
            verified download (use :func:`verify_file` to check a file already there).
        sha256, git_blob: expected digest; with neither, the file is moved into place
            unverified and a warning is logged.
        size: expected size in bytes, if known: a ``.part`` of that size is verified without
            contacting the server, and a larger one is discarded.
        progress: show a tqdm progress bar.
        timeout: seconds to wait for the server on connect and on each read.

    Returns the target path. Raises :class:`DownloadError` (network) or
    :class:`ChecksumError` (wrong bytes; the ``.part`` file is deleted).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        logger.info("%s is larger than the expected %d bytes; starting over", part, size)
        part.unlink()
        offset = 0
    if size is None or offset < size:
        _fetch(url, part, offset, target, sha256=sha256, git_blob=git_blob, progress=progress, timeout=timeout)
    try:
        checked = verify_file(part, sha256=sha256, git_blob=git_blob)
    except ChecksumError as error:
        part.unlink(missing_ok=True)
        expected = f"sha256 {sha256}" if sha256 else f"git blob {git_blob}"
        raise ChecksumError(
            f"{url}: the downloaded file does not match the catalog ({error}); removed {part}. "
            f"The server may hold a different file; place the right file ({expected}) at {target} by hand"
        ) from None
    if checked is None:
        logger.warning("%s: no checksum is known yet; the file was not verified", target)
    os.replace(part, target)
    return target


def _fetch(
    url: str,
    part: Path,
    offset: int,
    target: Path,
    *,
    sha256: str | None,
    git_blob: str | None,
    progress: bool,
    timeout: float,
) -> None:
    """Append the bytes from ``offset`` onwards to ``part`` (or rewrite it if the server
    ignores the range)."""
    request = urllib.request.Request(url, headers={"User-Agent": "stgraph"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            return  # the .part already holds the whole file: verify it
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}. {_by_hand(url, target, sha256, git_blob)}") from None
    except (urllib.error.URLError, OSError, HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"could not reach {url} ({reason}). {_by_hand(url, target, sha256, git_blob)}") from None
    with response:
        status = getattr(response, "status", 200)
        if offset and status == 206 and _range_start(response.headers.get("Content-Range")) == offset:
            mode = "ab"
        else:
            if offset:
                logger.info("%s: the server does not resume (HTTP %s); starting over", url, status)
            mode, offset = "wb", 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        bar = tqdm(
            total=None if expected is None else offset + expected,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=target.name,
            disable=not progress,
        )
        try:
            with bar, open(part, mode) as handle:
                while chunk := response.read(_CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
        except (TimeoutError, OSError, HTTPException) as error:
            raise DownloadError(
                f"{url}: connection lost after {offset + received} bytes ({error}); the partial download "
                f"is kept at {part}: run the download again to resume it"
            ) from None
    if expected is not None and received < expected:
        raise DownloadError(
            f"{url}: connection closed after {offset + received} of {offset + expected} bytes; the partial "
            f"download is kept at {part}: run the download again to resume it"
        )


def _range_start(content_range: str | None) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header."""
    match = re.match(r"bytes (\d+)-", content_range or "")
    return int(match.group(1)) if match else None


def _by_hand(url: str, target: Path, sha256: str | None, git_blob: str | None) -> str:
    if sha256:
        check = f"; it should have sha256 {sha256}"
    elif git_blob:
        check = f"; it should have git blob id {git_blob} (`git hash-object FILE` prints it)"
    else:
        check = ""
    return f"Download {url} by hand and place it at {target}{check}."
