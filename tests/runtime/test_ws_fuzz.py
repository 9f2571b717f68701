"""Fuzz the WebSocket endpoint over a real socket: random text and binary frames, invalid UTF-8,
deep nesting, huge numbers, oversize frames. The server survives, and every frame gets exactly
one reply, carrying the frame's id when the frame is a JSON object with a 64-bit integer id."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import MAX_FRAME_BYTES
from protocol.requests import INT64_MAX, INT64_MIN
from runtime.testing import RuntimeHandle, run_runtime
from tests.runtime.conftest import sample_config
from tests.support.raw_websocket import upgrade_request

TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8
SENTINEL_ID = 2**62
#: Seconds to wait for the replies of one example (a hang would fail the test, not stall it).
REPLY_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def served() -> Iterator[RuntimeHandle]:
    """A runtime on a loop of its own thread, so hypothesis can drive it with blocking sockets."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        holder["stop"] = asyncio.Event()
        async with run_runtime(sample_config()) as rt:
            holder["rt"] = rt
            ready.set()
            await holder["stop"].wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield holder["rt"]
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        loop.close()


class RawClient:
    """A WebSocket client on a plain socket: masked frames out, frames in."""

    def __init__(self, url: str, api_key: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=REPLY_TIMEOUT)
        self.sock.sendall(upgrade_request(url, api_key))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            head = bytes([0x80 | opcode, 0x80 | size])
        elif size < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", size)
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", size)
        mask = os.urandom(4)
        body = (int.from_bytes(payload, "little") ^ int.from_bytes(
            (mask * (size // 4 + 1))[:size], "little")).to_bytes(size, "little")
        self.sock.sendall(head + mask + body)

    def receive(self) -> tuple[int, bytes]:
        first, second = self._take(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._take(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._take(8))[0]
        return first & 0x0F, self._take(size)

    def close(self) -> None:
        self.sock.close()


def reply_id(opcode: int, payload: bytes) -> int | None:
    """The id the server must answer a frame with (None: the frame is a ping)."""
    if payload == b"ping":
        return None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return 0
    raw = data.get("id") if isinstance(data, dict) else None
    return raw if type(raw) is int and INT64_MIN <= raw <= INT64_MAX else 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
ids = st.integers(INT64_MIN, INT64_MAX) | st.integers() | st.text(max_size=3) | st.none()
requests = st.fixed_dictionaries(
    {
        "id": ids,
        "cmd": st.sampled_from(["exec", "bind", "unbind", "debug", "ignore", "EXEC", "nope"]),
        "sys": st.sampled_from(["sys-1", "sys-2", "nope"]),
        "mod": st.sampled_from(["Display", "_Hidden", "Broken", "mod-1", "Nope"]),
        "name": st.sampled_from(
            ["power", "volume", "set_status", "nothing", "fail", "abort", "own_timeout",
             "unserialisable", "support_only", "admin_only", "nope"]
        ),
    },
    optional={
        "index": st.integers(-2, 3) | st.integers() | st.none(),
        "args": st.lists(json_values, max_size=3)
        | st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        "extra": json_values,
    },
)


def _text(value: Any) -> bytes:
    return json.dumps(value).encode()


frames = st.one_of(
    requests.map(lambda r: (TEXT, _text(r))),
    requests.map(lambda r: (BINARY, _text(r))),
    json_values.map(lambda v: (TEXT, _text(v))),
    st.binary(max_size=64).map(lambda b: (BINARY, b)),
    st.binary(max_size=16).map(lambda b: (BINARY, b'{"id": 7, "x": "' + b"\xff\xfe" + b + b'"}')),
    st.text(max_size=32).map(lambda t: (TEXT, t.encode("utf-8", "surrogatepass"))),
    st.integers(1, 3000).map(lambda n: (TEXT, b"[" * n + b"]" * n)),
    st.integers(1, 3000).map(lambda n: (TEXT, b'{"id": 5, "args": ' + b"[" * n + b"]" * n + b"}")),
    st.sampled_from(
        [b'{"id": 1e400}', b'{"id": 123456789012345678901234567890, "cmd": "exec"}',
         b'{"id": -9223372036854775809}', b'{"id": 3, "cmd": "exec", "sys": "sys-1", '
         b'"mod": "Display", "name": "volume", "args": [1e308, 99999999999999999999999]}',
         b"ping", b"", b"null"]
    ).map(lambda b: (TEXT, b)),
    st.integers(INT64_MIN, INT64_MAX).map(
        lambda i: (TEXT, _text({"id": i, "cmd": "exec", "sys": "sys-1", "mod": "Display",
                                "name": "power", "args": ["é" * (MAX_FRAME_BYTES // 2 + 1)]}))
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_every_frame_gets_exactly_one_reply(
    served: RuntimeHandle, batch: list[tuple[int, bytes]]
) -> None:
    client = RawClient(served.url, served.api_key)
    try:
        expected: collections.Counter[int] = collections.Counter()
        for opcode, payload in batch:
            client.send(opcode, payload)
            wanted = reply_id(opcode, payload)
            if wanted is not None:
                expected[wanted] += 1
        got: collections.Counter[int] = collections.Counter()
        sentinels = 0
        while True:
            if sum(got.values()) >= sum(expected.values()) and sentinels == 0:
                sentinels = 1  # all counted: a last request flushes out any extra reply
                client.send(TEXT, _text({"id": SENTINEL_ID, "cmd": "unbind", "sys": "s",
                                         "mod": "m", "name": "n"}))
            opcode, payload = client.receive()
            assert opcode == TEXT, (opcode, payload[:200])
            if payload == b"pong":
                continue
            frame = orjson.loads(payload)
            if frame.get("type") in ("notify", "debug"):
                continue
            if frame["id"] == SENTINEL_ID:
                break
            assert frame["type"] in ("success", "error"), frame
            got[frame["id"]] += 1
        assert got == expected
    finally:
        client.close()


@pytest.mark.parametrize("payload", [b"\xff", b'{"id": 1, "x": "\xc3\x28"}', b"\xed\xa0\x80"])
def test_invalid_utf8_in_a_text_frame_closes_with_1007(
    served: RuntimeHandle, payload: bytes
) -> None:
    client = RawClient(served.url, served.api_key)
    try:
        client.send(TEXT, payload)
        opcode, body = client.receive()
        assert opcode == CLOSE
        assert struct.unpack("!H", body[:2])[0] == 1007
    finally:
        client.close()
    again = RawClient(served.url, served.api_key)
    try:
        again.send(TEXT, b"ping")
        assert again.receive() == (TEXT, b"pong")
    finally:
        again.close()
