"""Refuse unmasked client frames (RFC 6455 §5.1: the server MUST close the connection, 1002).

aiohttp's frame reader accepts unmasked frames from clients. `MaskedOnlyWebSocketResponse`
puts a small scanner in front of it that follows the frame headers only (payloads are skipped,
not copied) and fails the connection with 1002 at the first frame without the mask bit.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError

_MASK_BIT = 0x80
_LENGTH_BITS = 0x7F
_MASK_BYTES = 4
_FAILED = (True, b"")


class MaskScanner:
    """Follows frame boundaries in the client's byte stream; False at an unmasked frame."""

    __slots__ = ("_partial", "_skip")

    def __init__(self) -> None:
        self._skip = 0  # bytes of the current frame still to come before the next header
        self._partial = b""  # an incomplete frame header

    def scan(self, data: bytes) -> bool:
        """Whether every frame header in `data` (so far) carries the mask bit."""
        if self._partial:
            data, self._partial = self._partial + data, b""
        size = len(data)
        pos = self._skip  # where the next frame header starts
        while pos + 2 <= size:
            second = data[pos + 1]
            if second < _MASK_BIT:
                return False
            length = second & _LENGTH_BITS
            if length < 126:
                pos += 2 + _MASK_BYTES + length
                continue
            extra = 2 if length == 126 else 8
            if pos + 2 + extra > size:
                break
            length = int.from_bytes(data[pos + 2 : pos + 2 + extra], "big")
            pos += 2 + extra + _MASK_BYTES + length
        if pos >= size:
            self._skip = pos - size
        else:
            self._skip = 0
            self._partial = data[pos:]
        return True


class _MaskCheckingParser:
    """aiohttp's WebSocket reader behind a `MaskScanner`."""

    __slots__ = ("_fail", "_inner", "_scanner")

    def __init__(self, inner: Any, fail: Any, scanner: MaskScanner) -> None:
        self._inner = inner
        self._fail = fail
        self._scanner: MaskScanner | None = scanner

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        scanner = self._scanner
        if scanner is not None and not scanner.scan(bytes(data)):
            self._scanner = None
            self._fail()
            return _FAILED
        return self._inner.feed_data(data)

    def feed_eof(self) -> Any:
        return self._inner.feed_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MaskedOnlyWebSocketResponse(web.WebSocketResponse):
    """A WebSocketResponse that closes the connection (1002) at an unmasked client frame."""

    def _post_start(self, request: web.BaseRequest, protocol: Any, writer: Any) -> None:
        handler: Any = request.protocol
        tail = bytes(getattr(handler, "_message_tail", b"") or b"")
        super()._post_start(request, protocol, writer)
        if getattr(handler, "_payload_parser", None) is not self._parser:
            return  # an aiohttp whose internals differ: keep its own reader
        scanner = MaskScanner()
        intact = scanner.scan(tail)  # bytes that came with the handshake, already parsed
        handler._payload_parser = _MaskCheckingParser(self._parser, self._refuse, scanner)
        if not intact:
            self._refuse()

    def _refuse(self) -> None:
        reader: Any = self._reader
        if reader is not None:
            reader.set_exception(
                WebSocketError(WSCloseCode.PROTOCOL_ERROR, "client frames must be masked")
            )
