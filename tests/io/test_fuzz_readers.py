"""Property-based: random, near-valid and byte-mutated readings files load or raise stgraph's errors.

Nothing else may escape: no pandas, NumPy, PyArrow, PyTables, zip or gzip exception, and no
crash. Deterministic (``derandomize=True``) so that CI sees the same examples every run; the
longer random run is ``python -m benchmarks.fuzz``.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stgraph import errors
from stgraph.data import load_series

OURS = (errors.SensorDataError, errors.GraphError, errors.ShapeError, errors.ConfigError, errors.RunError)
FUZZ = settings(
    deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
_names = itertools.count()


def load_or_our_error(path, **options):
    """Load ``path``; an stgraph error is a fine answer, anything else fails the test."""
    with contextlib.suppress(OURS):
        load_series(path, **options)


# --- text ------------------------------------------------------------------------------------
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 500).map(str),
    st.sampled_from(["", "nan", "NaN", "n/a", "-", "True", "false", "2012-03-01", "1e999", " 3.5", '"4"', '"', "1,2", "\t"]),
)
TIMES = st.one_of(
    st.integers(0, 40).map(lambda i: str(pd.Timestamp("2012-03-01") + pd.Timedelta(minutes=5 * i))),
    st.sampled_from(["2012-03-01 00:00+01:00", "2012-03-01T00:05Z", "yesterday", "", "1", "2012-13-45"]),
)


@st.composite
def near_valid_csv(draw):
    sensors = draw(st.integers(1, 4))
    names = st.sampled_from(["s1", "s2", "717447", "sensor", "value", "", "time", "Unnamed: 0"])
    header = ["timestamp", *draw(st.lists(names, min_size=sensors, max_size=sensors))]
    lines = [",".join(header)]
    for step in range(draw(st.integers(0, 8))):
        width = draw(st.sampled_from([sensors, sensors, sensors, sensors - 1, sensors + 1]))
        time = str(pd.Timestamp("2012-03-01") + pd.Timedelta(minutes=5 * step)) if draw(st.booleans()) else draw(TIMES)
        lines.append(",".join([time] + [draw(CELLS) for _ in range(max(width, 0))]))
    if draw(st.booleans()):  # one text mutation: delete, insert or duplicate
        text = "\n".join(lines)
        where = draw(st.integers(0, len(text)))
        insert = draw(st.sampled_from(["", ",", "\n", '"', "\r", "\xe9", "\x00", "\n\n", "-"]))
        text = text[:where] + insert + text[where + draw(st.integers(0, 2)) :]
        return text + draw(st.sampled_from(["\n", "", "\n\n"]))
    return "\n".join(lines) + "\n"


@settings(FUZZ, max_examples=150)
@given(text=near_valid_csv(), dated=st.booleans())
def test_near_valid_csv(tmp_path, text, dated):
    path = tmp_path / f"near{next(_names)}.csv"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    load_or_our_error(path, **({"start": "2012-03-01", "interval": "5min"} if dated else {}))


@settings(FUZZ, max_examples=100)
@given(data=st.binary(max_size=300) | st.text(alphabet=',\n\r"0123456789.-:+ eTZnaINF', max_size=300).map(str.encode))
def test_random_csv_bytes(tmp_path, data):
    path = tmp_path / f"random{next(_names)}.csv"
    path.write_bytes(data)
    load_or_our_error(path, start="2012-03-01", interval="5min")


# --- byte-mutated binary files -------------------------------------------------------------------
def _table():
    index = pd.date_range("2012-03-01", periods=6, freq="5min")
    return pd.DataFrame(np.arange(12.0).reshape(6, 2) + 50, index=index, columns=["773869", "767541"])


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory):
    """One small valid file per format, as bytes."""
    folder = tmp_path_factory.mktemp("valid")
    _table().to_parquet(folder / "ok.parquet")
    _table().to_hdf(folder / "ok.h5", key="df")
    np.savez(folder / "ok.npz", data=np.ones((6, 3, 2)))
    (folder / "ok.csv.gz").write_bytes(gzip.compress(_table().to_csv().encode()))
    (folder / "ok.json").write_text(json.dumps({str(t): [[50.0 + t, t / 288], [40.0, t / 288]] for t in range(6)}))
    files = {path.name.split(".", 1)[1]: path.read_bytes() for path in folder.iterdir()}
    for suffix, data in files.items():  # the seeds themselves load
        (folder / f"seed.{suffix}").write_bytes(data)
        load_series(
            folder / f"seed.{suffix}", start=None if suffix in ("parquet", "h5", "csv.gz") else "2012-03-01", interval="5min"
        )
    return files


MUTATIONS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6)


def mutate(data, flips, cut):
    out = bytearray(data)
    for where, value in flips:
        out[int(where * len(out))] = value
    return bytes(out[: max(1, int(cut * len(out)))]) if cut < 1 else bytes(out)


def check_mutated(folder, suffix, data):
    path = folder / f"mutated{next(_names)}.{suffix}"
    path.write_bytes(data)
    load_or_our_error(path, **({} if suffix in ("parquet", "h5", "csv.gz") else {"start": "2012-03-01", "interval": "5min"}))


CUT = st.one_of(st.just(1.0), st.floats(0, 1))


@pytest.mark.parametrize(("suffix", "examples"), [("parquet", 40), ("npz", 40), ("csv.gz", 40), ("json", 40), ("h5", 8)])
def test_mutated_binary_files(valid_files, tmp_path, suffix, examples):
    @settings(FUZZ, max_examples=examples)
    @given(flips=MUTATIONS, cut=CUT)
    def check(flips, cut):
        check_mutated(tmp_path, suffix, mutate(valid_files[suffix], flips, cut))

    check()
