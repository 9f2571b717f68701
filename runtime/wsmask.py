"""Refuse unmasked client frames (RFC 6455 §5.1: the server MUST close the connection, 1002).

aiohttp's frame reader accepts unmasked frames from clients. `MaskedOnlyWebSocketResponse`
puts a small scanner in front of it that follows the frame headers only (chunks are read in place
and payloads skipped, nothing is copied) and fails the connection with 1002 at the first frame
without the mask bit.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError

_MASK_BIT = 0x80
_LENGTH_BITS = 0x7F
_MASK_BYTES = 4
#: The most of a frame header the scanner reads: 2 bytes and a 64-bit extended length.
_LENGTH_HEADER_BYTES = 10
_FAILED = (True, b"")

Buffer = bytes | bytearray | memoryview


class MaskScanner:
    """Follows frame boundaries in the client's byte stream; False at an unmasked frame.

    Chunks are read in place (a memoryview of any other buffer); only an incomplete frame header,
    at most `_LENGTH_HEADER_BYTES`, is kept between chunks.
    """

    __slots__ = ("_partial", "_skip")

    def __init__(self) -> None:
        self._skip = 0  # bytes of the current frame still to come before the next header
        self._partial = b""  # an incomplete frame header

    def scan(self, data: Buffer) -> bool:
        """Whether every frame header in `data` (so far) carries the mask bit."""
        view = data if type(data) is bytes else memoryview(data)  # read in place, never copied
        size = len(view)
        pos = self._skip  # where the next frame header starts
        if self._partial:
            head = self._partial + bytes(view[:_LENGTH_HEADER_BYTES])
            end = _frame_end(head, 0, len(head))
            if end is None:
                self._partial = head  # still incomplete: `data` was shorter than the header
                return True
            if end < 0:
                return False
            pos = end - len(self._partial)
            self._partial = b""
        while pos + 2 <= size:
            second = view[pos + 1]
            if second < _MASK_BIT:
                return False
            length = second & _LENGTH_BITS
            if length < 126:
                pos += 2 + _MASK_BYTES + length
                continue
            end = _frame_end(view, pos, size)
            if end is None:
                break
            pos = end
        if pos >= size:
            self._skip = pos - size
        else:
            self._skip = 0
            self._partial = bytes(view[pos:])
        return True


def _frame_end(buffer: Buffer, pos: int, size: int) -> int | None:
    """Where the frame whose header starts at `pos` ends; None when the header is incomplete
    within `size` bytes, -1 when the frame is unmasked."""
    if pos + 2 > size:
        return None
    second = buffer[pos + 1]
    if second < _MASK_BIT:
        return -1
    length = second & _LENGTH_BITS
    if length < 126:
        return pos + 2 + _MASK_BYTES + length
    extra = 2 if length == 126 else 8
    if pos + 2 + extra > size:
        return None
    length = int.from_bytes(buffer[pos + 2 : pos + 2 + extra], "big")
    return pos + 2 + extra + _MASK_BYTES + length


class _MaskCheckingParser:
    """aiohttp's WebSocket reader behind a `MaskScanner`."""

    __slots__ = ("_fail", "_inner", "_scanner")

    def __init__(self, inner: Any, fail: Any, scanner: MaskScanner) -> None:
        self._inner = inner
        self._fail = fail
        self._scanner: MaskScanner | None = scanner

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        scanner = self._scanner
        if scanner is not None and not scanner.scan(data):
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
        tail = getattr(handler, "_message_tail", b"") or b""
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
