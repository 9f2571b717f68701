"""The sliding-window limiter, on a manual clock: no 1 s window above the rate, counters,
refusal of hopeless waits, cancellation."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.vendor_client import ManualClock, RateLimitExceeded, SlidingWindowLimiter
from tests.vendor_client.windows import busiest_window


async def starts_of(limiter: SlidingWindowLimiter, clock: ManualClock, count: int,
                    arrivals: list[float] | None = None) -> list[float]:
    """Clock times at which ``count`` callers got their permits (arriving at ``arrivals``)."""
    starts: list[float] = []

    async def call(delay: float) -> None:
        await clock.sleep(delay)
        async with limiter.permit():
            starts.append(clock.now())

    delays = arrivals or [0.0] * count
    await clock.drive(asyncio.gather(*(call(d) for d in delays)))
    return starts


@pytest.mark.parametrize("rate", [1, 5, 10, 2.5, 0.5])
async def test_no_one_second_window_holds_more_than_rate_starts(rate: float) -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(rate, clock=clock, max_wait=None)
    began = clock.now()
    starts = await starts_of(limiter, clock, 25)
    assert len(starts) == 25
    burst = max(1, int(rate))
    assert busiest_window(starts) <= max(rate, 1)
    assert busiest_window(starts, burst / rate) <= burst  # below 1 per second: 1 per 1/rate s
    assert sum(1 for t in starts if t == began) == burst  # a burst right away after idle
    assert busiest_window(starts) == burst  # and the limit is used, not undercut


async def test_ten_per_second_is_ten_now_then_ten_a_window_later() -> None:
    clock = ManualClock(start=0.0)
    limiter = SlidingWindowLimiter(10, clock=clock, margin=0.0)
    starts = await starts_of(limiter, clock, 25)
    assert starts == [0.0] * 10 + [1.0] * 10 + [2.0] * 5


@settings(max_examples=40, deadline=None)
@given(rate=st.integers(min_value=1, max_value=20),
       arrivals=st.lists(st.floats(min_value=0, max_value=5, allow_nan=False),
                         min_size=1, max_size=60))
def test_any_arrival_pattern_keeps_every_window_within_the_rate(
        rate: int, arrivals: list[float]) -> None:
    async def scenario() -> list[float]:
        clock = ManualClock(start=0.0)
        limiter = SlidingWindowLimiter(rate, clock=clock, max_wait=None)
        return await starts_of(limiter, clock, len(arrivals), arrivals)

    starts = asyncio.run(scenario())
    assert len(starts) == len(arrivals)
    assert busiest_window(starts) <= rate


async def test_counters_show_waiting_and_running_requests() -> None:
    limiter = SlidingWindowLimiter(1000, max_in_flight=2)
    release = asyncio.Event()
    entered = asyncio.Semaphore(0)

    async def call() -> None:
        async with limiter.permit():
            entered.release()
            await release.wait()

    tasks = [asyncio.create_task(call()) for _ in range(5)]
    for _ in range(2):
        await entered.acquire()
    await asyncio.sleep(0)
    assert (limiter.in_flight_size, limiter.queue_size) == (2, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert (limiter.in_flight_size, limiter.queue_size) == (0, 0)


async def test_a_request_that_would_wait_too_long_fails_at_once() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(1, max_wait=2.0, margin=0.0, clock=clock)
    await limiter.acquire()
    limiter.release()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(2)]
    await clock.next_sleeper()  # the first waits for the window, the second behind it
    assert limiter.queue_size == 2 and limiter.estimated_wait() == pytest.approx(3.0)
    with pytest.raises(RateLimitExceeded, match="2 requests already queued"):
        await limiter.acquire()
    assert limiter.queue_size == 2
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert limiter.queue_size == 0


async def test_a_cancelled_waiter_leaves_counters_and_slots_intact() -> None:
    limiter = SlidingWindowLimiter(1000, max_in_flight=1)
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.queue_size == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert (limiter.queue_size, limiter.in_flight_size) == (0, 1)
    limiter.release()
    await asyncio.wait_for(limiter.acquire(), 1)  # the slot came back
    limiter.release()


async def test_rate_zero_is_unlimited_and_never_sleeps() -> None:
    clock = ManualClock()
    limiter = SlidingWindowLimiter(0, clock=clock)
    for _ in range(100):
        async with limiter.permit():
            pass
    assert clock.sleepers == 0 and limiter.estimated_wait() == 0.0


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        SlidingWindowLimiter(-1)
    with pytest.raises(ValueError, match="max_in_flight"):
        SlidingWindowLimiter(5, max_in_flight=0)
