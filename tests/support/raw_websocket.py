"""The WebSocket upgrade request of tests that speak the wire themselves on a plain socket."""

from __future__ import annotations

import base64
import os

from runtime.server import CONTROL_PATH


def upgrade_request(url: str, api_key: str) -> bytes:
    """The HTTP request that opens a control WebSocket at the runtime at `url` (http://host:port)."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {CONTROL_PATH} HTTP/1.1\r\nHost: {url.removeprefix('http://')}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nX-API-Key: {api_key}\r\n\r\n"
    ).encode()
