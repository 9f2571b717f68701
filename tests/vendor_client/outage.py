"""One scenario for both drivers: an idle outage and its recovery, timed on a manual clock.

The driver's own probe runs against a real emulator; only the waiting between probes is on the
manual clock, so the test shows the default timings exactly and takes no wall-clock time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from drivers.vendor_client import HealthMonitor, ManualClock

#: Time for one real probe against a local emulator (not the clock under test).
PROBE_DEADLINE = 10.0


@dataclass
class OutageTimes:
    """Seconds on the manual clock from the outage to ``connected`` false, and from the
    recovery to ``connected`` true."""

    to_disconnected: float
    to_connected: float


class StateChanges:
    """``on_change`` for a monitor: keeps the values (and the monitor's reasons, once
    ``monitor`` is set) and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.values: list[bool] = []
        self.reasons: list[str] = []
        self.monitor: HealthMonitor | None = None
        self._changed = asyncio.Condition()

    def __call__(self, connected: bool) -> None:
        self.values.append(connected)
        self.reasons.append(self.monitor.reason if self.monitor is not None else "")
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int) -> bool:
        """The ``count``-th value, once there is one."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.values) >= count), PROBE_DEADLINE)
        return self.values[count - 1]


async def idle_outage(monitor: HealthMonitor, clock: ManualClock, changes: StateChanges,
                      set_down: Callable[[bool], Awaitable[Any]]) -> OutageTimes:
    """Run ``monitor`` with no traffic: connect, take the vendor down, bring it back."""
    changes.monitor = monitor
    runner = asyncio.create_task(monitor.run())
    try:
        assert await changes.wait_for(1) is True, monitor.reason
        await clock.next_sleeper()
        await set_down(True)
        down_at = clock.now()
        assert await _probe_until_change(monitor, clock, changes, 2) is False
        disconnected_after = clock.now() - down_at
        await set_down(False)
        up_at = clock.now()
        assert await _probe_until_change(monitor, clock, changes, 3) is True
        return OutageTimes(disconnected_after, clock.now() - up_at)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def _probe_until_change(monitor: HealthMonitor, clock: ManualClock,
                              changes: StateChanges, count: int) -> bool:
    """Wake the sleeping probe, one interval at a time, until the ``count``-th change."""
    while len(changes.values) < count:
        await clock.next_sleeper()
        clock.advance_to_next()
        await _after_probe(monitor, clock, changes, count)
    return changes.values[count - 1]


async def _after_probe(monitor: HealthMonitor, clock: ManualClock, changes: StateChanges,
                       count: int) -> None:
    """Wait until the probe just woken has finished: a change arrived or it sleeps again."""
    changed = asyncio.ensure_future(changes.wait_for(count))
    sleeping = asyncio.ensure_future(clock.next_sleeper())
    try:
        await asyncio.wait({changed, sleeping}, timeout=PROBE_DEADLINE,
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        changed.cancel()
        sleeping.cancel()
