"""Build the committed sample ``datasets/sample/`` from the real data in ``../shared/data``.

    python datasets/build_sample.py [--source ../shared/data] [--output datasets/sample]
    python datasets/build_sample.py --request-only   # request.json alone, from the committed readings

Every source file is checked against its sha256 before it is read. The output is
deterministic: the same sources give the same bytes (gzip with mtime 0, zip entries with a
fixed date), so a rebuild shows no diff. Readings are copied as the source text, never
re-formatted, so values stay exact.

Outputs (about 0.8 MB):
    readings.csv.gz        Los-loop: 2016 steps x 207 METR-LA sensors, with a timestamp column
    sensor_locations.csv   sensor_id, latitude, longitude (DCRNN), in node order
    adjacency.npz          DCRNN adj_mx (207 x 207, 1722 non-zeros) in scipy.sparse CSR layout
    metr-la-raw100.csv.gz  first 100 raw METR-LA steps with their genuine zeros (missing)
    request.json           a POST /forecast body for ``stgraph serve``: the last 12 steps of readings.csv.gz
    README.md              provenance, checksums, licence and citation
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from stgraph.io.atomic import atomic_write
from stgraph.io.safe_pickle import load_pickle

HERE = Path(__file__).resolve().parent
START = np.datetime64("2012-03-01T00:00")
INTERVAL = np.timedelta64(5, "m")
MAX_BYTES = 1_000_000

# sha256 from ../shared/data/README.md
SOURCES = {
    "los-loop/los_speed.csv": "7b732d86ae32b2930595becba28aff39dacbfb2197e250fc0332e1744ce2cbf4",
    "metr-la-graph/graph_sensor_ids.txt": "3ba026caa2e6263ab0ea54b0fa1b125dbfa7216544cd05313b555e826292b990",
    "metr-la-graph/graph_sensor_locations.csv": "eb8ea96e07358b45d0e4ba3b89c2673fa20c54af50150249e627389e749ade6f",
    "metr-la-graph/adj_mx.pkl": "a35687c6e15aa228dc45027b0ed2a0ea0f4ec78f573deb992c595092d12f61b3",
    "metr-la-sample100/METRLA.json": "0a0d828d5e89a38222ffba5f78bd8add9d8ca0d88e5d4ca5149462c259f958b4",
}


def verified_bytes(source: Path, relative: str) -> bytes:
    """The bytes of ``source/relative``, after checking their sha256."""
    path = source / relative
    if not path.is_file():
        raise SystemExit(f"build_sample: missing source file {path}")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != SOURCES[relative]:
        raise SystemExit(f"build_sample: {path}: sha256 mismatch: expected {SOURCES[relative]}, got {actual}")
    return data


def timestamps(steps: int) -> list[str]:
    times = START + INTERVAL * np.arange(steps)
    return [str(t).replace("T", " ") + ":00" for t in times.astype("datetime64[m]")]


def readings_csv(speed_text: str, sensor_ids: list[str]) -> bytes:
    """Los-loop rows prefixed with their timestamps; the value tokens are the source's."""
    lines = speed_text.strip("\n").split("\n")
    header = lines[0].strip().split(",")
    if header != sensor_ids:
        raise SystemExit("build_sample: los_speed.csv columns differ from graph_sensor_ids.txt")
    rows = lines[1:]
    out = ["timestamp," + ",".join(sensor_ids)]
    out += [f"{stamp},{row.strip()}" for stamp, row in zip(timestamps(len(rows)), rows)]
    return ("\n".join(out) + "\n").encode()


def request_json(readings: bytes, steps: int = 12) -> bytes:
    """The README's ``POST /forecast`` body: the last ``steps`` rows of the readings CSV as
    ``{"timestamps", "sensors", "values"}``, timestamps in ISO 8601, values the CSV's tokens
    as JSON numbers (exact), one row per line."""
    lines = readings.decode().strip("\n").split("\n")
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[-steps:]]
    stamps = [row[0].replace(" ", "T") for row in rows]
    for row in rows:
        for token in row[1:]:
            float(token)  # a number, written as the CSV has it
    values = ",\n    ".join("[" + ", ".join(row[1:]) + "]" for row in rows)
    return (
        "{\n"
        f'  "timestamps": {json.dumps(stamps)},\n'
        f'  "sensors": {json.dumps(header[1:])},\n'
        f'  "values": [\n    {values}\n  ]\n'
        "}\n"
    ).encode()


def gzip_deterministic(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def locations_csv(text: str, sensor_ids: list[str]) -> bytes:
    rows = list(csv.DictReader(io.StringIO(text)))
    if [row["sensor_id"] for row in rows] != sensor_ids:
        raise SystemExit("build_sample: graph_sensor_locations.csv rows differ from graph_sensor_ids.txt")
    out = ["sensor_id,latitude,longitude"] + [f"{r['sensor_id']},{r['latitude']},{r['longitude']}" for r in rows]
    return ("\n".join(out) + "\n").encode()


def adjacency_npz(pickle_path: Path, sensor_ids: list[str]) -> bytes:
    """DCRNN's adj_mx as a scipy.sparse CSR ``.npz`` (readable by ``scipy.sparse.load_npz``),
    written with fixed zip dates so that the bytes do not depend on the build time."""
    ids, _, adjacency = load_pickle(pickle_path)
    if list(ids) != sensor_ids:
        raise SystemExit("build_sample: adj_mx.pkl sensor ids differ from graph_sensor_ids.txt")
    matrix = sp.csr_matrix(np.asarray(adjacency, dtype=np.float32))
    matrix.sort_indices()
    arrays = {
        "indices": matrix.indices.astype(np.int32),
        "indptr": matrix.indptr.astype(np.int32),
        "format": np.array("csr"),
        "shape": np.array(matrix.shape, dtype=np.int64),
        "data": matrix.data,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            archive.writestr(entry, member.getvalue())
    return buffer.getvalue()


def raw100_csv(json_text: str, sensor_ids: list[str]) -> bytes:
    """METRLA.json's speeds ``[100, 207]`` as a wide CSV; zeros (missing readings) kept."""
    record = json.loads(json_text)
    steps = int(record["time_periods"])
    rows = []
    for step, stamp in zip(range(steps), timestamps(steps)):
        speeds = [pair[0] for pair in record[str(step)]]
        if len(speeds) != len(sensor_ids):
            raise SystemExit(f"build_sample: METRLA.json step {step} has {len(speeds)} sensors, expected {len(sensor_ids)}")
        rows.append(stamp + "," + ",".join(repr(float(v)) for v in speeds))
    return ("\n".join(["timestamp," + ",".join(sensor_ids), *rows]) + "\n").encode()


README = """\
# Committed sample (built by `datasets/build_sample.py`; do not edit by hand)

Real traffic data small enough to commit (< 1 MB), so that the demo and the tests run offline.
Rebuild with `python datasets/build_sample.py`; the build is deterministic.

| file | bytes | sha256 |
| --- | --- | --- |
{table}

- `readings.csv.gz`: gzip CSV, a `timestamp` column (2012-03-01 00:00 to 2012-03-07 23:55,
  5 minutes) then one column per sensor (the 207 METR-LA sensor ids, in node order), speed
  in mph. These are the **Los-loop** readings: the first week of METR-LA with its missing
  (zero) readings filled in by the T-GCN authors, so nothing is missing. The value tokens
  are copied verbatim from `los_speed.csv` (exact).
- `sensor_locations.csv`: `sensor_id,latitude,longitude` of the 207 sensors (DCRNN).
- `adjacency.npz`: DCRNN's METR-LA adjacency (thresholded Gaussian kernel of road distance,
  directed, 1722 non-zeros, unit diagonal) in `scipy.sparse.save_npz` CSR layout; load it
  with `scipy.sparse.load_npz`. Rows and columns follow `sensor_locations.csv`.
- `metr-la-raw100.csv.gz`: gzip CSV, the first 100 raw METR-LA steps (2012-03-01 00:00 to
  08:15), same columns as `readings.csv.gz`, with the **genuine missing readings kept as 0**
  (3.1 % of entries). Where a raw reading is non-zero it equals the Los-loop value.
- `request.json`: a `POST /forecast` body for `stgraph serve` on a run trained on the sample
  (`stgraph demo`): the last 12 steps of `readings.csv.gz` (2012-03-07 23:00 to 23:55) as
  `{{"timestamps", "sensors", "values"}}`, values copied from the CSV.

## Sources (checked by sha256 before use)

| file in `../shared/data` | sha256 | from |
| --- | --- | --- |
| `los-loop/los_speed.csv` | `{los}` | `lehaifeng/T-GCN` `data/los_speed.csv` @ `219a2346f5bf68d54d91a948e7a41a08f9edc46b` |
| `metr-la-graph/graph_sensor_ids.txt` | `{ids}` | `liyaguang/DCRNN` `data/sensor_graph/` @ `602afd9d767d3aa1c9b3eac51710d6aeee12c227` |
| `metr-la-graph/graph_sensor_locations.csv` | `{loc}` | `liyaguang/DCRNN` `data/sensor_graph/` @ `602afd9d767d3aa1c9b3eac51710d6aeee12c227` |
| `metr-la-graph/adj_mx.pkl` | `{adj}` | `liyaguang/DCRNN` `data/sensor_graph/` @ `602afd9d767d3aa1c9b3eac51710d6aeee12c227` |
| `metr-la-sample100/METRLA.json` | `{raw}` | `bfGraph/STGraph-Datasets` `METRLA.json` @ `95b1fa77f3d269476fb268eacdbfc38e6f67a0e5` |

## Licence and citation

The source repositories give these data files no licence of their own; the readings come
from LA Metro loop detectors (METR-LA). They are redistributed here for research, as the
papers below did. We claim no rights in them. If you use them, cite:

- L. Zhao, Y. Song, C. Zhang, Y. Liu, P. Wang, T. Lin, M. Deng, H. Li, "T-GCN: A Temporal
  Graph Convolutional Network for Traffic Prediction", IEEE Transactions on Intelligent
  Transportation Systems 21(9), 2020 (Los-loop).
- Y. Li, R. Yu, C. Shahabi, Y. Liu, "Diffusion Convolutional Recurrent Neural Network:
  Data-Driven Traffic Forecasting", ICLR 2018 (METR-LA graph and readings).
- H. V. Jagadish et al., "Big data and its technical challenges", Communications of the ACM
  57(7), 2014 (the METR-LA data).
"""


def build(source: Path, output: Path) -> dict[str, bytes]:
    sensor_ids = verified_bytes(source, "metr-la-graph/graph_sensor_ids.txt").decode().strip().split(",")
    verified_bytes(source, "metr-la-graph/adj_mx.pkl")  # checked here, then read by the safe unpickler
    readings = readings_csv(verified_bytes(source, "los-loop/los_speed.csv").decode(), sensor_ids)
    files = {
        "readings.csv.gz": gzip_deterministic(readings),
        "sensor_locations.csv": locations_csv(
            verified_bytes(source, "metr-la-graph/graph_sensor_locations.csv").decode(), sensor_ids
        ),
        "adjacency.npz": adjacency_npz(source / "metr-la-graph/adj_mx.pkl", sensor_ids),
        "metr-la-raw100.csv.gz": gzip_deterministic(
            raw100_csv(verified_bytes(source, "metr-la-sample100/METRLA.json").decode(), sensor_ids)
        ),
        "request.json": request_json(readings),
    }
    table = "\n".join(f"| `{name}` | {len(data)} | `{hashlib.sha256(data).hexdigest()}` |" for name, data in files.items())
    files["README.md"] = README.format(
        table=table,
        los=SOURCES["los-loop/los_speed.csv"],
        ids=SOURCES["metr-la-graph/graph_sensor_ids.txt"],
        loc=SOURCES["metr-la-graph/graph_sensor_locations.csv"],
        adj=SOURCES["metr-la-graph/adj_mx.pkl"],
        raw=SOURCES["metr-la-sample100/METRLA.json"],
    ).encode()
    total = sum(len(data) for data in files.values())
    if total > MAX_BYTES:
        raise SystemExit(f"build_sample: the sample would be {total} bytes, over the {MAX_BYTES} limit")
    output.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        with atomic_write(output / name, "wb") as handle:
            handle.write(data)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=HERE.parent.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--output", type=Path, default=HERE / "sample", help="where to write the sample")
    parser.add_argument("--request-only", action="store_true", help="write only request.json, from the committed readings.csv.gz")
    args = parser.parse_args()
    if args.request_only:
        data = request_json(gzip.decompress((args.output / "readings.csv.gz").read_bytes()))
        with atomic_write(args.output / "request.json", "wb") as handle:
            handle.write(data)
        print(f"{args.output / 'request.json'}  {len(data):>8} bytes")
        return
    files = build(args.source, args.output)
    for name, data in files.items():
        print(f"{args.output / name}  {len(data):>8} bytes  sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"total {sum(len(d) for d in files.values())} bytes")


if __name__ == "__main__":
    main()
