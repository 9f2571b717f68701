"""A request rate limiter with a bounded number of requests in flight.

Semantics (the PlaceOS calendar limiter, made real for Graph):

* at most ``rate`` requests start in any window of ``1 s`` (plus a small safety margin, so a
  server measuring arrival times never sees more): a burst of up to ``rate`` after idle time,
  then one permit each ``1 / rate`` seconds;
* at most ``max_in_flight`` requests run at once;
* ``queue_size`` is the number of requests waiting for a permit, ``in_flight_size`` the number
  running; permits are handed out first come, first served;
* a request that would wait longer than ``max_wait`` seconds fails at once with
  ``RateLimitExceeded``.

A sliding window of start times is used rather than a token bucket: a full bucket of ``rate``
tokens followed by a steady refill lets almost ``2 * rate`` requests start within one second,
which is exactly what the limit is meant to prevent.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import RateLimitExceeded

__all__ = ["RateLimiter"]

DEFAULT_MAX_IN_FLIGHT = 10
DEFAULT_MAX_WAIT = 90.0
WINDOW_MARGIN = 0.1


class RateLimiter:
    """Permits at ``rate`` per second, at most ``max_in_flight`` concurrent holders."""

    def __init__(
        self,
        rate: float,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_wait: float = DEFAULT_MAX_WAIT,
        window_margin: float = WINDOW_MARGIN,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1, math.floor(rate))
        self.window = self.burst / self.rate + window_margin
        self.max_in_flight = max_in_flight
        self.max_wait = max_wait
        self._starts: deque[float] = deque(maxlen=self.burst)
        self._order = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queued = 0
        self._in_flight = 0

    @property
    def queue_size(self) -> int:
        """Requests waiting for a permit."""
        return self._queued

    @property
    def in_flight_size(self) -> int:
        """Requests holding a permit (running)."""
        return self._in_flight

    def estimated_wait(self) -> float:
        """Seconds a request arriving now would wait for its permit (lower bound)."""
        now = time.monotonic()
        ahead = self._queued
        free_now = self.burst - sum(1 for t in self._starts if now - t < self.window)
        backlog = ahead - free_now + 1
        if backlog <= 0:
            return 0.0
        return backlog / self.rate

    async def acquire(self) -> None:
        """Wait for a permit and an in-flight slot; raise when the wait would be too long."""
        wait = self.estimated_wait()
        if wait > self.max_wait:
            raise RateLimitExceeded(
                f"wait time would be exceeded for API request, {self._queued} requests already "
                f"queued (about {wait:.0f} s at {self.rate:g} requests/s, limit "
                f"{self.max_wait:g} s)"
            )
        self._queued += 1
        slot_taken = False
        try:
            async with self._order:
                await self._slots.acquire()
                slot_taken = True
                await self._wait_for_window()
                self._starts.append(time.monotonic())
        except BaseException:
            if slot_taken:
                self._slots.release()
            raise
        finally:
            self._queued -= 1
        self._in_flight += 1

    def release(self) -> None:
        """Give back the in-flight slot taken by ``acquire``."""
        self._in_flight -= 1
        self._slots.release()

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """``async with limiter.permit():`` runs the body under a permit."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def _wait_for_window(self) -> None:
        while len(self._starts) >= self.burst:
            delay = self._starts[0] + self.window - time.monotonic()
            if delay <= 0:
                return
            await asyncio.sleep(delay)
