"""However a connection ends, it leaves no session, binding or debug listener behind."""

from __future__ import annotations

import asyncio

import pytest

from runtime import session as session_module
from runtime.session import Session, SessionState
from runtime.testing import RuntimeHandle

from .support import open_raw_websocket, read_reply, read_until_closed, reset, send_request

KEYS = ("a", "b", "c")
GAUGES = ("connections", "bindings", "debug_streams", "execs_in_flight", "pending_output_bytes")


def gauges(rt: RuntimeHandle) -> dict[str, float | None]:
    metrics = rt.runtime.metrics
    return {name: metrics.value(f"placeos_runtime_{name}") for name in GAUGES}


def held(rt: RuntimeHandle) -> tuple[int, int]:
    """(store subscriptions of the bound keys, debug listeners) as the runtime holds them."""
    store = rt.runtime.store
    subscriptions = sum(store.subscriber_count(m, k) for m in ("mod-w", "mod-v") for k in KEYS)
    return subscriptions, rt.runtime.tap.listener_count


def only_session(rt: RuntimeHandle) -> Session:
    (session,) = rt.runtime.sessions
    return session


async def test_clean_close_releases_everything(rt: RuntimeHandle) -> None:
    baseline = gauges(rt)
    async with rt.client() as client:
        for key in KEYS:
            await client.bind("sys-1", "Worker", key)
        await client.request({"cmd": "debug", "sys": "sys-1", "mod": "mod-w", "name": "x"})
        assert gauges(rt)["bindings"] == 3
        assert gauges(rt)["debug_streams"] == 1
        assert held(rt) == (3, 1)
        session = only_session(rt)
    await session.wait_closed()
    assert session.state is SessionState.CLOSED
    assert held(rt) == (0, 0)
    assert gauges(rt) == baseline


async def test_reset_connection_releases_everything(rt: RuntimeHandle) -> None:
    baseline = gauges(rt)
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    for number, key in enumerate(KEYS, 1):
        send_request(sock, id=number, cmd="bind", sys="sys-1", mod="Worker", name=key)
    send_request(sock, id=9, cmd="debug", sys="sys-1", mod="mod-w", name="x")
    assert (await asyncio.to_thread(read_reply, sock, 9))["type"] == "success"
    assert held(rt) == (3, 1)
    session = only_session(rt)
    reset(sock)
    await asyncio.wait_for(session.wait_closed(), 10)
    assert held(rt) == (0, 0)
    assert gauges(rt) == baseline


async def test_cut_off_then_resumed_reading_ends_the_writer(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client cut off for not reading that reads again still ends: no writer left waiting."""
    monkeypatch.setattr(session_module, "MAX_PENDING_FRAMES", 20)
    baseline = gauges(rt)
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    try:
        send_request(sock, id=1, cmd="bind", sys="sys-1", mod="Worker", name="a")
        send_request(sock, id=2, cmd="debug", sys="sys-1", mod="mod-w", name="x")
        send_request(sock, id=3, cmd="exec", sys="sys-1", mod="Worker", name="wait_gate")
        send_request(sock, id=4, cmd="bind", sys="sys-1", mod="Worker", name="b")
        assert (await asyncio.to_thread(read_reply, sock, 4))["type"] == "success"
        assert held(rt) == (2, 1)
        session = only_session(rt)
        driver = rt.driver("mod-w")
        for n in range(5000):
            driver["a"] = [n, "x" * 20000]
            await asyncio.sleep(0)
            if session.state is not SessionState.OPEN:
                break
        assert session.state is SessionState.CLOSING
        assert session.close_code == 1008
        assert held(rt) == (0, 0), "released at once, before the socket is closed"
        assert rt.runtime.metrics.value("placeos_runtime_slow_client_cutoffs_total") == 1
        code = await asyncio.to_thread(read_until_closed, sock)  # the client reads again
        await asyncio.wait_for(session.wait_closed(), 10)
        assert code in (1008, None)
    finally:
        sock.close()
    # the exec of the closed connection runs on, counted until it ends
    assert rt.runtime.execs.in_flight == 1
    assert gauges(rt)["execs_in_flight"] == 1
    driver.gate.set()
    assert await rt.runtime.execs.wait_idle(10)
    assert gauges(rt) == baseline


async def test_failed_write_releases_everything(rt: RuntimeHandle) -> None:
    baseline = gauges(rt)
    async with rt.client() as client:
        await client.bind("sys-1", "Worker", "a")
        await client.request({"cmd": "debug", "sys": "sys-1", "mod": "mod-w", "name": "x"})
        session = only_session(rt)

        async def broken_pipe(*_args: object) -> None:
            raise ConnectionResetError("peer went away")

        transport = session.transport
        assert transport is not None

        def failing_send(_data: object) -> None:
            transport.abort()  # what asyncio's transport does when the socket's send fails

        # a notify's write fails, whether it goes through the writer or straight out
        session.ws.send_frame = broken_pipe  # type: ignore[method-assign]
        transport.write = failing_send  # type: ignore[method-assign]
        rt.driver("mod-w")["a"] = 1
        await asyncio.wait_for(session.wait_closed(), 10)
        assert held(rt) == (0, 0)
        assert gauges(rt) == baseline
