"""The restricted unpickler admits numpy arrays and builtins, and nothing that runs code."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest

from stgraph.io.safe_pickle import UnsafePickleError, load_pickle


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_numpy_and_builtins_round_trip(tmp_path, protocol):
    content = (
        ["773869", "767541"],
        {"773869": 0, "767541": 1},
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array([1, 2], dtype=np.int64),
        np.float64(2.5),
        {1.5, 2},
        b"bytes",
    )
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(content, protocol=protocol))
    loaded = load_pickle(path)
    assert loaded[0] == content[0] and loaded[1] == content[1]
    np.testing.assert_array_equal(loaded[2], content[2])
    assert loaded[2].dtype == np.float32 and loaded[3].dtype == np.int64
    assert loaded[4] == 2.5 and loaded[5] == {1.5, 2} and loaded[6] == b"bytes"


class _Reduce:
    def __init__(self, call, args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda marker: _Reduce(os.system, (f"touch {marker}",)), r"(posix|nt|os)\.system"),
        (lambda marker: _Reduce(builtins.eval, (f"open({str(marker)!r}, 'w')",)), r"(builtins|__builtin__)\.eval"),
        (
            lambda marker: _Reduce(subprocess.call, (["touch", str(marker)],)),
            r"(subprocess|commands)\.call",
        ),  # protocol 2 renames the module
        (lambda marker: _Reduce(builtins.getattr, ("", "join")), r"(builtins|__builtin__)\.getattr"),
    ],
)
def test_code_execution_is_refused_before_it_runs(tmp_path, make, name):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps([np.eye(2), make(marker)], protocol=2))
    with pytest.raises(UnsafePickleError, match=rf"evil\.pkl: refused to load global {name}"):
        load_pickle(path)
    assert not marker.exists()


def test_truncated_pickle_is_an_unpickling_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(np.eye(3), protocol=2)[:40])
    with pytest.raises((pickle.UnpicklingError, EOFError)):
        load_pickle(path)


def test_python2_dcrnn_pickle(shared_data):
    ids, id_to_index, adjacency = load_pickle(shared_data / "metr-la-graph" / "adj_mx.pkl")
    assert len(ids) == 207 and isinstance(ids[0], str)
    assert id_to_index[ids[5]] == 5
    assert adjacency.shape == (207, 207) and adjacency.dtype == np.float32
    assert np.count_nonzero(adjacency) == 1722
