"""One health monitor at a time over a driver's life, run by the runtime's own scheduler on a
manual clock: started on load, replaced on update, stopped on unload."""

from __future__ import annotations

import asyncio

import pytest

from drivers.vendor_client import HealthLifecycle, HealthTimings, ManualClock
from runtime.scheduler import Scheduler
from tests.vendor_client.test_health import Recorder, Vendor, until


def lifecycle(clock: ManualClock, published: list[bool]) -> HealthLifecycle:
    return HealthLifecycle("Vendor", published.append, Scheduler(Recorder()), clock=clock)


async def test_connected_follows_an_idle_outage_at_the_default_times() -> None:
    clock = ManualClock(start=0.0)
    vendor = Vendor(clock)
    published: list[bool] = []
    health = lifecycle(clock, published)
    health.replace(vendor.probe, HealthTimings())
    health.start()
    try:
        await clock.next_sleeper()
        assert published == [True] and vendor.probes == [0.0]
        vendor.up = False
        clock.advance_to_next()
        await until(lambda: len(published) == 2)
        assert published == [True, False] and clock.now() == 10.0
        await clock.next_sleeper()
        vendor.up = True
        recovered_at = clock.now()
        clock.advance_to_next()
        await until(lambda: len(published) == 3)
        assert published == [True, False, True] and clock.now() - recovered_at == 5.0
    finally:
        health.stop()


async def test_stop_ends_probing_and_silences_the_stopped_monitor() -> None:
    clock = ManualClock(start=0.0)
    vendor = Vendor(clock)
    published: list[bool] = []
    health = lifecycle(clock, published)
    monitor = health.replace(vendor.probe, HealthTimings())
    health.start()
    await clock.next_sleeper()
    assert health.running and published == [True]
    health.stop()
    await until(lambda: clock.sleepers == 0)
    assert not health.running and health.monitor is None
    monitor.failed("a request of the old client failed after unload")
    assert published == [True]
    clock.advance(60.0)
    await asyncio.sleep(0)
    assert vendor.probes == [0.0], "no probe after stop"


async def test_a_replaced_monitor_cannot_overwrite_its_successor() -> None:
    clock = ManualClock(start=0.0)
    old_vendor, new_vendor = Vendor(clock), Vendor(clock)
    published: list[bool] = []
    health = lifecycle(clock, published)
    old = health.replace(old_vendor.probe, HealthTimings())
    health.start()
    await clock.next_sleeper()
    new_vendor.up = False
    new = health.replace(new_vendor.probe, HealthTimings(probe_interval=2.0))
    assert health.monitor is new and not health.running
    health.start()
    health.start()  # a second start runs no second loop
    await until(lambda: len(published) == 2 and clock.sleepers == 1)
    assert published == [True, False] and new_vendor.probes == [0.0]
    old.succeeded()
    assert published == [True, False]
    assert clock.next_deadline == 2.0, "the new monitor's timings"
    health.stop()


async def test_stop_can_publish_a_state_and_start_needs_a_monitor() -> None:
    published: list[bool] = []
    health = lifecycle(ManualClock(), published)
    with pytest.raises(RuntimeError, match="call replace first"):
        health.start()
    health.stop(connected=False)
    assert published == [False] and not health.running
