"""Request parsing: strictness, defaults, and one classified result for every input."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MAX_FRAME_BYTES, Command, ErrorCode, ParseFailure, Request, parse_request

VALID = {"id": 7, "cmd": "exec", "sys": "sys-1", "mod": "Display", "index": 2, "name": "power"}


def parse(obj: object) -> Request | ParseFailure:
    return parse_request(json.dumps(obj))


def test_full_request_parses() -> None:
    request = parse({**VALID, "args": [True]})
    assert request == Request(7, Command.EXEC, "sys-1", "Display", 2, "power", [True])


def test_index_defaults_to_one_and_args_to_empty_list() -> None:
    request = parse({k: v for k, v in VALID.items() if k != "index"})
    assert isinstance(request, Request)
    assert request.index == 1
    assert request.args == []


def test_null_args_and_null_index_take_defaults() -> None:
    request = parse({**VALID, "index": None, "args": None})
    assert isinstance(request, Request)
    assert (request.index, request.args) == (1, [])


def test_named_args_object_is_accepted() -> None:
    request = parse({**VALID, "args": {"state": True}})
    assert isinstance(request, Request)
    assert request.args == {"state": True}


def test_cmd_is_case_insensitive() -> None:
    request = parse({**VALID, "cmd": "BIND"})
    assert isinstance(request, Request)
    assert request.cmd is Command.BIND


def test_not_json_is_parse_error_with_id_zero() -> None:
    failure = parse_request(b"{nope")
    assert failure == ParseFailure(0, ErrorCode.PARSE_ERROR, "frame is not valid JSON")
    assert failure.message == "parse error: frame is not valid JSON"


def test_invalid_utf8_is_parse_error() -> None:
    failure = parse_request(b'{"id":1,"cmd":"\xff"}')
    assert isinstance(failure, ParseFailure)
    assert failure.code is ErrorCode.PARSE_ERROR


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ({**VALID, "extra": 1}, "unknown key 'extra'"),
        ({k: v for k, v in VALID.items() if k != "name"}, "missing key 'name'"),
        ({**VALID, "sys": 5}, "'sys' must be a string, got integer"),
        ({**VALID, "index": "2"}, "'index' must be a 32-bit integer, got string"),
        ({**VALID, "index": 2**31}, "'index' must be a 32-bit integer, got integer"),
        ({**VALID, "args": "x"}, "'args' must be an array or an object, got string"),
    ],
)
def test_invalid_request_is_bad_request_keeping_the_id(
    frame: dict[str, object], reason: str
) -> None:
    failure = parse(frame)
    assert failure == ParseFailure(7, ErrorCode.BAD_REQUEST, reason)
    assert failure.message == f"bad request: {reason}"


@pytest.mark.parametrize("bad_id", ["7", 1.5, True, None, 2**63])
def test_non_integer_id_is_rejected_and_replied_with_id_zero(bad_id: object) -> None:
    failure = parse({**VALID, "id": bad_id})
    assert isinstance(failure, ParseFailure)
    assert failure.id == 0
    assert failure.code is ErrorCode.BAD_REQUEST


def test_unknown_cmd_is_unknown_command() -> None:
    failure = parse({**VALID, "cmd": "launch"})
    assert failure == ParseFailure(7, ErrorCode.UNKNOWN_COMMAND, "unknown command 'launch'")


def test_json_that_is_not_an_object_is_bad_request() -> None:
    failure = parse([1, 2])
    assert failure == ParseFailure(0, ErrorCode.BAD_REQUEST, "expected a JSON object, got array")


def test_oversize_frame_is_refused_before_decoding() -> None:
    frame = orjson.dumps({**VALID, "args": ["x" * MAX_FRAME_BYTES]})
    failure = parse_request(frame)
    assert isinstance(failure, ParseFailure)
    assert failure.code is ErrorCode.BAD_REQUEST
    assert "exceeds the 1048576-byte limit" in failure.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.integers(-(2**53), 2**53 - 1) | st.text() | st.none(),
        "cmd": st.sampled_from(["bind", "unbind", "exec", "debug", "ignore", "EXEC", "x"]),
        "sys": st.text() | st.integers(),
        "mod": st.text() | st.none(),
        "index": st.integers() | st.none() | st.text(),
        "name": st.text(),
        "args": json_values,
        "extra": json_values,
    },
)


def _check_one_result(result: object) -> None:
    assert isinstance(result, Request | ParseFailure)
    if isinstance(result, ParseFailure):
        assert isinstance(result.code, ErrorCode)
        assert isinstance(result.id, int)
        assert result.message
    else:
        assert isinstance(result.args, list | dict)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_exceptions(frame: bytes) -> None:
    _check_one_result(parse_request(frame))


@settings(max_examples=400)
@given(st.text(max_size=300))
def test_arbitrary_text_never_escapes_as_exceptions(frame: str) -> None:
    _check_one_result(parse_request(frame))


@settings(max_examples=600)
@given(request_like)
def test_request_shaped_objects_are_classified(obj: dict[str, object]) -> None:
    result = parse(obj)
    _check_one_result(result)
    valid = (
        set(obj) <= {"id", "cmd", "sys", "mod", "index", "name", "args"}
        and {"id", "cmd", "sys", "mod", "name"} <= set(obj)
        and type(obj["id"]) is int
        and -(2**53) <= obj["id"] < 2**53  # type: ignore[operator]
        and obj["cmd"] in ("bind", "unbind", "exec", "debug", "ignore", "EXEC")
        and all(type(obj[k]) is str for k in ("sys", "mod", "name"))
        and (
            obj.get("index") is None
            or (type(obj["index"]) is int and -(2**31) <= obj["index"] < 2**31)
        )  # type: ignore[operator]
        and type(obj.get("args", [])) in (list, dict, type(None))
    )
    assert isinstance(result, Request) == valid


@given(json_values)
def test_any_json_value_is_classified(value: object) -> None:
    _check_one_result(parse(value))
