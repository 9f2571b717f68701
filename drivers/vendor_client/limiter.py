"""A sliding-window request limiter with a bounded number of requests in flight.

* At most ``burst = floor(rate)`` requests (at least one) start in any window of
  ``max(1, burst / rate)`` seconds plus ``margin``: so no 1 s window ever holds more than
  ``rate`` starts, even right after an idle period, and a server that measures arrival times
  with some jitter still sees no more than that.
* At most ``max_in_flight`` requests run at once.
* Permits are handed out first come, first served; ``queue_size`` counts the requests waiting
  for one, ``in_flight_size`` those holding one.
* A request that would wait longer than ``max_wait`` seconds fails at once with
  ``RateLimitExceeded`` instead of joining the queue.
* ``rate`` 0 turns the rate limit off (the in-flight bound still applies).

Why a window of start times and not a token bucket: a full bucket of ``rate`` tokens plus its
steady refill lets almost ``2 * rate`` requests start within one second, which is exactly what a
vendor's "requests per second" limit forbids.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from .clock import SYSTEM_CLOCK, Clock
from .errors import RateLimitExceeded

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_MAX_WAIT",
    "WINDOW_MARGIN",
    "SlidingWindowLimiter",
]

#: Requests running at once unless a driver says otherwise.
DEFAULT_MAX_IN_FLIGHT = 10
#: Longest wait for a permit before a request is refused (seconds; None = no bound).
DEFAULT_MAX_WAIT = 90.0
#: Seconds added to the window so that network jitter cannot squeeze starts closer together.
WINDOW_MARGIN = 0.05


class SlidingWindowLimiter:
    """Permits at ``rate`` per second, at most ``max_in_flight`` concurrent holders."""

    def __init__(
        self,
        rate: float,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_wait: float | None = DEFAULT_MAX_WAIT,
        margin: float = WINDOW_MARGIN,
        clock: Clock = SYSTEM_CLOCK,
        on_start: Callable[[float], None] | None = None,
    ) -> None:
        if rate < 0 or math.isnan(rate):
            raise ValueError("rate must be 0 (off) or positive")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.rate = float(rate)
        self.burst = max(1, math.floor(rate)) if rate > 0 else 0
        self.window = (max(1.0, self.burst / self.rate) + margin) if rate > 0 else 0.0
        self.max_in_flight = max_in_flight
        self.max_wait = max_wait
        self._clock = clock
        self._on_start = on_start
        self._starts: deque[float] = deque(maxlen=max(1, self.burst))
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
        """Seconds a request arriving now would wait for its permit (a lower bound)."""
        if self.burst == 0:
            return 0.0
        now = self._clock.now()
        free_now = self.burst - sum(1 for t in self._starts if now - t < self.window)
        backlog = self._queued - free_now + 1
        if backlog <= 0:
            return 0.0
        return backlog * self.window / self.burst

    async def acquire(self) -> None:
        """Wait for a permit and an in-flight slot; raise ``RateLimitExceeded`` when the wait
        would be longer than ``max_wait``."""
        if self.max_wait is not None:
            wait = self.estimated_wait()
            if wait > self.max_wait:
                raise RateLimitExceeded(
                    f"rate limit: {self._queued} requests already queued, about {wait:.0f} s "
                    f"at {self.rate:g} requests/s (longest wait {self.max_wait:g} s)")
        self._queued += 1
        try:
            async with self._order:
                await self._slots.acquire()
                try:
                    await self._wait_for_window()
                except BaseException:
                    self._slots.release()
                    raise
                started = self._clock.now()
                if self.burst:
                    self._starts.append(started)
        finally:
            self._queued -= 1
        self._in_flight += 1
        if self._on_start is not None:
            self._on_start(started)

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
        while self.burst and len(self._starts) >= self.burst:
            delay = self._starts[0] + self.window - self._clock.now()
            if delay <= 0:
                return
            await self._clock.sleep(delay)
