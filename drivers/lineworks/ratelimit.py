"""Client-side request pacing: a token bucket plus a cap on concurrent requests.

``rate`` permits are added per second up to a burst of ``rate``; each HTTP attempt takes one.
``queue_size`` counts calls waiting for a permit, ``in_flight`` those holding one. LINE WORKS
also limits concurrent connections per tenant, so at most ``max_concurrent`` run at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["MAX_CONCURRENT_REQUESTS", "RequestLimiter"]

MAX_CONCURRENT_REQUESTS = 5


class RequestLimiter:
    """Hands out permits at ``rate`` per second (0 = unlimited) in arrival order."""

    def __init__(self, rate: float, *, max_concurrent: int = MAX_CONCURRENT_REQUESTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._turn = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_concurrent)
        self.queue_size = 0
        self.in_flight = 0

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        """Wait for a permit and a concurrency slot; hold the slot for the block's duration."""
        self.queue_size += 1
        try:
            await self._take_token()
            await self._slots.acquire()
        finally:
            self.queue_size -= 1
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self._slots.release()

    async def _take_token(self) -> None:
        if self.rate <= 0:
            return
        async with self._turn:
            while True:
                now = self._clock()
                self._tokens = min(self._capacity,
                                   self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)
