"""The request log of an emulator running in this process, with a wait that wakes on each
request the emulator records (it appends an entry as each vendor request arrives)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from fixtures.emulator_base import RunningEmulator

#: Seconds a wait for requests may take before the test fails (bounds a failure only).
REQUEST_TIMEOUT = 30.0

Entry = dict[str, Any]


class WatchedLog(list[Entry]):
    """A request log that wakes its waiters whenever an entry is added."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        super().__init__(entries)
        self._added = asyncio.Event()

    def append(self, entry: Entry) -> None:
        super().append(entry)
        self._added.set()

    async def until(
        self, condition: Callable[[list[Entry]], bool], what: str,
        timeout: float = REQUEST_TIMEOUT,
    ) -> list[Entry]:
        """The entries once `condition(entries)` holds (checked as each request arrives)."""
        try:
            async with asyncio.timeout(timeout):
                while not condition(list(self)):
                    self._added.clear()
                    await self._added.wait()
        except TimeoutError:
            raise AssertionError(f"{what}: not within {timeout:g} s; log: {list(self)}") from None
        return list(self)


def watch_requests(emulator: RunningEmulator) -> WatchedLog:
    """Put a `WatchedLog` in place of the emulator's request log (keeping what it holds)."""
    watched = WatchedLog(emulator.control.log)
    emulator.control.log = watched
    return watched
