"""check_output / check_not_input: an output is never an input (by path, link or inode),
never inside an input folder, never an existing file without ``force``."""

from __future__ import annotations

import os

import pytest

from stgraph.io.outputs import OutputError, check_not_input, check_output, same_file


def test_same_file_by_path_link_and_inode(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x")
    os.symlink(a, tmp_path / "soft.csv")
    os.link(a, tmp_path / "hard.csv")
    (tmp_path / "copy.csv").write_text("x")
    assert same_file(a, tmp_path / "sub" / ".." / "a.csv")
    assert same_file(a, tmp_path / "soft.csv") and same_file(tmp_path / "hard.csv", a)
    assert not same_file(a, tmp_path / "copy.csv")
    assert not same_file(a, tmp_path / "absent.csv")
    assert same_file(tmp_path / "absent.csv", tmp_path / "absent.csv")  # neither exists yet


def test_output_that_is_an_input_names_both(tmp_path):
    readings = tmp_path / "R.csv"
    readings.write_text("x")
    with pytest.raises(OutputError, match=r"^--out .*R\.csv is the input --readings .*R\.csv; .*nothing was written"):
        check_output(readings, inputs={"--readings": readings, "--sensors": None}, force=True)


def test_output_inside_an_input_folder(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(OutputError, match=r"--out .*model\.pt is inside RUN_DIR .*run, which this command reads"):
        check_not_input(run / "model.pt", {"RUN_DIR": run})
    os.symlink(run, tmp_path / "alias")
    with pytest.raises(OutputError, match="is inside RUN_DIR"):
        check_not_input(tmp_path / "alias" / "plots" / "x.csv", {"RUN_DIR": run})
    assert check_not_input(tmp_path / "run-forecast.csv", {"RUN_DIR": run}) == tmp_path / "run-forecast.csv"


def test_repeated_flags_as_pairs(tmp_path):
    second = tmp_path / "b.yaml"
    second.write_text("x")
    with pytest.raises(OutputError, match=r"is the input --config .*b\.yaml"):
        check_not_input(second, [("--config", tmp_path / "a.yaml"), ("--config", second)])


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "g.npz"
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match=r"^--out .*g\.npz exists; pass --force to replace it$"):
        check_output(out)
    assert check_output(out, force=True) == out
    assert check_output(tmp_path / "new" / "g.npz") == tmp_path / "new" / "g.npz"  # folders are made on writing


def test_folders_and_files_in_the_way(tmp_path):
    with pytest.raises(OutputError, match="is a folder; give a file name"):
        check_output(tmp_path, force=True)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match=r"cannot write .*plain/g\.npz: .*plain is a file, not a folder"):
        check_output(tmp_path / "plain" / "g.npz")


def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("permissions are not enforced here (running as root)")
        with pytest.raises(OutputError, match=r"cannot write .*ro/g\.npz: permission denied \(folder .*ro is not writable\)"):
            check_output(folder / "g.npz")
    finally:
        folder.chmod(0o700)
