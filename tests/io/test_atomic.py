import errno
import os
import stat

import pytest

from stgraph.io.atomic import WriteError, atomic_path, atomic_write


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


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_target_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    monkeypatch.setattr(os, "fsync", _disk_full)
    with pytest.raises(WriteError) as error_info, atomic_write(target) as f:
        f.write("new")
    error = error_info.value
    assert str(error) == f"cannot write {target}: No space left on device"
    assert error.errno == errno.ENOSPC and error.filename == str(target) and isinstance(error, OSError)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_an_oserror_of_the_writer_names_the_target_not_the_temporary_file(tmp_path):
    target = tmp_path / "graph.npz"
    with pytest.raises(WriteError, match=r"^cannot write .*graph\.npz: No space left on device$"), atomic_path(target) as tmp:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_a_write_error(tmp_path):
    (tmp_path / "plots").write_text("a file where the folder should be")
    with pytest.raises(WriteError, match=r"cannot write .*plots/map\.png: "), atomic_write(tmp_path / "plots" / "map.png"):
        pass


def test_other_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(KeyError), atomic_write(tmp_path / "x") as f:
        f.write("half")
        raise KeyError("not an OSError")
    assert list(tmp_path.iterdir()) == []
