"""429 answers are retried after rateLimit-reset (bounded)."""

from __future__ import annotations

import time

import pytest
from multidict import CIMultiDict

from drivers.vendor_client import wait_hint
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


def test_reset_header_parsing() -> None:
    assert wait_hint(CIMultiDict({"ratelimit-reset": "2"})) == 2.0
    assert wait_hint(CIMultiDict({"RateLimit-Reset": " 0.5 "})) == 0.5
    assert wait_hint(CIMultiDict({"rateLimit-reset": "soon", "Retry-After": "3"})) == 3.0
    assert wait_hint(CIMultiDict()) is None


async def test_429_waits_for_the_reset_and_retries(emulator: RunningEmulator) -> None:
    now = int(time.time())
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        await wait_status(client, "connected", True)
        await control(emulator, "DELETE", "requests")
        await control(emulator, "POST", "faults", {"status": 429, "retry_after": 0.3, "count": 2})
        began = time.monotonic()
        events = await client.exec(SYS, "Calendar", "list_events", [HARUTO, now - DAY, now + DAY])
        elapsed = time.monotonic() - began
    assert events and elapsed >= 0.6
    attempts = await request_log(emulator, "/events")
    assert [e["status"] for e in attempts] == [429, 429, 200]
    assert attempts[1]["t"] - attempts[0]["t"] >= 0.29
    assert attempts[2]["t"] - attempts[1]["t"] >= 0.29


async def test_429_retries_are_bounded(emulator: RunningEmulator) -> None:
    now = int(time.time())
    async with lineworks_runtime(emulator, {"max_retries": 2}) as rt, \
            rt.client() as client:
        await wait_status(client, "connected", True)
        await control(emulator, "DELETE", "requests")
        await control(emulator, "POST", "faults", {"status": 429, "retry_after": 0.05, "count": 5})
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
        assert caught.value.msg.startswith("module raised: LINE WORKS GET /v1.0/users/")
        assert ("HTTP 429 TOO_MANY_REQUESTS: API rate limit exceeded (gave up after 2 retries; "
                "rateLimit-reset 0.05 s) (LineWorksError)") in caught.value.msg
        assert len(await request_log(emulator, "/events")) == 3
        assert rt.driver("mod-lw").status["connected"] is True, "throttling is not an outage"
        await control(emulator, "POST", "faults", {"clear": True})
        await control(emulator, "DELETE", "requests")
        await control(emulator, "POST", "faults", {"status": 429, "retry_after": 600})
        began = time.monotonic()
        with pytest.raises(ExecError, match="gave up after 0 retries; rateLimit-reset 600 s"):
            await client.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
        assert time.monotonic() - began < 2, "a reset beyond max_retry_wait fails at once"
