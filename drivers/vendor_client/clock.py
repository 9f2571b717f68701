"""Time as the vendor-client toolkit sees it: a monotonic ``now`` and an awaitable ``sleep``.

Everything that waits (the rate limiter, retries, the health monitor) takes a ``Clock``, so tests
can pass a ``ManualClock`` and move time forward themselves instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol, TypeVar

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]

T = TypeVar("T")

#: Event-loop rounds ``drive`` gives woken tasks before it looks for the next deadline.
WAKE_ROUNDS = 5


class Clock(Protocol):
    """A monotonic time source with a matching sleep."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to; sleepers wake as ``advance`` passes their deadline.

    Made for tests: ``await clock.next_sleeper()`` waits until some task sleeps on the clock,
    ``clock.advance_to_next()`` jumps to the earliest deadline and wakes whoever is due.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sleeping = asyncio.Event()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        self._sleeping.set()
        await future

    @property
    def sleepers(self) -> int:
        """Tasks sleeping on this clock right now."""
        self._forget_cancelled()
        return len(self._sleepers)

    @property
    def next_deadline(self) -> float | None:
        """The earliest wake-up time, or None when nobody sleeps."""
        self._forget_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    async def next_sleeper(self) -> None:
        """Wait until at least one task sleeps on this clock."""
        while not self.sleepers:
            self._sleeping.clear()
            await self._sleeping.wait()

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleeper now due."""
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` (never backwards) and wake every sleeper now due."""
        self._now = max(self._now, when)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def advance_to_next(self) -> float:
        """Jump to the earliest deadline (waking its sleepers); returns the new time."""
        deadline = self.next_deadline
        if deadline is not None:
            self.advance_to(deadline)
        return self._now

    async def drive(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable``, jumping to the next deadline whenever something sleeps on this
        clock; real I/O meanwhile runs at its own pace."""
        task = asyncio.ensure_future(awaitable)
        try:
            while not task.done():
                sleeper = asyncio.ensure_future(self.next_sleeper())
                await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                if sleeper.done():
                    self.advance_to_next()
                    for _ in range(WAKE_ROUNDS):  # let the woken tasks run on to their next wait
                        await asyncio.sleep(0)
                else:
                    sleeper.cancel()
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    def _forget_cancelled(self) -> None:
        if any(future.done() for _, _, future in self._sleepers):
            self._sleepers = [entry for entry in self._sleepers if not entry[2].done()]
            heapq.heapify(self._sleepers)
