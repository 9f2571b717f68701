"""Strict parsing of control requests.

Every input, whatever its bytes, yields exactly one result: a `Request`, or a `ParseFailure`
carrying the error code, the reply id and a readable reason. Nothing raises out of `parse_request`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

import ijson
import orjson

from protocol.codes import ErrorCode

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: Largest frame the parser accepts, in bytes of its UTF-8 encoding; a larger one gets a
#: `bad_request` reply (carrying the frame's `id` when one can be read).
MAX_FRAME_BYTES = 1024 * 1024
#: Bytes (characters of a `str` frame) at the start of an oversize frame searched for its `id`;
#: the rest of the frame is never decoded.
ID_PREFIX_BYTES = 4096
#: UTF-8 takes at most this many bytes per character.
_MAX_UTF8_BYTES_PER_CHAR = 4


class Command(StrEnum):
    """The commands a control request may carry."""

    BIND = "bind"
    UNBIND = "unbind"
    EXEC = "exec"
    DEBUG = "debug"
    IGNORE = "ignore"


_COMMANDS = {c.value: c for c in Command}
_KEYS = frozenset({"id", "cmd", "sys", "mod", "index", "name", "args"})
_REQUIRED = ("id", "cmd", "sys", "mod", "name")
_REQUIRED_COUNT = len(_REQUIRED)

Args = list[Any] | dict[str, Any]

#: ijson events that carry a whole value (an `id` given as an object or array is no id).
_SCALAR_EVENTS = frozenset({"null", "boolean", "integer", "double", "number", "string"})
#: Bytes a JSON number may end with: stripped from a prefix's end, they cannot cut an `id`.
_NUMBER_BYTES = b"0123456789+-.eE"


@dataclass(slots=True)
class Request:
    """A valid control request. `args` is a list (positional) or a dict (named)."""

    id: int
    cmd: Command
    sys: str
    mod: str
    index: int
    name: str
    args: Args


@dataclass(slots=True, frozen=True)
class ParseFailure:
    """A frame that is not a valid request, with what to reply."""

    id: int
    code: ErrorCode
    reason: str

    @property
    def message(self) -> str:
        """The reply's `msg`: PlaceOS's `bad request: <reason>` form."""
        if self.code is ErrorCode.UNKNOWN_COMMAND:
            return self.reason
        prefix = "parse error" if self.code is ErrorCode.PARSE_ERROR else "bad request"
        return f"{prefix}: {self.reason}"


def _is_int(value: object, low: int, high: int) -> TypeGuard[int]:
    return type(value) is int and low <= value <= high


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def frame_bytes(frame: bytes | str) -> int:
    """The size of a frame in bytes of its UTF-8 encoding (as it travelled on the wire)."""
    if isinstance(frame, bytes):
        return len(frame)
    if frame.isascii():
        return len(frame)
    return len(frame.encode("utf-8", "surrogatepass"))


def _readable_id(frame: bytes | str) -> int:
    """The integer top-level `id` of an oversize frame, read from its first `ID_PREFIX_BYTES`.

    The prefix is parsed as the start of a JSON document, less a number cut short by its end;
    the last top-level `id` in it wins, as when a whole object is decoded. A frame that is not a
    JSON object, whose `id` is not a 64-bit integer, or whose `id` lies beyond the prefix gets 0.
    """
    head = frame[:ID_PREFIX_BYTES]
    if len(head) == len(frame):
        return _whole_frame_id(frame)
    prefix = head.encode("utf-8", "surrogatepass") if isinstance(head, str) else head
    prefix = prefix.rstrip(_NUMBER_BYTES)  # so every number the parser reports is whole
    found: object = None
    depth = 0
    key_is_id = False
    try:
        for _, event, value in ijson.parse(prefix):
            if depth == 0 and event != "start_map":
                return 0  # not a JSON object
            if key_is_id:
                key_is_id = False
                found = value if event in _SCALAR_EVENTS else None  # an object or array: no id
            if event == "start_map" or event == "start_array":
                depth += 1
            elif event == "end_map" or event == "end_array":
                depth -= 1
            elif event == "map_key" and depth == 1:
                key_is_id = value == "id"
    except (ijson.JSONError, UnicodeDecodeError):
        pass  # the prefix ends here, or the frame is not JSON from here on
    return found if _is_int(found, INT64_MIN, INT64_MAX) else 0


def _whole_frame_id(frame: bytes | str) -> int:
    """The integer `id` of a frame that is a JSON object carrying one, else 0."""
    try:
        data = orjson.loads(frame)
    except (orjson.JSONDecodeError, UnicodeError, TypeError):
        return 0
    raw_id = data.get("id") if type(data) is dict else None
    return raw_id if _is_int(raw_id, INT64_MIN, INT64_MAX) else 0


def parse_request(frame: bytes | str) -> Request | ParseFailure:
    """Parse one text frame into a `Request` or a classified `ParseFailure`."""
    chars = len(frame)
    if chars * _MAX_UTF8_BYTES_PER_CHAR > MAX_FRAME_BYTES:  # else it cannot be too large
        size = frame_bytes(frame)
        if size > MAX_FRAME_BYTES:
            return ParseFailure(
                _readable_id(frame),
                ErrorCode.BAD_REQUEST,
                f"frame of {size} bytes exceeds the {MAX_FRAME_BYTES}-byte limit",
            )
    try:
        data = orjson.loads(frame)
    except (orjson.JSONDecodeError, UnicodeError, TypeError):
        return ParseFailure(0, ErrorCode.PARSE_ERROR, "frame is not valid JSON")
    return validate_request(data)


def validate_request(data: Any) -> Request | ParseFailure:
    """Validate an already-decoded JSON value as a control request."""
    if type(data) is not dict:
        reason = f"expected a JSON object, got {_type_name(data)}"
        return ParseFailure(0, ErrorCode.BAD_REQUEST, reason)
    try:
        request_id, cmd, sys, mod, name = (
            data["id"],
            data["cmd"],
            data["sys"],
            data["mod"],
            data["name"],
        )
    except KeyError:
        return _validate_in_detail(data, data.get("id"))
    index = data.get("index", 1)
    if index is None:
        index = 1
    args = data.get("args")
    if args is None:
        args = []
    # the five required keys are there: any key beyond them and `index` / `args` is unknown
    size = len(data)
    if (
        (size == _REQUIRED_COUNT or size == _REQUIRED_COUNT + ("index" in data) + ("args" in data))
        and type(request_id) is int
        and INT64_MIN <= request_id <= INT64_MAX
        and type(cmd) is str
        and type(sys) is str
        and type(mod) is str
        and type(name) is str
        and type(index) is int
        and INT32_MIN <= index <= INT32_MAX
        and (type(args) is list or type(args) is dict)
    ):
        command = _COMMANDS.get(cmd)
        if command is not None:
            return Request(request_id, command, sys, mod, index, name, args)
    return _validate_in_detail(data, data.get("id"))


def _validate_in_detail(data: dict[str, Any], raw_id: Any) -> Request | ParseFailure:
    """The slow path: a case-folded `cmd`, or the first problem found, in a stable order."""
    reply_id = raw_id if _is_int(raw_id, INT64_MIN, INT64_MAX) else 0

    def fail(reason: str, code: ErrorCode = ErrorCode.BAD_REQUEST) -> ParseFailure:
        return ParseFailure(reply_id, code, reason)

    unknown = sorted(k for k in data if k not in _KEYS)
    if unknown:
        return fail(f"unknown key {unknown[0]!r}")
    for key in _REQUIRED:
        if key not in data:
            return fail(f"missing key {key!r}")
    if not _is_int(raw_id, INT64_MIN, INT64_MAX):
        return fail(f"'id' must be a 64-bit integer, got {_type_name(raw_id)}")
    for key in ("cmd", "sys", "mod", "name"):
        if type(data[key]) is not str:
            return fail(f"{key!r} must be a string, got {_type_name(data[key])}")
    cmd = _COMMANDS.get(data["cmd"].lower())
    if cmd is None:
        return fail(f"unknown command {data['cmd']!r}", ErrorCode.UNKNOWN_COMMAND)
    index = data.get("index", 1)
    if index is None:
        index = 1
    if not _is_int(index, INT32_MIN, INT32_MAX):
        return fail(f"'index' must be a 32-bit integer, got {_type_name(index)}")
    args = data.get("args")
    if args is None:
        args = []
    elif type(args) is not list and type(args) is not dict:
        return fail(f"'args' must be an array or an object, got {_type_name(args)}")
    return Request(raw_id, cmd, data["sys"], data["mod"], index, data["name"], args)
