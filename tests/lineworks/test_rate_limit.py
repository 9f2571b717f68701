"""429 answers are retried after rateLimit-reset (bounded); the client-side limiter paces calls."""

from __future__ import annotations

import asyncio
import time

import pytest
from multidict import CIMultiDict

from drivers.lineworks.client import rate_limit_reset
from drivers.lineworks.ratelimit import RequestLimiter
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
    assert rate_limit_reset(CIMultiDict({"ratelimit-reset": "2"})) == 2.0
    assert rate_limit_reset(CIMultiDict({"RateLimit-Reset": " 0.5 "})) == 0.5
    assert rate_limit_reset(CIMultiDict({"rateLimit-reset": "soon", "Retry-After": "3"})) == 3.0
    assert rate_limit_reset(CIMultiDict()) is None


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
    async with lineworks_runtime(emulator, {"max_rate_limit_retries": 2}) as rt, \
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
        assert time.monotonic() - began < 2, "a reset beyond max_rate_limit_wait fails at once"


async def test_limiter_paces_and_counts_waiting_requests() -> None:
    limiter = RequestLimiter(20)
    seen_waiting: list[int] = []

    async def call() -> None:
        async with limiter.permit():
            seen_waiting.append(limiter.queue_size)
            await asyncio.sleep(0)

    began = time.monotonic()
    await asyncio.gather(*(call() for _ in range(25)))
    elapsed = time.monotonic() - began
    assert 0.2 <= elapsed < 1.5, "a burst of 20, then 20 per second"
    assert max(seen_waiting) > 0 and limiter.queue_size == 0 and limiter.in_flight == 0
    unlimited = RequestLimiter(0)
    began = time.monotonic()
    for _ in range(100):
        async with unlimited.permit():
            pass
    assert time.monotonic() - began < 0.5
