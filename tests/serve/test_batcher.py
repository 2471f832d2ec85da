"""``stgraph.serve.batcher.Batcher``: concurrent items share calls, each gets its own result, the
queue is bounded, a failing call fails its batch (in process, asyncio)."""

from __future__ import annotations

import asyncio
import time

import pytest

from stgraph.serve.batcher import Batcher, QueueFull


def _doubler(calls: list[list[int]], delay: float = 0.0):
    def call(items):
        calls.append(list(items))
        time.sleep(delay)
        return [2 * item for item in items]

    return call


def _run(batcher: Batcher, items: list[int]) -> list:
    async def main():
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(item) for item in items), return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_items_arriving_together_share_calls_up_to_max_batch():
    calls: list[list[int]] = []
    batcher = Batcher(_doubler(calls), window=0.2, max_batch=3, max_queue=100)
    assert _run(batcher, list(range(7))) == [0, 2, 4, 6, 8, 10, 12]
    assert [len(batch) for batch in calls] == [3, 3, 1] and sorted(item for batch in calls for item in batch) == list(range(7))
    assert (batcher.stats.model_calls, batcher.stats.requests, batcher.stats.largest_batch) == (3, 7, 3)
    assert batcher.stats.queued == 0


def test_no_window_means_one_call_per_item():
    calls: list[list[int]] = []
    batcher = Batcher(_doubler(calls), window=0, max_batch=64)
    assert _run(batcher, [1, 2, 3]) == [2, 4, 6]
    assert calls == [[1], [2], [3]]


def test_a_full_queue_refuses_at_once_with_retry_after():
    calls: list[list[int]] = []
    batcher = Batcher(_doubler(calls, delay=0.05), window=0.05, max_batch=8, max_queue=2)
    results = _run(batcher, [1, 2, 3, 4])
    assert results[:2] == [2, 4]
    assert all(isinstance(r, QueueFull) for r in results[2:])
    assert str(results[2]) == "the forecast queue is full (2 requests waiting); retry in 1 s"
    assert results[2].retry_after == 1 and batcher.stats.rejected == 2
    assert batcher.retry_after() >= 1


def test_a_failing_call_fails_every_item_of_its_batch():
    def call(items):
        raise RuntimeError("model broke")

    results = _run(Batcher(call, window=0.05), [1, 2])
    assert all(isinstance(r, RuntimeError) and str(r) == "model broke" for r in results)


def test_a_call_returning_the_wrong_number_of_results_is_an_error():
    results = _run(Batcher(lambda items: [0], window=0.05), [1, 2])
    assert all("returned 1 results for 2 requests" in str(r) for r in results)


def test_an_abandoned_request_is_not_forecast():
    calls: list[list[int]] = []

    async def main():
        batcher = Batcher(_doubler(calls), window=0.1)
        await batcher.start()
        with batcher.arriving():  # request 2 is on its way: the batch holding 1 waits for it
            abandoned = asyncio.ensure_future(batcher.submit(1))
            await asyncio.sleep(0.01)
            abandoned.cancel()
            kept = batcher.submit(2)
        answer = await kept
        await batcher.stop()
        return answer

    assert asyncio.run(main()) == 4
    assert calls == [[2]]


def test_stop_cancels_waiting_requests_and_submit_needs_start():
    async def main():
        batcher = Batcher(_doubler([], delay=0.2), window=0)
        with pytest.raises(RuntimeError, match="not started"):
            await batcher.submit(1)
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit(1))
        second = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0.05)  # the first is in its call, the second waits in the queue
        await batcher.stop()
        await asyncio.sleep(0)
        return first.cancelled(), second.cancelled()

    assert asyncio.run(main()) == (True, True)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="window >= 0, max_batch >= 1 and max_queue >= 1"):
        Batcher(lambda items: items, window=-1)


def test_a_lone_request_does_not_wait_for_the_window():
    calls: list[list[int]] = []
    batcher = Batcher(_doubler(calls), window=2.0)
    started = time.perf_counter()
    assert _run(batcher, [5]) == [10]
    assert time.perf_counter() - started < 1.0 and calls == [[5]]


def test_a_batch_waits_for_a_request_still_arriving():
    calls: list[list[int]] = []

    async def main():
        batcher = Batcher(_doubler(calls), window=2.0)
        await batcher.start()
        try:

            async def late(item: int) -> int:
                with batcher.arriving():  # its body is still being read
                    await asyncio.sleep(0.2)
                    answer = batcher.submit(item)
                return await answer

            first = asyncio.ensure_future(batcher.submit(1))
            return await asyncio.gather(first, late(2))
        finally:
            await batcher.stop()

    started = time.perf_counter()
    assert asyncio.run(main()) == [2, 4]
    assert calls == [[1, 2]] and time.perf_counter() - started < 1.5  # joined, without waiting the whole window
