"""The FastAPI application of ``stgraph serve``: routes, the API key, the body limit, errors.

Routes: ``GET /health`` (always open: status and the batcher's counters), ``GET /model`` (what
the run forecasts, and its test metrics), ``POST /forecast`` (JSON, ``text/csv`` or a
multipart upload in field ``file``; :mod:`stgraph.serve.requests`), and the OpenAPI page
(``/docs``, ``/openapi.json``).

Every bad request is a 422 whose ``detail`` is one line naming the problem, never a 500: a
malformed body, unknown or missing sensors, too few steps, another interval, timestamps that do
not increase, values that are not numbers, a body over ``max_body_mb`` (refused from its
``Content-Length`` before it is read, and counted while it streams in when it has none). A full
queue is a 503 with ``Retry-After``. No request names a file or makes the server unpickle
anything: uploads are parsed from memory, and the run is loaded once, at start.

With ``api_key`` set, every route but ``/health`` needs header ``X-API-Key`` (401 when it is
missing, 403 when it is wrong; compared in constant time).
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from stgraph import __version__
from stgraph.errors import SensorDataError
from stgraph.serve.batcher import Batcher, QueueFull
from stgraph.serve.requests import RequestError, parse_csv, parse_json_bytes
from stgraph.serve.run import ServedRun

__all__ = ["API_KEY_HEADER", "BodyTooLarge", "create_app"]

API_KEY_HEADER = "X-API-Key"
OPEN_PATHS = ("/health",)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body is over the server's limit (answered 422)."""


class ForecastRequest(BaseModel):
    """A JSON forecast request (see :mod:`stgraph.serve.requests`)."""

    timestamps: list[str] = Field(description="ISO 8601, at least lookback, increasing, the run's interval apart")
    sensors: list[str] = Field(description="sensor ids, every run sensor, any order")
    values: list[list[Any]] = Field(description="[steps][sensors] numbers (null = missing), or [steps][sensors][features]")
    mask: list[list[bool]] | None = Field(default=None, description="[steps][sensors], true = observed")


class ForecastAnswer(BaseModel):
    """A forecast: the horizon's steps for every sensor of the run, in the run's order."""

    run: str
    model: str
    sensors: list[str]
    timestamps: list[str] = Field(description="the forecast steps, ISO 8601")
    channels: list[str]
    forecast: list[Any] = Field(description="[horizon][sensors] (one channel) or [horizon][sensors][channels]")
    lower: list[Any] | None = Field(default=None, description="the calibrated interval, when the run has one")
    upper: list[Any] | None = None
    coverage: float | None = Field(default=None, description="the interval's nominal coverage")


class Problem(BaseModel):
    detail: str


_UPLOAD_SCHEMA = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}
_FORECAST_DOCS: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ForecastRequest.model_json_schema()},
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


def create_app(
    run_dir: str | os.PathLike[str],
    *,
    api_key: str | None = None,
    batch_window_ms: float = 5.0,
    max_batch: int = 64,
    max_queue: int = 256,
    max_body_mb: float = 8.0,
    device: str = "cpu",
) -> FastAPI:
    """The service for the run in ``run_dir`` (loaded now: a bad run fails here, not on a request).

    Args:
        api_key: required in header ``X-API-Key`` on every route but ``/health``; None = open.
        batch_window_ms: how long the first request of a batch waits for others (0: no batching).
        max_batch: most requests per model call.
        max_queue: most requests admitted at once (waiting or being forecast); more get 503.
        max_body_mb: largest request body, in MB (10^6 bytes).
        device: torch device of the model.

    Raises:
        RunError: no ``model.pt`` in ``run_dir``, or a damaged one.
    """
    served = ServedRun.load(run_dir, device=device)
    batcher: Batcher[Any, dict[str, Any]] = Batcher(
        served.forecast, window=batch_window_ms / 1000, max_batch=max_batch, max_queue=max_queue
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="stgraph forecasts",
        version=__version__,
        description=f"Forecasts of run {served.name} ({served.model_name}, {len(served.sensor_ids)} sensors).",
        lifespan=lifespan,
    )
    app.state.served, app.state.batcher = served, batcher
    limit = int(max_body_mb * 1_000_000)
    app.add_middleware(BodyLimit, limit=limit)
    if api_key:
        app.add_middleware(ApiKey, key=api_key)
    _add_error_handlers(app, batcher)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness, and the batcher's counters (model calls, requests answered, refusals)."""
        threads = {"torch_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
        return {"status": "ok", "run": served.name, "model": served.model_name, **asdict(batcher.stats), **threads}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The run: sensors (in forecast order), lookback, horizon, interval, features, test metrics."""
        return served.describe()

    @app.post(
        "/forecast",
        openapi_extra=_FORECAST_DOCS,
        response_model=ForecastAnswer,
        response_model_exclude_none=True,
        responses={422: {"model": Problem}, 503: {"model": Problem}},
    )
    async def forecast(request: Request) -> JSONResponse:
        """Forecast the ``horizon`` steps after the last timestamp, for every sensor of the run."""
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        with batcher.arriving():  # a batch being collected waits for this one
            if kind == "multipart/form-data":
                data = await _upload(request, limit)
                series = await asyncio.to_thread(parse_csv, data, served)
            elif kind in ("text/csv", "application/csv"):
                series = await asyncio.to_thread(parse_csv, await request.body(), served)
            elif kind == "application/json" or kind.endswith("+json"):
                series = await asyncio.to_thread(parse_json_bytes, await request.body(), served)
            else:
                raise RequestError(
                    f"Content-Type {kind!r}: send application/json, text/csv, or multipart/form-data with the CSV in field 'file'"
                )
            answer = batcher.submit(series)
        # nothing yields between leaving the block and submit queueing the request: a batch being
        # collected sees it either arriving or queued
        return JSONResponse(await answer)

    return app


async def _upload(request: Request, limit: int) -> bytes:
    """The bytes of multipart field ``file``."""
    try:
        async with request.form(max_files=1, max_fields=4, max_part_size=limit) as form:
            upload = form.get("file")
            if isinstance(upload, UploadFile):
                return await upload.read()
            if isinstance(upload, str):
                return upload.encode("utf-8")
            fields = ", ".join(repr(key) for key in form) or "none"
            raise RequestError(f"upload: no field 'file' (fields: {fields}); send the readings CSV as field 'file'")
    except (HTTPException, MultiPartException) as error:
        detail = error.detail if isinstance(error, HTTPException) else error.message
        raise RequestError(f"upload: not a valid multipart/form-data body ({detail})") from None


def _add_error_handlers(app: FastAPI, batcher: Batcher[Any, Any]) -> None:
    async def bad_request(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": _one_line(str(error))}, status_code=422)

    async def validation(_: Request, error: Exception) -> JSONResponse:
        problems = error.errors() if isinstance(error, RequestValidationError) else []
        first = problems[0] if problems else {"loc": (), "msg": str(error)}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"detail": _one_line(f"{where}: {first.get('msg')}" if where else str(first.get("msg")))}, 422)

    async def queue_full(_: Request, error: Exception) -> JSONResponse:
        retry = error.retry_after if isinstance(error, QueueFull) else batcher.retry_after()
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(retry)})

    async def http_error(_: Request, error: Exception) -> JSONResponse:
        status, headers = getattr(error, "status_code", 500), getattr(error, "headers", None)
        detail = _one_line(str(getattr(error, "detail", error)))
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    async def internal(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": _one_line(f"internal error ({type(error).__name__}: {error})")}, status_code=500)

    app.add_exception_handler(SensorDataError, bad_request)
    app.add_exception_handler(BodyTooLarge, bad_request)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(QueueFull, queue_full)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal)


class BodyLimit:
    """Refuse a body over ``limit`` bytes: by its ``Content-Length`` before reading it, else while
    it streams in (a chunked body, or one longer than it said)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            size = int(declared) if declared.isdigit() else -1
            if size < 0:
                await _problem(send, 422, f"Content-Length {declared!r} is not a byte count")
                return
            if size > self.limit:
                await _problem(send, 422, self.message(size))
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.message(received, streamed=True))
            return message

        await self.app(scope, counted, send)

    def message(self, size: int, *, streamed: bool = False) -> str:
        what = f"at least {size:,} bytes" if streamed else f"{size:,} bytes"
        return f"body too large: {what}, over the limit of {self.limit:,} bytes ({self.limit / 1e6:g} MB, --max-body-mb)"


class ApiKey:
    """Every path but :data:`OPEN_PATHS` needs the key in header ``X-API-Key``."""

    def __init__(self, app: ASGIApp, *, key: str) -> None:
        self.app, self.key = app, key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in OPEN_PATHS:
            given = _header(scope, API_KEY_HEADER.lower().encode())
            if given is None:
                await _problem(send, 401, f"missing API key: send it in header {API_KEY_HEADER}")
                return
            if not hmac.compare_digest(given.encode("latin-1"), self.key):
                await _problem(send, 403, f"wrong API key in header {API_KEY_HEADER}")
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _problem(send: Send, status: int, detail: str) -> None:
    headers = {"WWW-Authenticate": API_KEY_HEADER} if status == 401 else None
    response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
    await response({"type": "http"}, _no_body, send)


async def _no_body() -> Message:  # pragma: no cover (a plain response never reads its request)
    return {"type": "http.disconnect"}


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "error"
