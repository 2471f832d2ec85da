"""A closed-loop load: ``clients`` concurrent clients on one ``httpx.AsyncClient``, each sending
its next request as soon as the previous one is answered, until ``requests`` have been sent
or ``max_seconds`` have passed; and the statistics of what came back."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

__all__ = ["Load", "percentile", "run_load", "summarise"]

#: a request that failed without a response (refused connection, timeout) is counted under this status
NO_RESPONSE = 0


@dataclass
class Load:
    """What one closed-loop load recorded: per request its latency (seconds) and status, in
    completion order, and the wall time from the first request sent to the last answer."""

    clients: int
    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest recorded value with at least ``share`` percent of
    the values at or below it (``sorted[ceil(share / 100 * n) - 1]``), so a p99 is a latency
    some request really had; ``nan`` for no values."""
    if not 0 < share <= 100:
        raise ValueError(f"percentile share must be in (0, 100], got {share}")
    if len(values) == 0:
        return math.nan
    ordered = sorted(values)
    return ordered[max(math.ceil(share / 100 * len(ordered)), 1) - 1]


def summarise(load: Load) -> dict[str, float | int]:
    """Requests sent, answered with 200, 503 and other failures; requests/s (200s per second of
    wall time); p50 / p90 / p99 and mean latency in ms over the 200s only (a quick refusal is
    not a forecast)."""
    counts = Counter(load.statuses)
    ok = [latency for latency, status in zip(load.latencies, load.statuses, strict=True) if status == 200]
    return {
        "clients": load.clients,
        "requests": len(load.statuses),
        "ok": counts[200],
        "busy_503": counts[503],
        "errors": len(load.statuses) - counts[200] - counts[503],
        "seconds": load.seconds,
        "requests_per_s": counts[200] / load.seconds if load.seconds > 0 else math.nan,
        "p50_ms": 1000 * percentile(ok, 50),
        "p90_ms": 1000 * percentile(ok, 90),
        "p99_ms": 1000 * percentile(ok, 99),
        "mean_ms": 1000 * sum(ok) / len(ok) if ok else math.nan,
    }


async def _phase(
    client: httpx.AsyncClient, url: str, bodies: Sequence[bytes], load: Load, requests: int, max_seconds: float
) -> None:
    sent = 0
    headers = {"content-type": "application/json"}
    started = time.perf_counter()
    deadline = started + max_seconds

    async def one_client() -> None:
        nonlocal sent
        while sent < requests and time.perf_counter() < deadline:
            body = bodies[sent % len(bodies)]
            sent += 1
            begin = time.perf_counter()
            try:
                status = (await client.post(url, content=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = NO_RESPONSE
            load.latencies.append(time.perf_counter() - begin)
            load.statuses.append(status)

    await asyncio.gather(*(one_client() for _ in range(load.clients)))
    load.seconds = time.perf_counter() - started


async def _load(
    url: str,
    bodies: Sequence[bytes],
    clients: int,
    requests: int,
    max_seconds: float,
    timeout: float,
    warmup: int,
    ready: Callable[[], None] | None,
) -> Load:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        if warmup > 0:  # the same client: its connections are open when the measurement starts
            await _phase(client, url, bodies[::-1], Load(clients), warmup, max_seconds)
        if ready is not None:
            ready()
        load = Load(clients)
        await _phase(client, url, bodies, load, requests, max_seconds)
    return load


def run_load(
    url: str,
    bodies: Sequence[bytes],
    *,
    clients: int,
    requests: int,
    max_seconds: float,
    timeout: float = 30.0,
    warmup: int = 0,
    ready: Callable[[], None] | None = None,
) -> Load:
    """Send at most ``requests`` bodies (cycling through ``bodies``) to ``url`` from ``clients``
    concurrent clients; no new request starts after ``max_seconds``, and one in flight then
    is waited for (at most ``timeout`` seconds).

    Before that, ``warmup`` requests (bodies from the end, not recorded) from the same clients
    over the same connections, then ``ready()`` (e.g. read the server's counters), with no
    request in flight.
    """
    if clients < 1 or requests < 1 or warmup < 0 or max_seconds <= 0 or not bodies:
        raise ValueError(
            f"a load needs clients, requests >= 1, warmup >= 0, max_seconds > 0 and bodies; "
            f"got {clients}, {requests}, {warmup}, {max_seconds}, {len(bodies)} bodies"
        )
    return asyncio.run(_load(url, bodies, clients, requests, max_seconds, timeout, warmup, ready))
