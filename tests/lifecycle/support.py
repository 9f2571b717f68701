"""Raw WebSocket clients that misbehave: never read, reset the connection, read late."""

from __future__ import annotations

import os
import socket
import struct

import orjson

from runtime.testing import RuntimeHandle
from tests.support.raw_websocket import upgrade_request


def open_raw_websocket(rt: RuntimeHandle, api_key: str | None = None) -> socket.socket:
    """A WebSocket past its handshake on a plain socket with a small receive buffer."""
    return open_raw_websocket_at(rt.url, api_key or rt.api_key)


def open_raw_websocket_at(url: str, api_key: str) -> socket.socket:
    """`open_raw_websocket` to the runtime at `url` (http://host:port)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(upgrade_request(url, api_key))
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def masked_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame (masked, as RFC 6455 requires)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if len(payload) < 126:
        header = bytes([0x80 | opcode, 0x80 | len(payload)])
    else:
        header = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", len(payload))
    return header + mask + masked


def send_request(sock: socket.socket, **request: object) -> None:
    sock.sendall(masked_frame(orjson.dumps(request)))


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """One server frame: (opcode, payload); opcode -1 when the socket ended."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    try:
        first, second = exactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", exactly(8))[0]
        return first & 0x0F, exactly(length)
    except (EOFError, ConnectionError):
        return -1, b""


def read_reply(sock: socket.socket, request_id: int) -> dict[str, object]:
    """Read frames until the reply carrying `request_id`."""
    while True:
        opcode, payload = read_frame(sock)
        assert opcode != -1, "socket ended before the reply"
        if opcode == 0x1 and payload != b"pong":
            frame = orjson.loads(payload)
            if frame.get("id") == request_id and frame.get("type") != "notify":
                return dict(frame)


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset (RST) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_until_closed(sock: socket.socket) -> int | None:
    """Read everything the server sends; returns the close code, if a close frame came."""
    while True:
        opcode, payload = read_frame(sock)
        if opcode == -1:
            return None
        if opcode == 0x8:
            sock.sendall(masked_frame(payload[:2], opcode=0x8))
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
