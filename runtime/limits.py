"""Bounds on what clients can hold: execs in flight per credential, pending output per process.

`ExecTracker` counts every async exec from its start to its end, whether or not the connection
that asked for it is still open, so closing a connection never frees its credential's quota
early. At shutdown it lets the running execs finish for a grace period, then cancels the rest
(each answered with `error_code` 7 by whoever awaited it).

`OutputBudget` sums the bytes waiting in every connection's queue; when the sum passes the
budget, the connection with the most pending bytes is cut off first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

#: Bindings one connection may hold; the next bind gets an error reply naming the limit.
MAX_BINDINGS_PER_CONNECTION = 10_000
#: Execs one credential may have running across all its connections (closed ones included).
MAX_EXECS_PER_CREDENTIAL = 2048
#: Bytes all connections together may have waiting to be written.
MAX_TOTAL_PENDING_BYTES = 256 * 1024 * 1024

SHUTTING_DOWN = "server shutting down"


class ExecTracker:
    """Async execs in flight: per credential, in total, and the tasks running them (a task
    runs one exec at a time, but may run others before and after it)."""

    __slots__ = ("_grace_ended", "_idle", "by_credential", "limit", "stopping", "tasks")

    def __init__(self, limit: int = MAX_EXECS_PER_CREDENTIAL) -> None:
        self.limit = limit
        self.by_credential: dict[str, int] = {}
        self.tasks: dict[asyncio.Task[object], str] = {}
        self.stopping = False
        self._grace_ended = False
        self._idle: asyncio.Event | None = None

    @property
    def in_flight(self) -> int:
        """Execs running now, in all connections and REST requests."""
        return len(self.tasks)

    def refusal(self, credential: str) -> str | None:
        """Why a new exec of `credential` may not start now, or None when it may."""
        if self.stopping:
            return SHUTTING_DOWN
        if self.by_credential.get(credential, 0) >= self.limit:
            return f"too many requests in flight for this credential (limit {self.limit})"
        return None

    def started(self, credential: str, task: asyncio.Task[object]) -> None:
        """Count `task` against `credential` until it ends."""
        self.tasks[task] = credential
        counts = self.by_credential
        counts[credential] = counts.get(credential, 0) + 1

    def finished(self, task: asyncio.Task[object]) -> None:
        """Stop counting `task` (idempotent)."""
        credential = self.tasks.pop(task, None)
        if credential is None:
            return
        counts = self.by_credential
        left = counts[credential] - 1
        if left:
            counts[credential] = left
        else:
            del counts[credential]
        if not self.tasks and self._idle is not None:
            self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Refuse new execs and wait up to `grace` seconds for the running ones to end.

        Returns whether they all ended in time.
        """
        self.stopping = True
        if not self.tasks or self._grace_ended:
            return not self.tasks
        self._idle = asyncio.Event()
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
        except TimeoutError:
            pass
        return not self.tasks

    def end_grace(self) -> None:
        """Stop waiting for running execs now (a second shutdown signal)."""
        self._grace_ended = True
        if self._idle is not None:
            self._idle.set()

    async def cancel_all(self, wait: float) -> None:
        """Cancel every exec still running and wait up to `wait` seconds for them to reply."""
        for task in list(self.tasks):
            task.cancel()
        await self.wait_idle(wait)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds until no exec runs; whether none does.

        Waits for the execs, not their tasks: a suspended exec may run in a pooled runner task
        that outlives it (runtime/tasks.py).
        """
        if not self.tasks:
            return True
        self._idle = idle = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await idle.wait()
        except TimeoutError:
            pass
        return not self.tasks


class _Holder(Protocol):
    @property
    def pending_bytes(self) -> int: ...

    def cut_off(self, reason: str) -> None: ...


class OutputBudget:
    """Bytes queued for writing across every connection of one runtime."""

    __slots__ = ("holders", "limit", "pending")

    def __init__(
        self,
        holders: Callable[[], Iterable[_Holder]],
        limit: int = MAX_TOTAL_PENDING_BYTES,
    ) -> None:
        self.holders = holders
        self.limit = limit
        self.pending = 0

    def overflow(self) -> None:
        """Cut off the connections holding the most until the total is within the budget."""
        while self.pending > self.limit:
            victim = max(self.holders(), key=lambda h: h.pending_bytes, default=None)
            if victim is None or victim.pending_bytes == 0:
                return
            victim.cut_off(
                f"process-wide output budget exceeded: {self.pending} bytes pending "
                f"(limit {self.limit}), this connection holds {victim.pending_bytes}"
            )
