"""A driver's health monitor over the module's life, published as its ``connected`` status.

``on_load`` / ``on_update`` call ``replace`` (a monitor for the new client; the previous one is
stopped) and then ``start`` (its probing loop runs as a timer of the module); ``on_unload`` calls
``stop``. A stopped monitor can no longer change ``connected``, even from a probe still
finishing, so a client replaced by a settings update never overwrites its successor's state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .clock import SYSTEM_CLOCK, Clock
from .health import HealthMonitor, HealthTimings

__all__ = ["Cancellable", "HealthLifecycle", "Schedule"]


class Cancellable(Protocol):
    """What a scheduled task handle must offer (the runtime's ``Timer``)."""

    def cancel(self) -> None: ...


class Schedule(Protocol):
    """Where the probing loop runs (the runtime's ``Driver.schedule``)."""

    def in_(self, seconds: float, callback: Callable[[], Any]) -> Cancellable: ...


class HealthLifecycle:
    """At most one running health monitor per driver; its changes go to ``publish``."""

    def __init__(
        self,
        vendor: str,
        publish: Callable[[bool], None],
        schedule: Schedule,
        *,
        logger: Any = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.vendor = vendor
        self.monitor: HealthMonitor | None = None
        self._publish = publish
        self._schedule = schedule
        self._logger = logger
        self._clock = clock
        self._generation = 0
        self._task: Cancellable | None = None

    @property
    def running(self) -> bool:
        """Whether a monitor is probing."""
        return self._task is not None

    def replace(
        self, probe: Callable[[], Awaitable[Any]], timings: HealthTimings
    ) -> HealthMonitor:
        """Stop the current monitor and create (not yet start) one that sends ``probe``."""
        self.stop()
        generation = self._generation
        self.monitor = HealthMonitor(
            self.vendor, probe, lambda connected: self._changed(generation, connected),
            timings=timings, logger=self._logger, clock=self._clock)
        return self.monitor

    def start(self) -> None:
        """Start probing with the monitor ``replace`` created (the first probe at once)."""
        if self.monitor is None:
            raise RuntimeError("no health monitor to start: call replace first")
        if self._task is None:
            self._task = self._schedule.in_(0, self.monitor.run)

    def stop(self, *, connected: bool | None = None) -> None:
        """Stop probing and ignore the stopped monitor from now on; publish ``connected``
        when given."""
        self._generation += 1
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.monitor = None
        if connected is not None:
            self._publish(connected)

    def _changed(self, generation: int, connected: bool) -> None:
        if generation == self._generation:
            self._publish(connected)
