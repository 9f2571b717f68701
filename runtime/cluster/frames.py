"""Records of the host-to-host exec channel (pure encoding, no I/O).

A channel message is a binary WebSocket message holding one or more records, each a 4-byte
big-endian length and that many bytes, so the writes of one event-loop turn leave in one message.

- request: JSON `[id, module_id, method, args]`;
- reply: ASCII `<id> <kind> ` then the body; kind `R` = result (`R <response code> <raw JSON>`),
  `N` = not hosted here (refused before anything started; body: a message), `E` = error (body:
  JSON `[error_code, message, http_code, backtrace or null]`).

The result's JSON is carried as the owner encoded it and never parsed on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from protocol import ErrorCode

#: Largest record either side sends or accepts (larger requests fail before they are sent;
#: a larger result becomes an error reply; a larger incoming record is refused by id).
MAX_RECORD_BYTES = 8 * 1024 * 1024
#: Largest WebSocket message (several records); the writer never builds a larger one.
MAX_MESSAGE_BYTES = 2 * MAX_RECORD_BYTES + 1024
#: Bytes of the length prefix of each record.
PREFIX_BYTES = 4
_ID_AT_START = re.compile(rb"\s*\[\s*(\d{1,18})\s*,")


class FrameError(ValueError):
    """A record that cannot be read; `request_id` when its id could still be read."""

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class ReplyKind(Enum):
    RESULT = b"R"
    NOT_HOSTED = b"N"
    ERROR = b"E"


@dataclass(slots=True)
class Request:
    id: int
    module_id: str
    method: str
    args: list[Any] | dict[str, Any]


@dataclass(slots=True)
class Reply:
    id: int
    kind: ReplyKind
    body: bytes
    code: int = 200


def record(payload: bytes) -> bytes:
    """`payload` with its length prefix."""
    return len(payload).to_bytes(PREFIX_BYTES, "big") + payload


def split(message: bytes) -> Iterator[memoryview]:
    """The records of one message; FrameError on a truncated one."""
    view = memoryview(message)
    at, end = 0, len(view)
    while at < end:
        if end - at < PREFIX_BYTES:
            raise FrameError("truncated record length")
        size = int.from_bytes(view[at : at + PREFIX_BYTES], "big")
        at += PREFIX_BYTES
        if size > end - at:
            raise FrameError(f"record of {size} bytes runs past the message")
        yield view[at : at + size]
        at += size


def encode_request(
    request_id: int, module_id: str, method: str, args: list[Any] | dict[str, Any]
) -> bytes:
    return record(orjson.dumps([request_id, module_id, method, args]))


def decode_request(payload: memoryview) -> Request:
    """Raises FrameError (with the id when it can be read)."""
    if len(payload) > MAX_RECORD_BYTES:
        raise FrameError(f"record over {MAX_RECORD_BYTES} bytes", _leading_id(payload))
    try:
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise FrameError("request is not JSON", _leading_id(payload)) from None
    if not isinstance(value, list) or len(value) != 4 or type(value[0]) is not int:
        raise FrameError("request must be [id, module_id, method, args]", _leading_id(payload))
    request_id, module_id, method, args = value
    if not (
        isinstance(module_id, str) and isinstance(method, str) and isinstance(args, list | dict)
    ):
        raise FrameError("bad module id, function name or arguments", request_id)
    return Request(request_id, module_id, method, args)


def _leading_id(payload: memoryview) -> int | None:
    found = _ID_AT_START.match(bytes(payload[:40]))
    return int(found.group(1)) if found else None


def encode_result(request_id: int, raw: bytes, code: int = 200) -> bytes:
    return record(b"%d R %d " % (request_id, code) + raw)


def encode_not_hosted(request_id: int, message: str) -> bytes:
    return record(b"%d N " % request_id + message.encode())


def encode_error(
    request_id: int,
    error_code: ErrorCode,
    message: str,
    http_code: int = 500,
    backtrace: list[str] | None = None,
) -> bytes:
    body = orjson.dumps([int(error_code), message, http_code, backtrace])
    return record(b"%d E " % request_id + body)


def decode_reply(payload: memoryview) -> Reply:
    """Raises FrameError."""
    data = bytes(payload)
    head, _, rest = data.partition(b" ")
    kind_byte, _, body = rest.partition(b" ")
    try:
        request_id = int(head)
        kind = ReplyKind(kind_byte)
    except ValueError:
        raise FrameError("malformed reply") from None
    if kind is ReplyKind.RESULT:
        code, _, body = body.partition(b" ")
        if not code.isdigit():
            raise FrameError("malformed result reply", request_id)
        return Reply(request_id, kind, body, int(code))
    return Reply(request_id, kind, body)


def decode_error(body: bytes) -> tuple[ErrorCode, str, int, list[str] | None]:
    """The parts of an `E` reply's body (a malformed one reads as an unexpected failure)."""
    try:
        code, message, http_code, backtrace = orjson.loads(body)
        error_code = ErrorCode(code)
    except (orjson.JSONDecodeError, ValueError, TypeError):
        return ErrorCode.UNEXPECTED_FAILURE, "malformed error reply from the owner", 502, None
    if not isinstance(backtrace, list):
        backtrace = None
    return error_code, str(message), http_code if isinstance(http_code, int) else 500, backtrace
