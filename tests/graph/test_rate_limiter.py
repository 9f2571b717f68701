"""The rate limiter: permits per second, burst size, in-flight cap, counters, overflow."""

from __future__ import annotations

import asyncio
import time

import pytest

from drivers.microsoft.errors import RateLimitExceeded
from drivers.microsoft.rate_limiter import RateLimiter


def max_in_any_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_no_window_of_one_second_holds_more_than_rate_starts() -> None:
    limiter = RateLimiter(10, window_margin=0.0)
    starts: list[float] = []

    async def call() -> None:
        async with limiter.permit():
            starts.append(time.monotonic())

    began = time.monotonic()
    await asyncio.gather(*(call() for _ in range(25)))
    assert max_in_any_window(starts, 1.0) == 10
    assert sum(1 for t in starts if t - began < 0.05) == 10  # a burst of `rate` at once
    assert 1.95 <= starts[-1] - began <= 3.0  # 10 now, 10 after 1 s, 5 after 2 s


async def test_counters_show_waiting_and_running_requests() -> None:
    limiter = RateLimiter(1000, max_in_flight=2)
    release = asyncio.Event()

    async def call() -> None:
        async with limiter.permit():
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert (limiter.in_flight_size, limiter.queue_size) == (2, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert (limiter.in_flight_size, limiter.queue_size) == (0, 0)


async def test_a_request_that_would_wait_too_long_fails_at_once() -> None:
    limiter = RateLimiter(1, max_wait=2.0)
    holders = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
    await asyncio.sleep(0.05)  # one permit granted, two queued (about 2 s of waiting)
    started = time.monotonic()
    with pytest.raises(RateLimitExceeded, match="requests already queued"):
        await limiter.acquire()
    assert time.monotonic() - started < 0.1
    for task in holders:
        task.cancel()
    await asyncio.gather(*holders, return_exceptions=True)


async def test_a_cancelled_waiter_leaves_counters_and_slots_intact() -> None:
    limiter = RateLimiter(1000, max_in_flight=1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.02)
    assert limiter.queue_size == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert (limiter.queue_size, limiter.in_flight_size) == (0, 1)
    limiter.release()
    await asyncio.wait_for(limiter.acquire(), 1)  # the slot came back
    limiter.release()


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
