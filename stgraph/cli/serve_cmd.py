"""``stgraph serve RUN_DIR``: a trained run's forecasts over HTTP (see :mod:`stgraph.serve`).

Binds to 127.0.0.1:8000 by default; another address needs ``--api-key`` (or
``STGRAPH_API_KEY``), then checked on every route but ``/health``. Requests that arrive within
``--batch-window-ms`` of each other share one model call (up to ``--max-batch``); at most
``--max-queue`` requests are admitted at once, more are answered 503 with ``Retry-After``.
FastAPI and uvicorn are imported only here, when the command runs (the ``serve`` extra).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from stgraph.cli.arguments import device_problem, positive_int

__all__ = ["API_KEY_ENV", "add_parser", "run"]

API_KEY_ENV = "STGRAPH_API_KEY"
INSTALL_HINT = "pip install 'stgraph-traffic[serve]'"


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {text!r}")
    return value


def _megabytes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of MB, got {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535 (0: any free port), got {text!r}")
    return int(text)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "serve",
        help="serve a trained run's forecasts over HTTP (POST /forecast, GET /model, GET /health)",
        description=(
            "Serve a trained run's forecasts over HTTP: POST /forecast with recent readings (JSON or CSV), "
            "GET /model, GET /health, the OpenAPI page at /docs."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (holds model.pt)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --api-key)")
    parser.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0 = any free port, printed)")
    parser.add_argument(
        "--api-key", metavar="KEY", help=f"required in header X-API-Key on every route but /health (default: ${API_KEY_ENV})"
    )
    parser.add_argument(
        "--batch-window-ms",
        type=_milliseconds,
        default=5.0,
        metavar="MS",
        help="requests arriving within MS of the first share one model call (default 5; 0 = one call per request)",
    )
    parser.add_argument(
        "--max-batch", type=positive_int, default=64, metavar="N", help="most requests per model call (default 64)"
    )
    parser.add_argument(
        "--max-queue",
        type=positive_int,
        default=256,
        metavar="N",
        help="most requests admitted at once, waiting or being forecast; more get 503 + Retry-After (default 256)",
    )
    parser.add_argument("--max-body-mb", type=_megabytes, default=8.0, metavar="MB", help="largest request body (default 8)")
    parser.add_argument("--threads", type=positive_int, metavar="N", help="CPU threads per operation (default: torch's)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    missing = [name for name in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(name) is None]
    if missing:
        names = ", ".join("python-multipart" if name == "multipart" else name for name in missing)
        print(f"stgraph serve: error: the web service needs {names}: {INSTALL_HINT}", file=sys.stderr)
        return 1
    problem = device_problem(args.device)
    if problem:
        print(f"stgraph serve: error: --device {args.device}: {problem}", file=sys.stderr)
        return 2
    _sleeping_threads()
    from stgraph.serve.server import serve

    serve(
        args.run_dir,
        host=args.host,
        port=args.port,
        api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
        threads=args.threads,
        batch_window_ms=args.batch_window_ms,
        max_batch=args.max_batch,
        max_queue=args.max_queue,
        max_body_mb=args.max_body_mb,
        device=args.device,
    )
    return 0


#: OpenMP's setting for idle threads; torch's CPU kernels run on OpenMP threads
WAIT_POLICY = "OMP_WAIT_POLICY"


def _sleeping_threads() -> None:
    """Restart the command once with ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set.

    After each parallel region OpenMP's idle threads spin on a core for a while by default,
    waiting for the next one. A server runs a short forecast, then Python work (parsing,
    encoding the answer, the next request's HTTP), so the spinning threads take the cores that
    work needs: on the 2-core CPU, STGCN at 8 clients answered 135 requests/s with spinning and
    160 with sleeping threads (p99 100 ms against 74 ms). OpenMP reads the variable once, when
    torch loads, which has happened by now: hence the restart, before anything is served (the
    process keeps its id). Only where the process was started as ``... stgraph serve ...`` on a
    POSIX system; set the variable yourself (``ACTIVE`` to keep spinning) to skip it.
    """
    if WAIT_POLICY in os.environ or os.name != "posix" or not _launched_as_serve(sys.argv):
        return
    os.environ[WAIT_POLICY] = "PASSIVE"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "stgraph", *sys.argv[1:]])


def _launched_as_serve(argv: list[str]) -> bool:
    """Whether this process is ``stgraph serve ...`` or ``python -m stgraph serve ...`` (not, say,
    a test calling :func:`stgraph.cli.main.main` in process)."""
    program = Path(argv[0]) if argv else Path()
    command = program.name == "stgraph" or (program.name == "__main__.py" and program.parent.name == "stgraph")
    positional = [word for word in argv[1:] if not word.startswith("-")]
    return command and positional[:1] == ["serve"]
