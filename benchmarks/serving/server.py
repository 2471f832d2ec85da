"""``stgraph serve`` in a subprocess on a free 127.0.0.1 port, and the short training runs it serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

__all__ = ["REPOSITORY", "Server", "free_port", "train_run"]

REPOSITORY = Path(__file__).resolve().parents[2]


def _environment() -> dict[str, str]:
    """This process's environment with the checkout first on ``PYTHONPATH``, so the child runs
    the same ``stgraph`` as this benchmark, and without ``STGRAPH_API_KEY``: the benchmark's
    server listens on 127.0.0.1 only and its clients send no key."""
    environment = {key: value for key, value in os.environ.items() if key != "STGRAPH_API_KEY"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPOSITORY), environment.get("PYTHONPATH")]))
    return environment


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it; another process could take it before the server does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def train_run(model: str, out: Path, *, max_steps: int, threads: int) -> Path:
    """Train ``model`` on the committed sample with ``stgraph train`` (the real pipeline: one
    epoch of at most ``max_steps`` optimiser steps, CPU) into ``out``; a run already there is
    reused. Latency does not depend on how well the model trained, only on its size."""
    if (out / "model.pt").is_file():
        return out
    command = [sys.executable, "-m", "stgraph", "train", "--dataset", "sample", "--model", model, "--epochs", "1"]
    command += ["--max-steps", str(max_steps), "--accelerator", "cpu", "--no-progress"]
    command += ["--set", f"training.threads={threads}", "--out", str(out)]
    finished = subprocess.run(command, cwd=REPOSITORY, env=_environment(), capture_output=True, text=True, check=False)
    if finished.returncode != 0 or not (out / "model.pt").is_file():
        raise RuntimeError(
            f"training {model} failed (exit {finished.returncode}): {' '.join(command)}\n{finished.stderr[-3000:]}"
        )
    return out


class Server:
    """``python -m stgraph serve RUN_DIR --host 127.0.0.1 --port PORT ...`` in a subprocess.

    ``start`` waits until ``GET /health`` answers 200 (at most ``startup_seconds``) and raises
    ``RuntimeError`` with the server's stderr if it exits or does not answer in time; ``stop``
    sends SIGINT (uvicorn's clean shutdown) and kills it only if it has not exited after 15 s.
    Its stdout and stderr go to files, so a chatty server never blocks on a full pipe.
    """

    def __init__(self, run_dir: Path, options: list[str], *, startup_seconds: float = 120.0) -> None:
        self.run_dir = run_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "stgraph", "serve", str(run_dir), "--host", "127.0.0.1"]
        self.command += ["--port", str(self.port), *options]
        self.startup_seconds = startup_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self._logs = tempfile.TemporaryDirectory(prefix="stgraph-serve-bench-")
        self.stdout = Path(self._logs.name) / "stdout.txt"
        self.stderr = Path(self._logs.name) / "stderr.txt"

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stderr_tail(self) -> str:
        """The last 3,000 characters the server wrote to stderr."""
        text = self.stderr.read_text(errors="replace") if self.stderr.is_file() else ""
        return text[-3000:] or "(no output on stderr)"

    def start(self) -> None:
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            self.process = subprocess.Popen(self.command, cwd=REPOSITORY, env=_environment(), stdout=out, stderr=err)
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.stderr_tail()
                self.stop()
                raise RuntimeError(
                    f"stgraph serve exited with {self.process.returncode} before answering /health: "
                    f"{' '.join(self.command)}\n{tail}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        tail = self.stderr_tail()
        self.stop()
        raise RuntimeError(
            f"stgraph serve did not answer /health with 200 within {self.startup_seconds:.0f} s: {' '.join(self.command)}\n{tail}"
        )

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, all threads) the server has used so far, from
        ``/proc/<pid>/stat``; ``None`` where that is not readable (not Linux, exited)."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def health(self) -> dict[str, Any]:
        """``GET /health`` as a dict (``{}`` when the body is not a JSON object)."""
        answer = httpx.get(f"{self.url}/health", timeout=10.0)
        answer.raise_for_status()
        body = answer.json()
        return body if isinstance(body, dict) else {}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.exit_code = self.process.returncode
        self._logs.cleanup()
