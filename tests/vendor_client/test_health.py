"""The health monitor on a manual clock: when it probes, what it reports, what it logs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from drivers.vendor_client import (
    Health,
    HealthMonitor,
    HealthTimings,
    ManualClock,
    RateLimitExceeded,
)


class Recorder:
    """A logger that keeps ``(level, message, fields)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        return lambda message, **fields: self.lines.append((level, message, fields))


class Vendor:
    """A probe target that is up or down; counts probes and their clock times."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.up = True
        self.probes: list[float] = []
        self.probed = asyncio.Event()

    async def probe(self) -> None:
        self.probes.append(self.clock.now())
        self.probed.set()
        if not self.up:
            raise ConnectionResetError("connection reset by peer")


async def until(condition: Callable[[], bool], rounds: int = 200) -> None:
    """Let the event loop run until ``condition`` holds (no wall-clock waiting)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_probe_at_start_then_only_when_evidence_is_due() -> None:
    clock = ManualClock(start=0.0)
    vendor = Vendor(clock)
    changes: list[bool] = []
    log = Recorder()
    monitor = HealthMonitor("Vendor", vendor.probe, changes.append, logger=log, clock=clock)
    runner = asyncio.create_task(monitor.run())
    try:
        await clock.next_sleeper()
        assert vendor.probes == [0.0] and changes == [True] and monitor.connected
        assert clock.next_deadline == 10.0  # idle and connected: probe after 10 s
        clock.advance(4.0)
        monitor.succeeded()  # real traffic is evidence too: the probe moves back
        clock.advance_to(10.0)
        await until(lambda: clock.next_deadline == 14.0)
        assert vendor.probes == [0.0] and clock.sleepers == 1
        vendor.up = False
        clock.advance_to(14.0)
        await until(lambda: len(changes) == 2 and clock.sleepers == 1)
        assert vendor.probes == [0.0, 14.0] and changes == [True, False]
        assert monitor.state is Health.DISCONNECTED
        assert monitor.reason == "connection reset by peer"
        assert clock.next_deadline == 19.0  # disconnected: every 5 s
        clock.advance_to(19.0)
        await until(lambda: clock.next_deadline == 24.0)
        assert changes == [True, False] and vendor.probes[-1] == 19.0
        vendor.up = True
        clock.advance_to(24.0)
        await until(lambda: len(changes) == 3)
        assert changes == [True, False, True] and vendor.probes[-1] == 24.0
    finally:
        runner.cancel()
    warnings = [line for line in log.lines if line[0] == "warning"]
    assert warnings == [("warning", "Vendor unavailable",
                         {"reason": "connection reset by peer", "probe_every": 5.0})]
    assert ("debug", "Vendor still unavailable", {"reason": "connection reset by peer"}) \
        in log.lines
    assert [line[1] for line in log.lines if line[0] == "info"] == ["Vendor connected"] * 2


async def test_a_failure_at_start_is_a_warning_with_its_reason() -> None:
    clock = ManualClock(start=0.0)
    log = Recorder()
    changes: list[bool] = []

    async def refused() -> None:
        raise PermissionError("invalid_client: AADSTS7000215")

    monitor = HealthMonitor("Vendor", refused, changes.append, logger=log, clock=clock)
    assert await monitor.probe_once() is False
    assert changes == [False]
    assert log.lines == [("warning", "Vendor unavailable",
                          {"reason": "invalid_client: AADSTS7000215", "probe_every": 5.0})]


async def test_a_failure_of_traffic_wakes_the_monitor_to_probe_within_the_short_interval(
) -> None:
    clock = ManualClock(start=0.0)
    vendor = Vendor(clock)
    monitor = HealthMonitor("Vendor", vendor.probe, lambda _: None, clock=clock,
                            timings=HealthTimings(probe_interval=2.0,
                                                  connected_probe_interval=30.0))
    runner = asyncio.create_task(monitor.run())
    try:
        await clock.next_sleeper()
        assert clock.next_deadline == 30.0
        clock.advance(1.0)
        monitor.failed("reset during a request")
        await until(lambda: clock.next_deadline == 3.0)  # not 30: recovery is looked for
        assert clock.sleepers == 1
    finally:
        runner.cancel()


def test_server_errors_count_only_in_a_row() -> None:
    changes: list[bool] = []
    monitor = HealthMonitor("Vendor", Vendor(ManualClock()).probe, changes.append,
                            timings=HealthTimings(server_errors_before_down=2))
    monitor.succeeded()
    monitor.server_error(500)
    monitor.succeeded()
    monitor.server_error(502)
    assert changes == [True]
    monitor.server_error(503)
    assert changes == [True, False]
    assert monitor.reason == "2 server errors in a row (last HTTP 503)"


async def test_a_probe_refused_by_our_own_rate_limiter_is_no_evidence() -> None:
    clock = ManualClock(start=0.0)
    changes: list[bool] = []

    async def queued_out() -> None:
        raise RateLimitExceeded("rate limit: 400 requests already queued")

    monitor = HealthMonitor("Vendor", queued_out, changes.append, clock=clock)
    monitor.succeeded()
    assert await monitor.probe_once() is False
    assert changes == [True] and monitor.connected


async def test_a_probe_without_an_answer_fails_after_the_probe_timeout() -> None:
    changes: list[bool] = []
    hanging = asyncio.Event()

    async def blackhole() -> None:
        await hanging.wait()

    monitor = HealthMonitor("Vendor", blackhole, changes.append,
                            timings=HealthTimings(probe_timeout=0.01))
    assert await monitor.probe_once() is False
    assert changes == [False] and monitor.reason == "no answer within 0.01 s"
