"""The benchmarks' default data root: $STGRAPH_DATA, else ../shared/data when present, else the library's."""

from benchmarks import data_root
from stgraph.io.paths import data_root as library_data_root


def test_stgraph_data_comes_first(monkeypatch, tmp_path):
    monkeypatch.setenv("STGRAPH_DATA", str(tmp_path / "mine"))
    monkeypatch.setattr(data_root, "SHARED_DATA", tmp_path)
    assert data_root.default_data_root() == tmp_path / "mine"


def test_shared_folder_when_present_else_the_library_rule(monkeypatch, tmp_path):
    monkeypatch.delenv("STGRAPH_DATA", raising=False)
    monkeypatch.setattr(data_root, "SHARED_DATA", tmp_path)
    assert data_root.default_data_root() == tmp_path
    monkeypatch.setattr(data_root, "SHARED_DATA", tmp_path / "absent")
    assert data_root.default_data_root() == library_data_root()
