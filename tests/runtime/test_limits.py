"""A client that stops reading is cut off instead of growing memory; per-connection limits."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from runtime import session as session_module
from runtime.testing import RuntimeHandle
from tests.lifecycle.support import read_reply
from tests.support.raw_websocket import upgrade_request


def _open_silent_websocket(host: str, port: int, api_key: str) -> socket.socket:
    """A WebSocket that completes the handshake and then never reads (small receive buffer)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(upgrade_request(f"http://{host}:{port}", api_key))
    response = sock.recv(1024)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


async def test_client_that_stops_reading_is_cut_off(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "MAX_PENDING_FRAMES", 50)
    host, port = rt.url.removeprefix("http://").split(":")
    sock = await asyncio.to_thread(_open_silent_websocket, host, int(port), rt.api_key)
    try:
        bind = b'{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","name":"big"}'
        sock.sendall(_masked_text_frame(bind))
        assert (await asyncio.to_thread(read_reply, sock, 1))["type"] == "success"
        assert rt.runtime.store.subscriber_count("mod-1", "big") == 1
        driver = rt.driver("mod-1")
        for n in range(2000):
            driver["big"] = [n, "x" * 20000]
            await asyncio.sleep(0)
            if not rt.runtime.sessions:
                break
        await rt.runtime.wait_for_sessions(0)  # the slow connection is cut off
        assert rt.runtime.store.subscriber_count("mod-1", "big") == 0
    finally:
        sock.close()
    async with rt.client() as client:
        assert await client.ping() == "pong"


async def test_too_many_execs_in_flight_get_an_error(
    rt: RuntimeHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "MAX_CONCURRENT_EXECS", 3)
    display = rt.driver("mod-1")
    async with rt.client() as client:
        held = [
            asyncio.create_task(client.exec("sys-1", "Display", "wait_gate")) for _ in range(3)
        ]
        for _ in held:
            await asyncio.wait_for(display.arrivals.get(), 10)  # type: ignore[attr-defined]
        reply = await client.request(
            {"cmd": "exec", "sys": "sys-1", "mod": "Display", "name": "power", "args": [True]}
        )
        assert (reply["type"], reply["error_code"]) == ("error", 7)
        assert "too many requests in flight" in reply["msg"]
        display.gate.set()  # type: ignore[attr-defined]
        assert await asyncio.gather(*held) == ["released"] * 3
