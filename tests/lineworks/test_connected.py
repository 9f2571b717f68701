"""`connected` follows reachability and credentials, and recovers through the 5 s probe."""

from __future__ import annotations

import asyncio
import time

import pytest

from fixtures.emulator_base import RunningEmulator
from runtime.testing import ExecError
from tests.lineworks.helpers import (
    DAY,
    HARUTO,
    SYS,
    control,
    lineworks_runtime,
    request_log,
    wait_status,
)


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
        await control(emulator, "DELETE", "requests")
        await asyncio.sleep(0.5)
        assert rt.driver("mod-lw").status["connected"] is False
    probes = await request_log(emulator)
    assert len(probes) >= 2, "it keeps probing every probe_interval while refused"
    assert all(e["path"] == "/oauth2/v2.0/token" and e["status"] == 401 for e in probes)
