"""Data messages go from the frame reader straight to the session: in order, with control frames
and the closing handshake still aiohttp's, with backpressure for a client that reads slower than
it asks, and with aiohttp's own queue wherever the direct way cannot be taken."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from runtime import wsinbound
from runtime.server import CONTROL_PATH
from runtime.session import MAX_PENDING_FRAMES, Session
from runtime.testing import RuntimeHandle
from tests.support.raw_websocket import upgrade_request

from .support import (
    masked_frame,
    open_raw_websocket,
    read_frame,
    read_until_closed,
)
from .test_teardown import only_session

#: Requests a client pipelines without reading in the backpressure test (3.4 MB): several times
#: what the socket buffers, aiohttp's queue and the per-connection frame bound hold.
FLOOD = 8 * MAX_PENDING_FRAMES
#: Socket buffer size at both ends in that test (the kernel doubles it).
PIPE_BUFFER = 64 * 1024
#: How long a state the runtime reaches by itself may take to come (a bound, not a pause).
SETTLE_TIMEOUT = 10.0


def request(request_id: int, key: str = "k", value: object = 0) -> bytes:
    exec_request = {"id": request_id, "cmd": "exec", "sys": "sys-1", "mod": "Worker"}
    return masked_frame(orjson.dumps({**exec_request, "name": "set_status", "args": [key, value]}))


def replies(sock: socket.socket, count: int) -> list[int]:
    """The ids of the next `count` replies (pongs skipped), each checked to be a success."""
    ids: list[int] = []
    while len(ids) < count:
        opcode, payload = read_frame(sock)
        assert opcode == 0x1, (opcode, payload)
        if payload == b"pong":
            continue
        frame = orjson.loads(payload)
        assert frame["type"] == "success", frame
        ids.append(frame["id"])
    return ids


@contextmanager
def handled_where(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """For each frame a session handles: whether it was handled inside a task (True: it came
    through the connection's `receive()` loop) or straight from the read callback (False)."""
    seen: list[bool] = []
    handle = Session.handle

    def spy(self: Session, frame: Any) -> None:
        seen.append(asyncio.current_task() is not None)
        handle(self, frame)

    monkeypatch.setattr(Session, "handle", spy)
    yield seen


async def test_pipelined_requests_are_handled_at_once_and_in_order(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 requests in one write, a ping frame every 50: every reply in request order, one pong
    per ping, the requests before the first ping handled straight from the read callback."""
    with handled_where(monkeypatch) as in_task:
        sock = await asyncio.to_thread(open_raw_websocket, rt)
        try:
            assert only_session(rt).ws.delivers_directly
            batch = b"".join(
                request(n) + (masked_frame(b"p%d" % n, opcode=0x9) if n % 50 == 0 else b"")
                for n in range(1, 301)
            )
            await asyncio.to_thread(sock.sendall, batch)
            ids: list[int] = []
            pongs = 0
            while len(ids) < 300 or pongs < 6:
                opcode, payload = await asyncio.to_thread(read_frame, sock)
                if opcode == 0xA:
                    pongs += 1
                    continue
                assert opcode == 0x1, (opcode, payload)
                ids.append(orjson.loads(payload)["id"])
            assert ids == list(range(1, 301))
            assert pongs == 6
        finally:
            sock.close()
    assert len(in_task) == 300
    assert in_task[:50] == [False] * 50


async def test_frames_that_came_with_the_handshake_take_aiohttp_queue(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that sends requests in the same write as its upgrade request is served through
    aiohttp's own queue, all of it in order."""
    host, port = rt.url.removeprefix("http://").split(":")
    upgrade = upgrade_request(rt.url, rt.api_key)
    with handled_where(monkeypatch) as in_task:
        sock = socket.create_connection((host, int(port)))
        try:
            await asyncio.to_thread(sock.sendall, upgrade + b"".join(request(n) for n in (1, 2)))
            head = b""
            while b"\r\n\r\n" not in head:
                head += await asyncio.to_thread(sock.recv, 1)
            assert head.startswith(b"HTTP/1.1 101"), head
            assert not only_session(rt).ws.delivers_directly
            assert await asyncio.to_thread(replies, sock, 2) == [1, 2]
            await asyncio.to_thread(sock.sendall, request(3))
            assert await asyncio.to_thread(replies, sock, 1) == [3]
        finally:
            sock.close()
    assert in_task == [True, True, True]


async def test_nothing_after_a_close_frame_is_handled(rt: RuntimeHandle) -> None:
    """A request, a close frame and another request in one write: the first is answered, the
    close is answered with a close, the last is never run."""
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    try:
        close = masked_frame((1000).to_bytes(2, "big"), opcode=0x8)
        await asyncio.to_thread(
            sock.sendall, request(1, "before", 1) + close + request(2, "after", 2)
        )
        assert await asyncio.to_thread(replies, sock, 1) == [1]
        assert await asyncio.to_thread(read_until_closed, sock) == 1000
    finally:
        sock.close()
    await rt.runtime.wait_for_sessions(0)
    worker = rt.driver("mod-w")
    assert worker["before"] == 1
    assert "after" not in worker.status


async def test_a_client_that_asks_faster_than_it_reads_meets_backpressure(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client pipelines 8 x the frame bound of requests without reading: the runtime stops
    taking requests while its output is backed up (the client's send blocks), does not cut it
    off, and once the client reads, every reply arrives once and in order."""
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    session = only_session(rt)
    assert session.transport is not None  # a narrow pipe both ways, as over a slow network
    for end in (sock, session.transport.get_extra_info("socket")):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, PIPE_BUFFER)
        end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, PIPE_BUFFER)
    sent = threading.Event()
    held = asyncio.Event()
    hold_started = Session.input_hold_started

    def spy(self: Session) -> None:
        hold_started(self)
        held.set()

    monkeypatch.setattr(Session, "input_hold_started", spy)

    def send_all() -> None:
        sock.sendall(b"".join(request(n, "k", n) for n in range(1, FLOOD + 1)))
        sent.set()

    sender = threading.Thread(target=send_all, daemon=True)
    try:
        sender.start()
        waits = [asyncio.ensure_future(held.wait()), asyncio.ensure_future(session.wait_closed())]
        await asyncio.wait(waits, timeout=SETTLE_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        assert session.input_held  # (a session cut off instead would fail here or below)
        assert not sent.is_set()  # the client is held: its send cannot complete
        assert session.is_open
        ids = await asyncio.to_thread(replies, sock, FLOOD)
        assert ids == list(range(1, FLOOD + 1))
        assert await asyncio.to_thread(sent.wait, SETTLE_TIMEOUT)
        assert session.is_open
        assert rt.runtime.metrics.value("placeos_runtime_slow_client_cutoffs_total") == 0
        assert (rt.runtime.metrics.value("placeos_runtime_input_holds_total") or 0) >= 1
        assert rt.driver("mod-w")["k"] == FLOOD
    finally:
        sock.close()
        await asyncio.to_thread(sender.join, SETTLE_TIMEOUT)


async def test_a_failure_while_handling_a_message_ends_only_that_connection(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handle = Session.handle

    def fails_on_boom(self: Session, frame: Any) -> None:
        if frame == "boom":
            raise RuntimeError("handler bug")
        handle(self, frame)

    monkeypatch.setattr(Session, "handle", fails_on_boom)
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    try:
        await asyncio.to_thread(sock.sendall, request(1) + masked_frame(b"boom") + request(2))
        assert await asyncio.to_thread(replies, sock, 1) == [1]
        code = await asyncio.to_thread(read_until_closed, sock)
        assert code is None or code >= 1000
    finally:
        sock.close()
    await rt.runtime.wait_for_sessions(0)
    async with rt.client() as client:
        assert await client.ping() == "pong"


async def test_an_aiohttp_without_the_expected_internals_keeps_its_own_queue(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wsinbound, "_take_over", lambda response, handler: None)
    with handled_where(monkeypatch) as in_task:
        sock = await asyncio.to_thread(open_raw_websocket, rt)
        try:
            assert not only_session(rt).ws.delivers_directly
            await asyncio.to_thread(sock.sendall, b"".join(request(n) for n in range(1, 101)))
            assert await asyncio.to_thread(replies, sock, 100) == list(range(1, 101))
        finally:
            sock.close()
    assert in_task == [True] * 100


async def test_one_write_of_more_requests_than_the_frame_bound_is_answered_whole(
    rt: RuntimeHandle,
) -> None:
    """Twice as many pings as a connection may have frames waiting, in one write: they are
    handled in one turn, and its replies go out as they are made rather than being counted as
    frames a client failed to read."""
    count = 2 * MAX_PENDING_FRAMES
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    session = only_session(rt)
    try:
        await asyncio.to_thread(sock.sendall, masked_frame(b"ping") * count)
        for _ in range(count):
            assert await asyncio.to_thread(read_frame, sock) == (0x1, b"pong")
        assert session.is_open
    finally:
        sock.close()


async def test_compressed_messages_go_straight_to_the_session(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that negotiates permessage-deflate (as browsers do): its compressed requests are
    inflated by the reader that feeds the direct queue."""
    url = rt.url.replace("http", "ws", 1) + CONTROL_PATH
    with handled_where(monkeypatch) as in_task:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, headers={"X-API-Key": rt.api_key}, compress=15) as ws,
        ):
            assert ws.compress == 15
            assert only_session(rt).ws.delivers_directly
            for n in range(1, 4):
                body = {"id": n, "cmd": "exec", "sys": "sys-1", "mod": "Worker"}
                await ws.send_str(orjson.dumps({**body, "name": "slow", "args": [0]}).decode())
                assert orjson.loads(await ws.receive_str()) == {
                    "id": n,
                    "type": "success",
                    "value": 0,
                    "meta": {"sys": "sys-1", "mod": "Worker", "index": 1, "name": "slow"},
                    "code": 200,
                }
    assert in_task == [False, False, False]
