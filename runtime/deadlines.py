"""Exec timeouts for many tasks at once, on one loop timer per timeout length.

`asyncio.timeout` costs a timer handle (a heap push and a cancel) per exec. Commands of one
module share one timeout length, so the deadlines of the execs started with one length arrive in
the order they were registered: an insertion-ordered dict per length is a queue whose head
expires first, an exec that ends removes itself in O(1), and one `call_at` per length, set for
the head, serves them all. A deadline counts from the exec's start, which may lie before its
registration (an exec is registered only once it suspends).
"""

from __future__ import annotations

import asyncio

Entry = tuple[float, asyncio.Task[object]]

#: asyncio's own loop clock, which is `time.monotonic()`.
_MONOTONIC_TIME = asyncio.BaseEventLoop.time


class _Group:
    """The running execs of one timeout length, oldest first, and the timer for the oldest."""

    __slots__ = ("due", "handle", "tasks")

    def __init__(self) -> None:
        self.tasks: dict[asyncio.Task[object], float] = {}
        self.handle: asyncio.TimerHandle | None = None
        self.due = 0.0


class Deadlines:
    """Cancels each registered task that is still running when its timeout has passed."""

    __slots__ = ("_expired", "_groups")

    def __init__(self) -> None:
        self._groups: dict[float, _Group] = {}
        self._expired: set[asyncio.Task[object]] = set()

    def add(self, task: asyncio.Task[object], timeout: float, started: float | None = None) -> None:
        """Cancel `task` `timeout` seconds after `started` (a `time.monotonic()` reading; now
        when None, or when the loop keeps another clock) unless `remove` is called first."""
        group = self._groups.get(timeout)
        if group is None:
            group = self._groups[timeout] = _Group()
        loop = task.get_loop()
        if started is None or type(loop).time is not _MONOTONIC_TIME:
            started = loop.time()
        group.tasks[task] = started + timeout
        if group.handle is None:
            self._arm(loop, timeout, group)

    def remove(self, task: asyncio.Task[object], timeout: float) -> bool:
        """Forget `task`; True when its deadline had already passed and cancelled it."""
        group = self._groups.get(timeout)
        if group is not None:
            group.tasks.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _arm(self, loop: asyncio.AbstractEventLoop, timeout: float, group: _Group) -> None:
        due = next(iter(group.tasks.values()))
        group.due = due
        group.handle = loop.call_at(due, self._fire, loop, timeout, group)

    def _fire(self, loop: asyncio.AbstractEventLoop, timeout: float, group: _Group) -> None:
        group.handle = None
        now = loop.time()
        tasks = group.tasks
        while tasks:
            task, due = next(iter(tasks.items()))
            if due > now:
                self._arm(loop, timeout, group)
                return
            del tasks[task]
            if not task.done():
                self._expired.add(task)
                task.cancel()
        del self._groups[timeout]

    def close(self) -> None:
        """Stop every timer (the tasks themselves are left alone)."""
        for group in self._groups.values():
            if group.handle is not None:
                group.handle.cancel()
        self._groups.clear()
        self._expired.clear()
