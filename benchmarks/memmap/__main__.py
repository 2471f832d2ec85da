"""``python -m benchmarks.memmap``: peak memory of a series on disk against the same series in memory.

```bash
python -m benchmarks.memmap                               # 8,600 sensors x 35,000 steps (1.2 GB float32)
python -m benchmarks.memmap --sensors 50 --steps 2000     # a smoke run, seconds
```

A synthetic series of LargeST's size (8,600 sensors, a year of 15-minute steps) is written as
a PEMS0x-style ``.npz`` in pieces (never whole in memory), then each phase runs in its own
process, so that its peak resident memory (``ru_maxrss``) is its own:

- **convert**: :func:`stgraph.data.convert.convert_readings` of the ``.npz`` (4,096 rows a chunk);
- **on disk**: open the directory (:func:`~stgraph.data.memmap.open_series`), fit the z-score
  scaler on the first 70 % of steps (streamed in blocks), build the training windows
  (lookback 12, horizon 12) and gather ``--batches`` random batches of ``--batch-size`` windows;
- **in memory**: the same with ``in_memory=True``, the arrays copied into memory first.

Each phase prints its wall time, peak RSS, and at its end the resident memory split into
anonymous (the process's own) and file-backed pages (the page cache mapped into it, which
the kernel can drop at any time), from ``/proc/self/status``. The files go to a temporary
folder (``--tmp``) and are deleted at the end. Timings on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy.card import library_versions, machine


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memmap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sensors", type=int, default=8600, help="sensors (default 8600, LargeST CA)")
    parser.add_argument("--steps", type=int, default=35000, help="time steps (default 35000: a year at 15 minutes)")
    parser.add_argument("--batches", type=int, default=50, help="random batches gathered per phase (default 50)")
    parser.add_argument("--batch-size", type=int, default=64, help="windows per batch (default 64)")
    parser.add_argument("--tmp", type=Path, default=None, help="folder for the generated files (default: a temporary one)")
    parser.add_argument("--phase", choices=["convert", "disk", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    return parser


def write_npz(file: Path, steps: int, sensors: int, seed: int = 0) -> None:
    """Speeds ``[steps, sensors, 1]`` as an uncompressed ``.npz``, written 2,048 steps at a time."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(file, "w", allowZip64=True) as archive, archive.open("data.npy", "w", force_zip64=True) as member:
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
            "fortran_order": False,
            "shape": (steps, sensors, 1),
        }
        np.lib.format.write_array_header_2_0(member, header)
        for start in range(0, steps, 2048):
            rows = min(2048, steps - start)
            day = np.sin(2 * np.pi * (start + np.arange(rows))[:, None] / 96)
            block = (55 + 10 * day + rng.normal(0, 3, (rows, sensors))).astype(np.float32)
            block[rng.random(block.shape) < 0.05] = np.nan  # 5 % missing
            member.write(block[:, :, None].tobytes())


def _resident() -> dict[str, float]:
    """RssAnon and RssFile of this process, in GB."""
    found = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("RssAnon:", "RssFile:")):
                name, kilobytes = line.split()[:2]
                found[name.rstrip(":")] = int(kilobytes) / 1e6
    return found


def _phase(phase: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    from stgraph.data.convert import convert_readings
    from stgraph.data.memmap import open_series
    from stgraph.data.scaling import StandardScaler
    from stgraph.data.windows import WindowDataset

    began = time.perf_counter()
    result: dict[str, Any] = {"phase": phase}
    if phase == "convert":
        convert_readings(folder / "synthetic.npz", folder / "synthetic.stseries", start="2019-01-01", interval="15min")
    else:
        series = open_series(folder / "synthetic.stseries", in_memory=phase == "memory")
        result["open_s"] = time.perf_counter() - began
        train = int(series.num_steps * 0.7)
        scaler = StandardScaler().fit(series, steps=slice(0, train))
        result["scaler_s"] = time.perf_counter() - began - result["open_s"]
        windows = WindowDataset(series, lookback=12, horizon=12, starts=np.arange(train - 24), scaler=scaler)
        rng = np.random.default_rng(0)
        gathered = time.perf_counter()
        for _ in range(args.batches):
            x, _, _ = windows.batch(rng.integers(0, len(windows), args.batch_size))
        result["batch_ms"] = 1000 * (time.perf_counter() - gathered) / args.batches
        result["x_shape"] = list(x.shape)
    result["wall_s"] = time.perf_counter() - began
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    result.update({f"{k}_gb_at_end": v for k, v in _resident().items()})
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.phase is not None:
        print(json.dumps(_phase(args.phase, args.folder, args)))
        return 0
    print(json.dumps({"machine": machine(), "versions": library_versions()}, indent=1))
    size = args.steps * args.sensors * 4
    print(f"series: {args.steps} steps x {args.sensors} sensors x 1 feature = {size / 1e9:.2f} GB float32")
    folder = Path(tempfile.mkdtemp(prefix="stgraph-memmap-", dir=args.tmp))
    try:
        began = time.perf_counter()
        write_npz(folder / "synthetic.npz", args.steps, args.sensors)
        print(f"wrote {folder / 'synthetic.npz'} in {time.perf_counter() - began:.1f} s")
        common = ["--sensors", str(args.sensors), "--steps", str(args.steps), "--batches", str(args.batches)]
        for phase in ("convert", "disk", "memory"):
            command = [sys.executable, "-m", "benchmarks.memmap", "--phase", phase, "--folder", str(folder), *common]
            command += ["--batch-size", str(args.batch_size)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            print(json.dumps(json.loads(output.strip().splitlines()[-1])))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
