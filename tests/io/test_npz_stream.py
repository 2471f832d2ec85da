"""NpzSpool writes an ordinary .npz from blocks of rows; iter_npz_rows reads it back a block at a time."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from stgraph.errors import ShapeError
from stgraph.io.npz_stream import NpzSpool, iter_npz_rows, npz_shapes


def _blocks(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Uneven blocks of a float32 [rows, 3, 2] array and a bool [rows, 3] one."""
    return [(rng.normal(size=(n, 3, 2)).astype(np.float32), rng.random((n, 3)) < 0.5) for n in (4, 1, 7)]


def test_blocks_and_whole_arrays_load_with_numpy_exactly(tmp_path):
    blocks = _blocks(np.random.default_rng(0))
    path = tmp_path / "p.npz"
    with NpzSpool(path) as spool:
        for values, mask in blocks:
            spool.append("values", values)
            spool.append("mask", mask)
        spool.put("ids", np.asarray(["a", "b", "c"]))
        spool.put("step", np.asarray(300, dtype=np.int64))
        assert spool.rows("values") == 12 and spool.rows("absent") == 0
        assert spool.commit() == path
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["values"], np.concatenate([v for v, _ in blocks]))
        np.testing.assert_array_equal(data["mask"], np.concatenate([m for _, m in blocks]))
        assert data["mask"].dtype == bool and data["values"].dtype == np.float32
        assert data["ids"].tolist() == ["a", "b", "c"] and int(data["step"]) == 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]  # spool and temp file gone
    with zipfile.ZipFile(path) as archive:
        assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    assert npz_shapes(path)["values"] == ((12, 3, 2), np.dtype(np.float32))


def test_rows_come_back_in_aligned_blocks_up_to_stop(tmp_path):
    values = np.arange(10 * 4, dtype=np.float32).reshape(10, 4)
    mask = values % 3 == 0
    np.savez_compressed(tmp_path / "plain.npz", values=values, mask=mask)  # any .npz, not only NpzSpool's
    blocks = list(iter_npz_rows(tmp_path / "plain.npz", ["values", "mask"], rows=4))
    assert [len(b["values"]) for b in blocks] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b["values"] for b in blocks]), values)
    np.testing.assert_array_equal(np.concatenate([b["mask"] for b in blocks]), mask)
    head = list(iter_npz_rows(tmp_path / "plain.npz", ["mask"], rows=4, stop=5))
    assert [len(b["mask"]) for b in head] == [4, 1]
    np.testing.assert_array_equal(np.concatenate([b["mask"] for b in head]), mask[:5])


def test_an_error_inside_the_block_leaves_the_old_file_and_no_spool(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, values=np.ones(2))
    with pytest.raises(RuntimeError, match="stop"), NpzSpool(path) as spool:
        spool.append("values", np.zeros((3, 2)))
        raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.npz"]
    with np.load(path) as data:
        np.testing.assert_array_equal(data["values"], np.ones(2))


def test_blocks_of_another_row_shape_or_dtype_are_refused(tmp_path):
    with NpzSpool(tmp_path / "p.npz") as spool:
        spool.append("values", np.zeros((2, 3), dtype=np.float32))
        with pytest.raises(ShapeError, match=r"p\.npz: blocks of 'values' must be rows of \[3\] float32; got \[4\] float32"):
            spool.append("values", np.zeros((2, 4), dtype=np.float32))
        with pytest.raises(ShapeError, match="got \\[3\\] float64"):
            spool.append("values", np.zeros((2, 3)))
        with pytest.raises(ShapeError, match="'values' is being appended to"):
            spool.put("values", np.zeros(3))
        spool.put("ids", np.zeros(3))
        with pytest.raises(ShapeError, match="'ids' was given whole"):
            spool.append("ids", np.zeros((1, 3)))


def test_misaligned_missing_or_truncated_members_are_named(tmp_path):
    np.savez(tmp_path / "a.npz", values=np.zeros((5, 2)), other=np.zeros(3))
    with pytest.raises(ShapeError, match="values, other do not share one first axis"):
        list(iter_npz_rows(tmp_path / "a.npz", ["values", "other"], rows=2))
    with pytest.raises(KeyError, match=r"a\.npz has no 'mask'"):
        list(iter_npz_rows(tmp_path / "a.npz", ["values", "mask"], rows=2))
    # a member whose header promises more rows than it holds
    with zipfile.ZipFile(tmp_path / "short.npz", "w") as archive, archive.open("values.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (6, 2)})
        member.write(np.zeros((3, 2), dtype=np.float32).tobytes())
    with pytest.raises(ShapeError, match=r"short\.npz: member 'values' ends early"):
        list(iter_npz_rows(tmp_path / "short.npz", ["values"], rows=4))
