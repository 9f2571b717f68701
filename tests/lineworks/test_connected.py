"""`connected` follows reachability and credentials, idle or not: an outage within 10 s, a
recovery within 5 s; the LINE WORKS client keeps to its rate limit."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from drivers.lineworks.api import CalendarApi
from drivers.lineworks.auth import ServiceAccount, TokenProvider
from drivers.lineworks.client import MAX_CONCURRENT_REQUESTS, LineWorksClient
from drivers.lineworks.settings import DriverSettings, load_private_key
from drivers.vendor_client import HealthMonitor, ManualClock, SlidingWindowLimiter
from embedded.settings import lineworks_settings
from fixtures.emulator_base import RunningEmulator
from runtime.testing import ExecError
from tests.lineworks.helpers import (
    DAY,
    HARUTO,
    HARUTO_DEFAULT,
    MOD,
    SYS,
    control,
    lineworks_runtime,
    request_log,
    wait_status,
)
from tests.support.request_log import watch_requests
from tests.vendor_client.outage import StateChanges, idle_outage
from tests.vendor_client.windows import busiest_window


async def test_outage_sets_false_and_probe_sets_true(emulator: RunningEmulator) -> None:
    now = int(time.time())
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        await control(emulator, "POST", "faults", {"down": True})
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
        assert "cannot reach LINE WORKS" in caught.value.msg
        assert caught.value.msg.endswith("(LineWorksConnectionError)")
        assert (await client.next_notify())["value"] is False
        await control(emulator, "DELETE", "requests")
        await control(emulator, "POST", "faults", {"down": False})
        assert (await client.next_notify(timeout=3))["value"] is True
        probes = await request_log(emulator, "/users/emulated.serviceaccount/calendar")
        assert probes, "recovery was found by the probe, not by a command"
        assert await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])


async def test_repeated_server_errors_set_false(emulator: RunningEmulator) -> None:
    now = int(time.time())
    async with lineworks_runtime(emulator, {"max_retries": 2}) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        await control(emulator, "POST", "faults", {"status": 503, "count": 1})
        assert await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
        assert rt.driver("mod-lw").status["connected"] is True, "one 5xx is retried, not an outage"
        await control(emulator, "POST", "faults", {"status": 503, "count": 3})
        with pytest.raises(ExecError, match="HTTP 503 SERVICE_UNAVAILABLE"):
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
        assert (await client.next_notify())["value"] is False
        assert (await client.next_notify(timeout=3))["value"] is True


async def test_refused_credentials_keep_it_false(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator, {"lineworks": {"client_secret": "wrong"}}) as rt, \
            rt.client() as client:
        await wait_status(client, "connected", False)
        log = watch_requests(emulator)
        await control(emulator, "DELETE", "requests")
        # a third probe starts only once the second has been answered
        probes = await log.until(lambda entries: len(entries) >= 3, "probes while refused")
        assert rt.driver("mod-lw").status["connected"] is False
    answered = [e for e in probes if e["status"] is not None]
    assert len(answered) >= 2, "it keeps probing every probe_interval while refused"
    assert all(e["path"] == "/oauth2/v2.0/token" for e in probes)
    assert all(e["status"] == 401 for e in answered)


@asynccontextmanager
async def lineworks_api(emulator: RunningEmulator, **options: Any) -> AsyncIterator[CalendarApi]:
    """The driver's LINE WORKS client for the emulator (``options`` go to LineWorksClient)."""
    settings = DriverSettings.model_validate(lineworks_settings(emulator))
    config = settings.lineworks
    account = ServiceAccount(config.client_id, config.client_secret, config.service_account,
                             load_private_key(config), config.scope)
    context = ssl.create_default_context(cafile=config.ca_file)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        options.setdefault("limiter", SlidingWindowLimiter(5))
        yield CalendarApi(LineWorksClient(
            api_base_url=config.api_base_url, session=session,
            tokens=TokenProvider(account, config.auth_url, session), **options))


async def test_idle_outage_and_recovery_are_noticed_within_the_default_times(
    emulator: RunningEmulator,
) -> None:
    clock = ManualClock()
    changes = StateChanges()
    async with lineworks_api(emulator) as api:
        monitor = HealthMonitor("LINE WORKS", lambda: api.probe("emulated.serviceaccount"),
                                changes, clock=clock)
        api.client.health = monitor
        await control(emulator, "DELETE", "requests")
        times = await idle_outage(monitor, clock, changes,
                                  lambda down: control(emulator, "POST", "faults",
                                                       {"down": down}))
    probes = await request_log(emulator)
    assert changes.values == [True, False, True]
    assert changes.reasons[1].startswith("cannot reach LINE WORKS")
    assert times.to_disconnected <= 10.0 and times.to_connected <= 5.0
    assert (times.to_disconnected, times.to_connected) == (10.0, 5.0)  # the defaults, exactly
    assert {entry["path"] for entry in probes} <= {
        "/oauth2/v2.0/token", "/v1.0/users/emulated.serviceaccount/calendar"}, "the cheap probe"


async def test_the_lineworks_client_never_starts_more_than_rate_limit_requests_a_second(
    emulator: RunningEmulator,
) -> None:
    clock = ManualClock()
    starts: list[float] = []
    limiter = SlidingWindowLimiter(5, max_in_flight=MAX_CONCURRENT_REQUESTS, clock=clock,
                                   on_start=starts.append)
    async with lineworks_api(emulator, limiter=limiter, clock=clock) as api:
        await api.default_calendar(HARUTO)  # the token, issued once
        starts.clear()
        await control(emulator, "DELETE", "requests")
        found = await clock.drive(asyncio.gather(*(api.default_calendar(HARUTO)
                                                   for _ in range(23))))
    sent = await request_log(emulator, "/calendar")
    assert [calendar["calendarId"] for calendar in found] == [HARUTO_DEFAULT] * 23
    assert len(starts) == len(sent) == 23
    assert busiest_window(starts) == 5
    assert max(starts) - min(starts) >= 4.0  # 23 starts at 5 a second need five windows


async def test_an_idle_module_follows_the_outage_and_warns_once(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str],
) -> None:
    async with lineworks_runtime(emulator, {"probe_interval": 0.1,
                                            "connected_probe_interval": 0.2}) as rt, \
            rt.client() as client:
        await wait_status(client, "connected", True)
        await control(emulator, "POST", "faults", {"down": True})
        await wait_status(client, "connected", False)  # no command sent: the probe found it
        await control(emulator, "POST", "faults", {"down": False})
        await wait_status(client, "connected", True)
        assert rt.driver(MOD).status["connected"] is True
    err = capfd.readouterr().err
    warnings = [  # the runtime's own loop watchdog may also name the module on a busy machine
        line for line in err.splitlines()
        if "[warning" in line and MOD in line and "event loop blocked" not in line
    ]
    assert len(warnings) == 1 and "LINE WORKS unavailable" in warnings[0]
    assert "cannot reach LINE WORKS" in warnings[0]


@pytest.mark.parametrize("case", ["wrong secret", "closed port"])
async def test_a_module_that_cannot_connect_at_start_warns_with_the_reason(
    emulator: RunningEmulator, capfd: pytest.CaptureFixture[str], case: str,
) -> None:
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{spare.getsockname()[1]}"
    lineworks, expected = {
        "wrong secret": ({"client_secret": "not-the-secret-4711"}, "invalid_client"),
        "closed port": ({"api_base_url": closed, "auth_url": closed + "/oauth2/v2.0/token"},
                        "cannot reach the LINE WORKS token endpoint"),
    }[case]
    async with lineworks_runtime(emulator, {"lineworks": lineworks}) as rt, \
            rt.client() as client:
        await wait_status(client, "connected", False)
    err = capfd.readouterr().err
    warnings = [
        line for line in err.splitlines()
        if "[warning" in line and MOD in line and "LINE WORKS unavailable" in line
    ]
    assert len(warnings) == 1
    assert expected in warnings[0] and "not-the-secret-4711" not in err
