import os
import stat

import pytest

from stgraph.io.atomic import atomic_path, atomic_write


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]  # no temp left
    with atomic_write(target) as f:
        f.write("new")
    assert target.read_text() == "new"


def test_atomic_path_gives_plain_file_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "graph.npz", suffix=".npz") as tmp:
            assert tmp.name.endswith(".npz") and tmp.parent == tmp_path
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "graph.npz").stat().st_mode) == 0o644


def test_atomic_write_rejects_read_mode(tmp_path):
    with pytest.raises(ValueError, match="write mode"), atomic_write(tmp_path / "x", mode="r"):
        pass
