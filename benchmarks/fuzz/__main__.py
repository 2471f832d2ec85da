"""Fuzz the readings readers: every file must load or raise one of stgraph's errors.

    python -m benchmarks.fuzz --csv 1000 --mutated 600 --seed 0

Feeds ``load_series`` random and near-valid CSV text (``--csv`` files) and byte-mutated or
truncated copies of small valid Parquet, HDF5, NPZ, csv.gz and JSON files (``--mutated`` files,
split evenly across the formats), and counts the exceptions that are *not* stgraph's own
(``stgraph.errors``, all ValueErrors): each is a reader bug. "crash caught" counts HDF5 files
on which PyTables crashed inside the reader's checking subprocess (reported as errors). A crash (segfault) would end the
run; HDF5 files are opened by PyTables only after the reader's subprocess check. Prints the
machine, the counts per format and the first example of each foreign exception. The exit status
is 1 when any foreign exception was seen. The quick deterministic version of this runs in CI:
``tests/io/test_fuzz_readers.py``.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import platform
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from stgraph import errors
from stgraph.data import load_series

OURS = (errors.SensorDataError, errors.GraphError, errors.ShapeError, errors.ConfigError, errors.RunError)
CELLS = ["", "nan", "NaN", "n/a", "-", "True", "false", "2012-03-01", "1e999", "inf", "-1", " 3.5", '"4"', '"', "1,2", "\t", "0"]
ODD_TIMES = ["2012-03-01 00:00+01:00", "2012-03-01T00:05Z", "yesterday", "", "1", "2012-13-45", "2012-03-01 00:02"]
INSERTS = ["", ",", "\n", '"', "\r", "\xe9", "\x00", "\n\n", "-", "e", ":"]
ALPHABET = ',\n\r"0123456789.-:+ eTZnaINF'
DATED = {"start": "2012-03-01", "interval": "5min"}


def near_valid_csv(rng: random.Random) -> str:
    sensors = rng.randint(1, 4)
    header = ["timestamp", *(rng.choice(["s1", "s2", "717447", "sensor", "value", "", "time"]) for _ in range(sensors))]
    if rng.random() < 0.3:  # no timestamp column (Los-loop), dated by start= and interval=
        header = [f"s{i}" for i in range(sensors)]
    lines = [",".join(header)]
    for step in range(rng.randint(0, 10)):
        width = sensors if rng.random() < 0.97 else rng.choice([sensors - 1, sensors + 1])
        time = str(pd.Timestamp("2012-03-01") + pd.Timedelta(minutes=5 * step)) if rng.random() < 0.95 else rng.choice(ODD_TIMES)
        cells = [repr(rng.uniform(0, 100)) if rng.random() < 0.97 else rng.choice(CELLS) for _ in range(max(width, 0))]
        lines.append(",".join([time, *cells] if header[0] == "timestamp" else cells))
    text = "\n".join(lines) + "\n"
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        where = rng.randint(0, len(text))
        text = text[:where] + rng.choice(INSERTS) + text[where + rng.randint(0, 2) :]
    return text


def random_csv(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 300))).encode()


def valid_files(folder: Path) -> dict[str, bytes]:
    index = pd.date_range("2012-03-01", periods=12, freq="5min")
    table = pd.DataFrame(np.arange(36.0).reshape(12, 3) + 40, index=index, columns=["773869", "767541", "767542"])
    table.to_parquet(folder / "ok.parquet")
    table.to_hdf(folder / "ok.h5", key="df")
    np.savez(folder / "ok.npz", data=np.ones((12, 3, 2)))
    (folder / "ok.csv.gz").write_bytes(gzip.compress(table.to_csv().encode()))
    (folder / "ok.json").write_text(json.dumps({str(t): [[50.0 + t, t / 288]] * 3 for t in range(12)}))
    return {path.name.split(".", 1)[1]: path.read_bytes() for path in folder.iterdir()}


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    if rng.random() < 0.25:
        out = out[: rng.randint(1, len(out))]
    return bytes(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=int, default=1000, help="random and near-valid CSV files (default 1000)")
    parser.add_argument("--mutated", type=int, default=600, help="byte-mutated binary/compressed files (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} python {platform.python_version()}")
    print(f"pandas {pd.__version__}, numpy {np.__version__}; seed {args.seed}")
    rng = random.Random(args.seed)
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    foreign: dict[str, str] = {}
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        seeds = valid_files(folder)
        jobs = [
            ("csv", near_valid_csv(rng).encode("utf-8", "surrogatepass") if i % 2 else random_csv(rng)) for i in range(args.csv)
        ]
        formats = sorted(seeds)
        jobs += [(formats[i % len(formats)], mutate(rng, seeds[formats[i % len(formats)]])) for i in range(args.mutated)]
        for number, (suffix, data) in enumerate(jobs):
            path = folder / f"case{number}.{suffix}"
            path.write_bytes(data)
            dated = suffix in ("npz", "json") or (suffix == "csv" and not data.startswith(b"timestamp"))
            options = DATED if dated else {}
            try:
                load_series(path, **options)
                counts[suffix, "loaded"] += 1
            except OURS as error:
                counts[suffix, "stgraph error"] += 1
                if "crashed" in str(error):
                    counts[suffix, "crash caught"] += 1
                if os.environ.get("FUZZ_SHOW"):
                    print(suffix, str(error).replace(str(folder), "")[:150])
            except Exception as error:  # counting them is the point
                counts[suffix, "FOREIGN"] += 1
                name = f"{type(error).__module__}.{type(error).__name__}"
                if name not in foreign:
                    saved = Path("fuzz-failures") / f"{len(foreign)}.{suffix}"
                    saved.parent.mkdir(exist_ok=True)
                    saved.write_bytes(data)
                    foreign[name] = f"{saved}: {str(error)[:200]!r}\n{traceback.format_exc(limit=-3)}"
            path.unlink()
    seconds = time.perf_counter() - began
    total = sum(n for (_, what), n in counts.items() if what != "crash caught")
    print(f"{total} files in {seconds:.0f} s")
    for suffix in sorted({s for s, _ in counts}):
        row = ", ".join(f"{what} {counts[suffix, what]}" for what in ("loaded", "stgraph error", "crash caught", "FOREIGN"))
        print(f"  {suffix:8s} {row}")
    outside = sum(n for (_, what), n in counts.items() if what == "FOREIGN")
    print(f"exceptions outside stgraph's errors: {outside}")
    for name, example in foreign.items():
        print(f"--- {name}: {example}")
    return 1 if outside else 0


if __name__ == "__main__":
    sys.exit(main())
