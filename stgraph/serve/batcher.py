"""Requests that arrive together share one model call.

:class:`Batcher` runs one worker task on the server's event loop. The worker takes the first
waiting request and everything queued behind it, then keeps collecting for up to ``window``
seconds, but only while other requests are still arriving (their bodies being read and
parsed, :meth:`Batcher.arriving`), or until it holds ``max_batch`` requests, and hands the
batch to ``call`` in a worker thread (the event loop keeps accepting requests meanwhile); each
request's future gets its own result. A request alone is therefore forecast at once: the
window costs latency only when there is someone to wait for (a fixed 5 ms window added 7 ms to
every request of one client, STGCN on the sample). With ``window == 0`` every request is its
own call.

The queue is bounded: at most ``max_queue`` requests are admitted at once (waiting, being
collected or being forecast). One more is refused at once with :class:`QueueFull`, which the
app answers 503 with ``Retry-After``; the bound keeps a burst from growing the server's memory
and latency without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Batcher", "BatcherStats", "QueueFull"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class QueueFull(Exception):
    """Too many requests are waiting; ``retry_after`` is the suggested wait in whole seconds."""

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(f"the forecast queue is full ({limit} requests waiting); retry in {retry_after} s")
        self.limit, self.retry_after = limit, retry_after


@dataclass
class BatcherStats:
    """Counters since the start: ``model_calls`` (batches run), ``requests`` answered,
    ``largest_batch``, ``rejected`` (queue full), ``queued`` (admitted, not yet answered)."""

    model_calls: int = 0
    requests: int = 0
    largest_batch: int = 0
    rejected: int = 0
    queued: int = 0


class Batcher(Generic[Item, Result]):
    """Collects concurrent items into batches for ``call``.

    Args:
        call: ``items -> results``, one result per item in order; runs in a worker thread.
        window: seconds to keep collecting after the first item of a batch (0: no batching).
        max_batch: most items per call.
        max_queue: most items admitted at once; one more raises :class:`QueueFull`.
    """

    def __init__(
        self,
        call: Callable[[Sequence[Item]], Sequence[Result]],
        *,
        window: float = 0.005,
        max_batch: int = 64,
        max_queue: int = 256,
    ) -> None:
        if window < 0 or max_batch < 1 or max_queue < 1:
            raise ValueError(f"window >= 0, max_batch >= 1 and max_queue >= 1; got {window}, {max_batch}, {max_queue}")
        self.call, self.window, self.max_batch, self.max_queue = call, window, max_batch, max_queue
        self.stats = BatcherStats()
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._last_call = 0.0  # seconds the last model call took, for Retry-After
        self._batch: list[tuple[Item, asyncio.Future[Result]]] = []  # being collected or forecast
        self._arriving = 0  # requests being read or parsed, not yet submitted

    async def start(self) -> None:
        """Start the worker on the running loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(self._queue))

    async def stop(self) -> None:
        """Stop the worker; requests still waiting or in a batch are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        waiting = list(self._batch)
        while self._queue is not None and not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for _, future in waiting:
            future.cancel()

    def retry_after(self) -> int:
        """Whole seconds after which a refused request might find room (at least 1)."""
        return max(1, math.ceil(self.window + self._last_call))

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Marks a request that is being read and parsed and will be submitted soon (or fail):
        a batch being collected waits for it, up to the window."""
        self._arriving += 1
        try:
            yield
        finally:
            self._arriving -= 1

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` and wait for its result (an exception of ``call`` is raised here)."""
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        if self.stats.queued >= self.max_queue:
            self.stats.rejected += 1
            raise QueueFull(self.max_queue, self.retry_after())
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.stats.queued += 1
        try:
            self._queue.put_nowait((item, future))
            return await future
        finally:
            self.stats.queued -= 1

    async def _run(self, queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._batch = [await queue.get()]
            deadline = loop.time() + self.window
            while self.window > 0 and len(batch) < self.max_batch:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0 or self._arriving == 0:
                    break  # the window is over, or nobody else is on the way
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            # a request whose client went away needs no forecast
            batch = self._batch = [(item, future) for item, future in batch if not future.done()]
            if batch:
                await self._answer(batch)
            self._batch = []

    async def _answer(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        self.stats.model_calls += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        started = time.perf_counter()
        try:
            results = await asyncio.to_thread(self.call, [item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"the model call returned {len(results)} results for {len(batch)} requests")
        except Exception as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        finally:
            self._last_call = time.perf_counter() - started
        self.stats.requests += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
