"""The Graph client's behaviour under load and failure, end to end through the runtime against
the Graph emulator: rate limit, retries, outage and recovery, batching, paging, token renewal."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from fixtures.emulator_base import RunningEmulator
from fixtures.graph_emulator import start
from runtime.testing import ExecError, RuntimeHandle, TestClient
from tests.graph import emulator_helpers
from tests.graph.emulator_helpers import (
    SYSTEM,
    api_log,
    control,
    fault,
    log_length,
    seed,
)
from tests.support.request_log import watch_requests

DAY = 86400
PROBE_INTERVAL = 0.2


RETRIES = {"max_retries": 3, "retry_base_delay": 0.2, "max_retry_wait": 10.0}


def graph_runtime(emulator: RunningEmulator,
                  **settings: Any) -> AbstractAsyncContextManager[RuntimeHandle]:
    """The Graph driver against ``emulator``, retrying 3 times from 0.2 s."""
    return emulator_helpers.graph_runtime(emulator, probe_interval=PROBE_INTERVAL, **RETRIES,
                                          **settings)


async def call(client: TestClient, name: str, args: Any = None, **kwargs: Any) -> Any:
    return await client.exec(SYSTEM, "Calendar", name, args if args is not None else [], **kwargs)


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def wait_connected(client: TestClient, expected: bool, timeout: float) -> float:
    """Seconds until a ``connected`` notify with ``expected`` arrives."""
    began = time.monotonic()
    while True:
        remaining = timeout - (time.monotonic() - began)
        frame = await client.next_notify(timeout=max(remaining, 0.01))
        if frame.get("meta", {}).get("name", "connected") == "connected" \
                and frame["value"] is expected:
            return time.monotonic() - began


async def ready(client: TestClient) -> None:
    """Wait until the driver's first probe has connected (so it is not in the request log)."""
    await client.bind(SYSTEM, "Calendar", "connected")
    await wait_connected(client, True, 5)


async def test_rate_limit_holds_and_counters_show_the_queue(emulator: RunningEmulator) -> None:
    users = [u["id"] for u in (await seed(emulator))["users"]][:20]
    async with graph_runtime(emulator, rate_limit=5, batch_requests=False) as rt, \
            rt.client() as c:
        await ready(c)
        await fault(emulator, latency_ms=300)
        mark = await log_length(emulator)
        seen = {"queue": 0, "in_flight": 0}
        done = asyncio.Event()

        async def watch() -> None:
            while not done.is_set():
                seen["queue"] = max(seen["queue"], await call(c, "queue_size"))
                seen["in_flight"] = max(seen["in_flight"], await call(c, "in_flight_size"))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        began = time.monotonic()
        found = await asyncio.gather(*(call(c, "get_user", [u]) for u in users))
        elapsed = time.monotonic() - began
        done.set()
        await watcher
        assert [user["id"] for user in found] == users
        times = [e["t"] for e in await api_log(emulator, mark) if "/users/" in e["path"]]
    assert len(times) == 20
    assert busiest_second(times) <= 5
    assert seen["queue"] > 0 and seen["in_flight"] > 0
    assert elapsed >= 3.0  # 20 requests at 5 per second: 5 at once, then 15 more


async def test_429_retry_after_is_honoured(emulator: RunningEmulator) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        await ready(c)
        await fault(emulator, status=429, retry_after=1, count=1, path_prefix="/v1.0/users")
        mark = await log_length(emulator)
        assert len(await call(c, "list_users", [None, 2])) == 2
        log = await api_log(emulator, mark)
    assert [e["status"] for e in log] == [429, 200]
    assert log[1]["t"] - log[0]["t"] >= 0.95


async def test_503_is_retried_with_exponential_backoff(emulator: RunningEmulator) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        await ready(c)
        await fault(emulator, status=503, count=2, path_prefix="/v1.0/groups")
        mark = await log_length(emulator)
        assert await call(c, "list_groups")
        log = await api_log(emulator, mark)
    assert [e["status"] for e in log] == [503, 503, 200]
    first_gap, second_gap = (b["t"] - a["t"] for a, b in pairwise(log))
    assert first_gap >= 0.09  # half of 0.2 s at least (jitter)
    assert second_gap >= 0.19  # half of 0.4 s at least


async def test_a_throttled_part_of_a_batch_is_retried_alone(emulator: RunningEmulator) -> None:
    rooms = (await seed(emulator))["rooms"][:3]
    now = int(time.time())
    async with graph_runtime(emulator) as rt, rt.client() as c:
        await ready(c)
        await fault(emulator, status=429, retry_after=1, count=1,
                    path_prefix=f"/v1.0/users/{rooms[1]}")
        mark = await log_length(emulator)
        results = await asyncio.gather(*(call(c, "list_events", [room, now - DAY, now + DAY])
                                         for room in rooms))
        log = await api_log(emulator, mark)
    assert all(isinstance(events, list) for events in results)
    assert log[0]["path"] == "/v1.0/$batch"
    assert sorted(part["status"] for part in log[0]["inner"]) == [200, 200, 429]
    assert [e["path"].split("/")[3] for e in log[1:]] == [rooms[1]]  # only it, on its own
    assert log[1]["t"] - log[0]["t"] >= 0.95


async def test_outage_disconnects_and_probes_reconnect(emulator: RunningEmulator) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        await ready(c)
        await fault(emulator, down=True)
        with pytest.raises(ExecError) as error:
            await call(c, "list_users")
        assert error.value.error_code == 3
        assert "cannot reach Microsoft Graph" in error.value.msg
        await wait_connected(c, False, 5)
        log = watch_requests(emulator)
        mark = len(log)

        def probes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [e for e in entries[mark:] if e["path"] == "/v1.0/users"]

        # probing on its own while disconnected
        await log.until(lambda entries: len(probes(entries)) >= 2, "probes while disconnected")
        await fault(emulator, down=False)
        assert await wait_connected(c, True, 5) <= PROBE_INTERVAL + 1.0
        assert len(await call(c, "list_users", [None, 1])) == 1


async def test_forty_concurrent_room_listings_take_at_most_four_requests(
    emulator: RunningEmulator,
) -> None:
    rooms = (await seed(emulator))["rooms"][:40]
    assert len(rooms) == 40
    now = int(time.time())
    async with graph_runtime(emulator, rate_limit=5) as rt, rt.client() as c:
        await ready(c)
        mark = await log_length(emulator)
        began = time.monotonic()
        results = await asyncio.gather(*(call(c, "list_events", [room, now - DAY, now + DAY])
                                         for room in rooms))
        elapsed = time.monotonic() - began
        log = await api_log(emulator, mark)
    assert len(results) == 40
    for room, events in zip(rooms, results, strict=True):
        assert all(event["mailbox"] == room for event in events)
    assert len(log) <= 4
    assert sum(len(e.get("inner", [])) or 1 for e in log) == 40
    assert elapsed < 2.0  # a batch takes one rate-limit permit, not twenty


@pytest.fixture
async def paged_emulator(tmp_path: Path) -> AsyncIterator[RunningEmulator]:
    async with await start(tmp_path / "paged-certs", page_size=12) as running:
        yield running


async def test_listings_spanning_three_pages_return_every_item(
    paged_emulator: RunningEmulator,
) -> None:
    tenant = await seed(paged_emulator)
    enabled = sorted(u["mail"] for u in tenant["users"] if u.get("accountEnabled"))
    assert len(enabled) > 24
    async with graph_runtime(paged_emulator) as rt, rt.client() as c:
        await ready(c)
        mark = await log_length(paged_emulator)
        users = await call(c, "list_users")
        pages = [e for e in await api_log(paged_emulator, mark) if e["path"] == "/v1.0/users"]
        limited = await call(c, "list_users", [None, 13])
    assert sorted(u["email"] for u in users) == enabled
    assert len(pages) >= 3
    assert len(limited) == 13


async def test_expired_token_is_renewed_and_the_call_succeeds(
    emulator: RunningEmulator,
) -> None:
    async with graph_runtime(emulator) as rt, rt.client() as c:
        await ready(c)
        before = (await call(c, "access_token"))["token"]
        await fault(emulator, expire_tokens=True)
        mark = await log_length(emulator)
        assert len(await call(c, "list_users", [None, 1])) == 1
        after = (await call(c, "access_token"))["token"]
        log = (await control(emulator, "GET", "/_emulator/requests"))[mark:]
    assert after != before
    statuses = [(e["path"].endswith("/token"), e["status"]) for e in log]
    assert statuses[0] == (False, 401)
    assert (True, 200) in statuses[1:]
    assert statuses[-1] == (False, 200)
    token_post = next(e for e in log if e["path"].endswith("/token"))
    assert token_post["body"]["client_secret"] == "***"
