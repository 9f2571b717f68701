"""Bounds: bindings per connection, execs per credential, pending output per process."""

from __future__ import annotations

import asyncio

import pytest

from runtime import streams as streams_module
from runtime.limits import MAX_BINDINGS_PER_CONNECTION, MAX_EXECS_PER_CREDENTIAL
from runtime.session import SessionState
from runtime.testing import ExecError, RuntimeHandle, TestClient

from .conftest import OTHER_KEY, USER_KEY
from .support import open_raw_websocket, read_reply, send_request


def test_documented_defaults() -> None:
    assert MAX_BINDINGS_PER_CONNECTION == 10_000
    assert MAX_EXECS_PER_CREDENTIAL == 2048


async def test_bindings_per_connection_are_bounded(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams_module, "MAX_BINDINGS_PER_CONNECTION", 5)
    async with rt.client() as client:
        for n in range(5):
            await client.bind("sys-1", "Worker", f"k{n}")
        with pytest.raises(ExecError) as refused:
            await client.bind("sys-1", "Worker", "k5")
        assert refused.value.error_code == 7
        assert "limit 5" in refused.value.msg
        await client.bind("sys-1", "Worker", "k0")  # already bound: still fine
        await client.unbind("sys-1", "Worker", "k0")
        await client.bind("sys-1", "Worker", "k5")
        assert rt.runtime.metrics.value("placeos_runtime_bindings") == 5
    async with rt.client() as other:  # the bound is per connection
        await other.bind("sys-1", "Worker", "k6")


def _gated(client: TestClient, count: int) -> list[asyncio.Task[object]]:
    return [asyncio.create_task(client.exec("sys-1", "Worker", "wait_gate")) for _ in range(count)]


async def test_execs_per_credential_count_across_connections_closed_ones_included(
    rt: RuntimeHandle,
) -> None:
    rt.runtime.execs.limit = 3
    async with rt.client(USER_KEY) as first, rt.client(USER_KEY) as second:
        pending = _gated(first, 2) + _gated(second, 1)
        await first.ping()
        await second.ping()
        assert rt.runtime.execs.in_flight == 3
        with pytest.raises(ExecError) as refused:
            await second.exec("sys-1", "Worker", "slow", [0])
        assert refused.value.error_code == 7
        assert "credential" in refused.value.msg and "limit 3" in refused.value.msg
        await first.close()
        with pytest.raises(ConnectionError):
            await asyncio.gather(*pending[:2])
        # the closed connection's execs still run, and still count
        assert rt.runtime.execs.in_flight == 3
        assert rt.runtime.metrics.value("placeos_runtime_execs_in_flight") == 3
        with pytest.raises(ExecError):
            await second.exec("sys-1", "Worker", "slow", [0])
        async with rt.client(OTHER_KEY) as other:  # another credential is not affected
            assert await other.exec("sys-1", "Worker", "slow", [0]) == 0
            await other.exec("sys-1", "Worker", "open_gate")
            await other.exec("sys-1", "Worker", "open_gate", index=2)
        assert await rt.runtime.execs.wait_idle(10.0)
        assert await pending[2] == "released"
        assert rt.runtime.execs.in_flight == 0
        assert await second.exec("sys-1", "Worker", "slow", [0]) == 0


async def test_rest_execs_share_the_credential_bound(rt: RuntimeHandle) -> None:
    rt.runtime.execs.limit = 1
    async with rt.client(USER_KEY) as client:
        pending = _gated(client, 1)
        await client.ping()
        status, body = await rt.rest(
            "POST", "/api/engine/v2/systems/sys-1/Worker_1/slow", [0], api_key=USER_KEY
        )
        assert status == 503
        assert body["error"] == "unexpected failure"
        assert "credential" in body["message"] and "limit 1" in body["message"]
        await rt.rest("POST", "/api/engine/v2/systems/sys-1/Worker_1/open_gate", [])
        assert await pending[0] == "released"


async def test_process_output_budget_cuts_off_the_biggest_holder_first(
    rt: RuntimeHandle,
) -> None:
    rt.runtime.output.limit = 400_000
    big = await asyncio.to_thread(open_raw_websocket, rt)
    small = await asyncio.to_thread(open_raw_websocket, rt)
    try:
        for number, key in enumerate(("a", "b"), 1):
            send_request(big, id=number, cmd="bind", sys="sys-1", mod="Worker", name=key)
        send_request(small, id=1, cmd="bind", sys="sys-1", mod="Worker", name="c")
        await asyncio.to_thread(read_reply, big, 2)
        await asyncio.to_thread(read_reply, small, 1)
        sessions = {len(s.bindings): s for s in rt.runtime.sessions}
        big_session, small_session = sessions[2], sessions[1]
        driver = rt.driver("mod-w")
        for n in range(2000):
            for key in ("a", "b", "c"):
                driver[key] = [n, "x" * 20000]
            await asyncio.sleep(0)
            if big_session.state is not SessionState.OPEN:
                break
        assert big_session.state is not SessionState.OPEN
        assert big_session.close_code == 1008
        assert small_session.state is SessionState.OPEN
        assert rt.runtime.output.pending <= rt.runtime.output.limit
        assert rt.runtime.output.pending == small_session.pending_bytes
    finally:
        big.close()
        small.close()
