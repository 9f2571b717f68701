"""Frame limits count bytes of UTF-8; oversize frames keep their id; unmasked frames close 1002."""

from __future__ import annotations

import asyncio
import json
import struct

import orjson
import pytest
import websockets

from protocol import MAX_FRAME_BYTES, ErrorCode, ParseFailure, parse_request
from protocol.requests import frame_bytes
from runtime.server import HARD_FRAME_LIMIT
from runtime.testing import RuntimeHandle
from tests.support.raw_websocket import upgrade_request

EXEC = {"id": 41, "cmd": "exec", "sys": "sys-1", "mod": "Display", "name": "power"}


def _frame(payload: str, **extra: object) -> str:
    return orjson.dumps({**EXEC, **extra, "args": [payload]}).decode()


@pytest.mark.parametrize(("char", "width"), [("é", 2), ("€", 3), ("😀", 4)])
def test_limit_counts_utf8_bytes_not_characters(char: str, width: int) -> None:
    fits = _frame(char * ((MAX_FRAME_BYTES - 200) // width))
    assert frame_bytes(fits) <= MAX_FRAME_BYTES
    assert not isinstance(parse_request(fits), ParseFailure)
    over = _frame(char * (MAX_FRAME_BYTES // width + 1))
    assert len(over) < MAX_FRAME_BYTES < frame_bytes(over)
    failure = parse_request(over)
    assert isinstance(failure, ParseFailure)
    assert (failure.id, failure.code) == (41, ErrorCode.BAD_REQUEST)
    assert f"frame of {frame_bytes(over)} bytes exceeds" in failure.reason


@pytest.mark.parametrize(
    "frame",
    [
        "x" * (MAX_FRAME_BYTES + 1),
        json.dumps({**EXEC, "id": 2**64, "args": ["x" * MAX_FRAME_BYTES]}),
        _frame("x" * MAX_FRAME_BYTES, id="41"),
        orjson.dumps(["x" * MAX_FRAME_BYTES]).decode(),
    ],
)
def test_oversize_frame_without_a_readable_id_is_answered_with_id_0(frame: str) -> None:
    failure = parse_request(frame)
    assert isinstance(failure, ParseFailure)
    assert (failure.id, failure.code) == (0, ErrorCode.BAD_REQUEST)


async def test_three_megabyte_frame_of_few_characters_is_refused_with_its_id(
    rt: RuntimeHandle,
) -> None:
    frame = _frame("€" * (MAX_FRAME_BYTES - 100), id=99)  # < 1 Mi characters, ~3 MB
    assert len(frame) < MAX_FRAME_BYTES and frame_bytes(frame) < HARD_FRAME_LIMIT
    async with rt.client() as client:
        reply = await client.reply_to_raw(frame, 99)
        assert (reply["type"], reply["error_code"]) == ("error", 1)
        assert rt.driver("mod-1").status.get("power") is None  # never executed
        assert await client.exec("sys-1", "Display", "power", [True]) is True


async def test_frame_over_the_hard_limit_closes_with_1009(rt: RuntimeHandle) -> None:
    async with rt.client() as client:
        await client.send_raw("x" * (HARD_FRAME_LIMIT + 1))
        await asyncio.wait_for(client._reader, 10)
        assert client.connection.close_code == 1009


async def _read_close_code(reader: asyncio.StreamReader) -> int:
    """Read server frames until the close frame; its status code."""
    while True:
        head = await reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if head[0] & 0x0F == 0x8:
            return int(struct.unpack("!H", payload[:2])[0])


@pytest.mark.parametrize("pipelined", [False, True])
async def test_unmasked_client_frame_closes_with_1002(rt: RuntimeHandle, pipelined: bool) -> None:
    host, port = rt.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = upgrade_request(rt.url, rt.api_key)
    unmasked = bytes([0x81, 4]) + b"ping"
    writer.write(request + (unmasked if pipelined else b""))
    response = await reader.readuntil(b"\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 101")
    if not pipelined:
        writer.write(unmasked)
    assert await asyncio.wait_for(_read_close_code(reader), 10) == 1002
    writer.close()
    # the server goes on serving others
    async with rt.client() as client:
        assert await client.ping() == "pong"


async def test_masked_frames_of_every_length_encoding_still_work(rt: RuntimeHandle) -> None:
    async with websockets.connect(
        rt.ws_url, additional_headers={"X-API-Key": rt.api_key}, max_size=None
    ) as connection:
        for size in (10, 200, 70000):
            frame = {**EXEC, "id": size, "name": "set_status", "args": ["big", "y" * size]}
            await connection.send(orjson.dumps(frame).decode())
            reply = orjson.loads(await connection.recv())
            assert (reply["id"], reply["type"]) == (size, "success")
        await connection.send("ping")
        assert await connection.recv() == "pong"
