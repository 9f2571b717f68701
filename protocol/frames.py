"""Encoders for the frames the server sends.

Key order follows PlaceOS (`id, type, msg, value, error_code, meta, mod, level, code`) and null keys
are left out, except `value` on a notify or an exec success, which is always present. `value` is
embedded as raw JSON bytes, never as a string holding JSON.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from protocol.codes import ErrorCode

PONG = "pong"
NULL = b"null"


#: Distinct (sys, mod, index, name) whose encoded `meta` is kept for reuse.
META_CACHE_SIZE = 4096
#: Largest payload a frame header of 2 bytes can announce (RFC 6455 5.2).
_SHORT_PAYLOAD = 125
_MEDIUM_PAYLOAD = 0xFFFF
_TEXT_FIN = 0x81


@lru_cache(maxsize=META_CACHE_SIZE)
def encode_meta(sys: str, mod: str, index: int, name: str) -> bytes:
    """The `meta` object echoing a request's addressing (cached: the same few recur)."""
    return orjson.dumps({"sys": sys, "mod": mod, "index": index, "name": name})


#: The header of each unmasked, final text frame short enough for a one-byte length, by size
#: (a lookup, not a call, on the hot path of every reply).
SHORT_TEXT_HEADERS = tuple(bytes((_TEXT_FIN, size)) for size in range(_SHORT_PAYLOAD + 1))


def text_frame_header(size: int) -> bytes:
    """The header of an unmasked, final WebSocket text frame of `size` payload bytes."""
    if size <= _SHORT_PAYLOAD:
        return bytes((_TEXT_FIN, size))
    if size <= _MEDIUM_PAYLOAD:
        return bytes((_TEXT_FIN, 126)) + size.to_bytes(2, "big")
    return bytes((_TEXT_FIN, 127)) + size.to_bytes(8, "big")


def text_frames(payloads: list[bytes]) -> bytes:
    """Several payloads as consecutive server-to-client text frames, ready for one write."""
    parts: list[bytes] = []
    append = parts.append
    short = SHORT_TEXT_HEADERS
    for payload in payloads:
        size = len(payload)
        append(short[size] if size <= _SHORT_PAYLOAD else text_frame_header(size))
        append(payload)
    return b"".join(parts)


def encode_value(value: Any) -> bytes:
    """JSON-encode a status or return value (raises TypeError if it is not serialisable)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


def encode_success(
    request_id: int, meta: bytes | None = None, value: bytes | None = None, code: int | None = None
) -> bytes:
    """A `success` frame: bind/unbind/debug/ignore (no value) or exec (value and code)."""
    if value is not None and meta is not None and code is not None:
        return b'{"id":%d,"type":"success","value":%b,"meta":%b,"code":%d}' % (
            request_id,
            value,
            meta,
            code,
        )
    parts = [b'{"id":', str(request_id).encode(), b',"type":"success"']
    if value is not None:
        parts += [b',"value":', value]
    if meta is not None:
        parts += [b',"meta":', meta]
    if code is not None:
        parts += [b',"code":', str(code).encode()]
    parts.append(b"}")
    return b"".join(parts)


def notify_parts(bind_id: int, meta: bytes) -> tuple[bytes, bytes]:
    """The fixed prefix and suffix of every notify for one binding; the value goes between."""
    return (
        b'{"id":' + str(bind_id).encode() + b',"type":"notify","value":',
        b',"meta":' + meta + b"}",
    )


def encode_notify(bind_id: int, value: bytes, meta: bytes) -> bytes:
    """A `notify` frame carrying a status value (raw JSON; `null` when the status was deleted)."""
    prefix, suffix = notify_parts(bind_id, meta)
    return prefix + value + suffix


def encode_error(
    request_id: int, error_code: ErrorCode, msg: str, code: int | None = None
) -> bytes:
    """An `error` frame."""
    frame: dict[str, Any] = {
        "id": request_id,
        "type": "error",
        "msg": msg,
        "error_code": int(error_code),
    }
    if code is not None:
        frame["code"] = code
    return orjson.dumps(frame)


def encode_debug(request_id: int, module_id: str, level: str, msg: str, meta: bytes) -> bytes:
    """A `debug` frame carrying one log line of a module."""
    head = orjson.dumps({"id": request_id, "type": "debug", "msg": msg})
    tail = orjson.dumps({"mod": module_id, "level": level})
    return head[:-1] + b',"meta":' + meta + b"," + tail[1:]
