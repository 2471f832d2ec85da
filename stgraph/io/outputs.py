"""Checks before a command writes a file: never onto one of its inputs, never over an existing
file unless asked.

Every ``stgraph`` command that writes calls :func:`check_output` (or :func:`check_not_input`)
before any work, so a mistake such as ``stgraph graph --locations L.csv --out L.csv`` fails
at once, naming both files, and the input stays byte-for-byte as it was. The write itself
stays atomic (:mod:`stgraph.io.atomic`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["OutputError", "check_not_input", "check_output", "same_file"]

PathLike = str | os.PathLike[str]
#: what a command reads, by the flag it came from: ``{"--locations": "L.csv"}`` or pairs
#: ``[("--config", "a.yaml"), ("--config", "b.yaml")]``; ``None`` paths are skipped
Inputs = Mapping[str, PathLike | None] | Iterable[tuple[str, PathLike | None]]


class OutputError(ValueError):
    """An output path cannot be used as asked: it is an input, lies in an input folder, exists
    (without ``--force``), is a folder, or its folder is not writable."""


def same_file(first: PathLike, second: PathLike) -> bool:
    """Whether two paths name the same file: the same resolved path (symbolic links followed),
    or, when both exist, the same file on disk (``os.path.samefile``: hard links too)."""
    a, b = Path(first).expanduser(), Path(second).expanduser()
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (or cannot be looked at): not the same file
        return False


def _inside(path: PathLike, folder: PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies somewhere below it (resolved paths)."""
    resolved, root = Path(path).expanduser().resolve(), Path(folder).expanduser().resolve()
    if resolved == root or root in resolved.parents:
        return True
    try:  # the same folder under another name (a bind mount, a hard-linked path component)
        return any(os.path.samefile(parent, folder) for parent in (resolved, *resolved.parents) if parent.exists())
    except OSError:
        return False


def check_not_input(path: PathLike, inputs: Inputs, *, flag: str = "--out") -> Path:
    """Refuse ``path`` if it is one of ``inputs`` or lies inside one that is a folder.

    Args:
        path: the output, as the user gave it.
        inputs: what the command reads, by the flag (or argument name) it came from, e.g.
            ``{"--locations": "L.csv", "RUN_DIR": "runs/x"}`` or a list of such pairs;
            ``None`` paths are skipped.
        flag: the option that named ``path``, for the message.

    Raises:
        OutputError: naming both, e.g. ``--out L.csv is the input --locations L.csv; ...``.
    """
    out = Path(path)
    pairs = inputs.items() if isinstance(inputs, Mapping) else inputs
    for name, source in pairs:
        if source is None:
            continue
        if Path(source).expanduser().is_dir():
            if _inside(out, source):
                raise OutputError(
                    f"{flag} {out} is inside {name} {source}, which this command reads; "
                    f"choose an {flag} outside it (nothing was written)"
                )
        elif same_file(out, source):
            raise OutputError(
                f"{flag} {out} is the input {name} {source}; writing there would replace it. "
                f"Choose another {flag} (nothing was written)"
            )
    return out


def check_output(path: PathLike, *, inputs: Inputs = (), force: bool = False, flag: str = "--out") -> Path:
    """Check that a command may write the file ``path``, before it does any work.

    Refuses, with one :class:`OutputError` line naming ``path``: an input (:func:`check_not_input`),
    an existing folder, an existing file unless ``force``, and a folder that exists but cannot be
    written to. Missing folders are fine (the atomic writer creates them).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    out = check_not_input(path, inputs, flag=flag)
    if out.is_dir():
        raise OutputError(f"{flag} {out} is a folder; give a file name")
    if out.exists() and not force:
        raise OutputError(f"{flag} {out} exists; pass --force to replace it")
    parent = next((p for p in out.expanduser().absolute().parents if p.exists()), None)
    if parent is not None:
        if not parent.is_dir():
            raise OutputError(f"cannot write {out}: {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {out}: permission denied (folder {parent} is not writable)")
    return out
