"""Hostile clients at the documented scale: the bounds hold with their real values, garbage
frames close or answer cleanly, and abrupt disconnections leave nothing behind."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from runtime.limits import MAX_BINDINGS_PER_CONNECTION, MAX_EXECS_PER_CREDENTIAL
from runtime.server import CONTROL_PATH
from runtime.session import MAX_CONCURRENT_EXECS
from runtime.testing import RuntimeHandle
from tests.support.raw_websocket import upgrade_request

from .conftest import OTHER_KEY, USER_KEY
from .support import (
    masked_frame,
    open_raw_websocket,
    read_frame,
    read_reply,
    send_request,
)
from .test_teardown import gauges

#: Connections x execs each, closed at once (the scale of the report that led to the bound).
CONNECTIONS, EXECS_EACH = 40, MAX_CONCURRENT_EXECS
#: Binds one connection pipelines, ten times its bound.
BINDS = 10 * MAX_BINDINGS_PER_CONNECTION
#: Connections opened and then dropped with a TCP reset.
DROPPED = 1000


def _exec(request_id: int, name: str, index: int = 1) -> str:
    request = {"id": request_id, "cmd": "exec", "sys": "sys-1", "mod": "Worker", "name": name}
    return orjson.dumps({**request, "index": index}).decode()


@pytest.fixture
async def http(rt: RuntimeHandle) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _connect(
    http: aiohttp.ClientSession, rt: RuntimeHandle, key: str
) -> aiohttp.ClientWebSocketResponse:
    url = rt.url.replace("http", "ws", 1) + CONTROL_PATH
    return await http.ws_connect(url, headers={"X-API-Key": key}, max_msg_size=0)


async def _frames_until_pong(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, object]]:
    frames = []
    while (message := await ws.receive()).data != "pong":
        assert message.type is aiohttp.WSMsgType.TEXT, message
        frames.append(orjson.loads(message.data))
    return frames


async def test_execs_of_connections_closed_at_once_count_until_they_end(
    rt: RuntimeHandle, http: aiohttp.ClientSession
) -> None:
    """40 connections x 512 gated execs: 2,048 run, the rest get error 7; closing every
    connection at once leaves the 2,048 running and counted until they end."""
    baseline = gauges(rt)
    connections = [await _connect(http, rt, USER_KEY) for _ in range(CONNECTIONS)]
    for ws in connections:
        for request_id in range(1, EXECS_EACH + 1):
            await ws.send_str(_exec(request_id, "wait_gate"))
        await ws.send_str("ping")
    refusals = [f for ws in connections for f in await _frames_until_pong(ws)]
    assert len(refusals) == CONNECTIONS * EXECS_EACH - MAX_EXECS_PER_CREDENTIAL
    assert {(f["type"], f["error_code"]) for f in refusals} == {("error", 7)}
    assert rt.runtime.execs.in_flight == MAX_EXECS_PER_CREDENTIAL

    await asyncio.gather(*(ws.close() for ws in connections))
    assert not rt.runtime.sessions
    assert gauges(rt)["execs_in_flight"] == MAX_EXECS_PER_CREDENTIAL
    async with await _connect(http, rt, USER_KEY) as ws:
        await ws.send_str(_exec(1, "slow"))
        refused = orjson.loads(await ws.receive_str())
        assert (refused["error_code"], refused["msg"]) == (
            7,
            f"too many requests in flight for this credential (limit {MAX_EXECS_PER_CREDENTIAL})",
        )
    async with await _connect(http, rt, OTHER_KEY) as ws:
        await ws.send_str(_exec(1, "open_gate"))
        assert orjson.loads(await ws.receive_str())["type"] == "success"
    assert await rt.runtime.execs.wait_idle(30)
    assert gauges(rt) == baseline


async def test_a_flood_of_bindings_is_refused_beyond_the_bound(
    rt: RuntimeHandle, http: aiohttp.ClientSession
) -> None:
    async with await _connect(http, rt, USER_KEY) as ws:
        reading = asyncio.create_task(_frames_until_pong(ws))  # a client that keeps reading
        for n in range(1, BINDS + 1):
            request = {"id": n, "cmd": "bind", "sys": "sys-1", "mod": "Worker", "name": f"k{n}"}
            await ws.send_str(orjson.dumps(request).decode())
        await ws.send_str("ping")
        replies = await reading
        assert [f["id"] for f in replies] == list(range(1, BINDS + 1))
        accepted = replies[:MAX_BINDINGS_PER_CONNECTION]
        assert {f["type"] for f in accepted} == {"success"}
        refused = {(f["type"], f["error_code"], f["msg"]) for f in replies[len(accepted) :]}
        limit = f"too many bindings on this connection (limit {MAX_BINDINGS_PER_CONNECTION})"
        assert refused == {("error", 7, limit)}
        assert gauges(rt)["bindings"] == MAX_BINDINGS_PER_CONNECTION
        session = next(iter(rt.runtime.sessions))
    await session.wait_closed()
    assert gauges(rt)["bindings"] == 0


async def test_connections_dropped_by_reset_leave_nothing(rt: RuntimeHandle) -> None:
    """1,000 connections, binding, debugging and running execs, each ended by a TCP reset."""
    baseline = gauges(rt)
    host, port = rt.url.removeprefix("http://").split(":")
    handshake = upgrade_request(rt.url, USER_KEY)
    requests = [
        {"id": 1, "cmd": "bind", "sys": "sys-1", "mod": "Worker", "name": "a"},
        {"id": 2, "cmd": "debug", "sys": "sys-1", "mod": "mod-w", "name": "x"},
        {"id": 3, "cmd": "exec", "sys": "sys-1", "mod": "Worker", "name": "wait_gate"},
    ]

    async def open_and_reset(number: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(handshake)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        for request in requests[: number % 4]:
            writer.write(masked_frame(orjson.dumps(request)))
        writer.write(masked_frame(b"ping"))
        while b"pong" not in await reader.read(65536):  # every request has been handled
            pass
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    for first in range(0, DROPPED, 100):
        await asyncio.gather(*(open_and_reset(n) for n in range(first, first + 100)))
    sessions = list(rt.runtime.sessions)
    await asyncio.wait_for(asyncio.gather(*(s.wait_closed() for s in sessions)), 30)
    assert not rt.runtime.sessions
    # the execs of the dropped connections run on, counted until they end
    assert gauges(rt) == {**baseline, "execs_in_flight": DROPPED // 4}
    rt.driver("mod-w").gate.set()  # type: ignore[attr-defined]
    assert await rt.runtime.execs.wait_idle(30)
    assert gauges(rt) == baseline
    async with rt.client() as client:
        assert await client.exec("sys-1", "Worker", "slow", [0]) == 0


_LONG = 0x80 | 127
GARBAGE = {
    "invalid UTF-8 text": (masked_frame(b"\xff\xfe\xfd"), 1007),
    "reserved opcode": (masked_frame(b"x", opcode=0x3), 1002),
    "reserved bits set": (bytes([0xF1, 0x81]) + bytes(4) + b"x", 1002),
    "fragmented control frame": (bytes([0x09, 0x81]) + bytes(4) + b"x", 1002),
    "frame announcing 8 MiB": (bytes([0x81, _LONG]) + struct.pack("!Q", 8 << 20), 1009),
    "frame announcing 2^63 bytes": (bytes([0x81, _LONG]) + struct.pack("!Q", 2**63 - 1), 1009),
}


@pytest.mark.parametrize("frame, close_code", GARBAGE.values(), ids=GARBAGE.keys())
async def test_garbage_frames_close_the_connection_and_leave_nothing(
    rt: RuntimeHandle, frame: bytes, close_code: int
) -> None:
    baseline = gauges(rt)
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    try:
        send_request(sock, id=1, cmd="bind", sys="sys-1", mod="Worker", name="a")
        assert (await asyncio.to_thread(read_reply, sock, 1))["type"] == "success"
        session = next(iter(rt.runtime.sessions))
        sock.sendall(frame)
        opcode, payload = await asyncio.to_thread(read_frame, sock)
        assert (opcode, struct.unpack("!H", payload[:2])[0]) == (0x8, close_code)
    finally:
        sock.close()
    await asyncio.wait_for(session.wait_closed(), 10)
    assert gauges(rt) == baseline
    async with rt.client() as client:
        assert await client.ping() == "pong"


_REST_OF_REQUEST = b'"cmd": "exec", "sys": "s", "mod": "m", "name": "n"}'


@pytest.mark.parametrize(
    "payload, error_code",
    [
        (b"\x00\x01\x02", 0),
        (b"{{{", 0),
        (b"[" * 30_000 + b"]" * 30_000, 0),
        (b'{"id": 1e400, ' + _REST_OF_REQUEST, 0),
        (b'{"id": 100000000000000000000000, ' + _REST_OF_REQUEST, 1),
    ],
    ids=["binary", "broken JSON", "deeply nested JSON", "huge float", "id beyond 64 bits"],
)
async def test_garbage_payloads_get_one_error_reply_and_the_connection_stays(
    rt: RuntimeHandle, payload: bytes, error_code: int
) -> None:
    sock = await asyncio.to_thread(open_raw_websocket, rt)
    try:
        sock.sendall(masked_frame(payload, opcode=0x2 if payload.startswith(b"\x00") else 0x1))
        send_request(sock, id=5, cmd="bind", sys="sys-1", mod="Worker", name="a")
        frames = []
        while not frames or frames[-1].get("id") != 5:
            opcode, data = await asyncio.to_thread(read_frame, sock)
            assert opcode == 0x1, (opcode, data)
            frames.append(orjson.loads(data))
        error, bound = frames
        assert (error["id"], error["type"], error["error_code"]) == (0, "error", error_code)
        assert bound["type"] == "success"
    finally:
        sock.close()
