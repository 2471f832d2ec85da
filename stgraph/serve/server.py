"""Run the service under uvicorn: the loopback rule, threads, the "ready" line, clean stops.

The server binds to 127.0.0.1 unless told otherwise; any other address (``0.0.0.0``, a LAN
address, a host name other than ``localhost``) needs an API key, so that a forecast service is
never opened to a network by accident. When the socket is bound it prints one line,
``stgraph serve: <run> (<model>, <sensors> sensors) on http://HOST:PORT`` (the real port, also
with ``--port 0``), and it stops cleanly on SIGINT or SIGTERM (uvicorn's handlers: requests
in progress are finished, the batcher is stopped).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
from types import FrameType
from typing import Any

import torch
import uvicorn

from stgraph.errors import ConfigError
from stgraph.serve.app import create_app
from stgraph.serve.run import ServedRun

__all__ = ["check_host", "is_loopback", "serve"]


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, anything in 127/8, or ``localhost``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, api_key: str | None) -> None:
    """ConfigError for a non-loopback ``host`` without an API key."""
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"--host {host} is not a loopback address: serving on it needs an API key "
            "(--api-key KEY or the STGRAPH_API_KEY environment variable)"
        )


def serve(
    run_dir: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    threads: int | None = None,
    **options: Any,
) -> None:
    """Serve ``run_dir`` until SIGINT or SIGTERM; ``options`` go to :func:`create_app`.

    Raises:
        ConfigError: a non-loopback ``host`` without ``api_key``.
        RunError: no usable ``model.pt`` in ``run_dir``.
    """
    check_host(host, api_key)
    if threads is not None:
        torch.set_num_threads(threads)
    app = create_app(run_dir, api_key=api_key, **options)
    served: ServedRun = app.state.served
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", server_header=False)
    server = _Server(config, f"{served.name} ({served.model_name}, {len(served.sensor_ids)} sensors)")
    with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind (the port is taken); it logged why
        server.run()
    if not server.started:
        raise ConfigError(f"could not serve on {host}:{port} (see the message above)")


class _Server(uvicorn.Server):
    """uvicorn's server, printing the ready line once its socket is bound."""

    def __init__(self, config: uvicorn.Config, what: str) -> None:
        super().__init__(config)
        self.what = what

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn raises the signal again after its graceful shutdown (for servers embedded in
        # other programs); for the command, a stop that was asked for is a clean exit, code 0
        self._captured_signals.clear()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            bound = self.servers[0].sockets[0].getsockname() if self.servers else (self.config.host, self.config.port)
            host = self.config.host if ":" not in self.config.host else f"[{self.config.host}]"
            print(f"stgraph serve: {self.what} on http://{host}:{bound[1]}", file=sys.stdout, flush=True)
