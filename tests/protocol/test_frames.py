"""Frame encoders: key order, omitted nulls, raw embedded values; slugs and the REST envelope."""

from __future__ import annotations

import orjson
import pytest

from protocol import (
    ErrorCode,
    encode_debug,
    encode_error,
    encode_meta,
    encode_notify,
    encode_success,
    encode_value,
    failure_envelope,
    http_status_for,
    parse_module_slug,
)

META = encode_meta("sys-1", "Display", 1, "power")


def test_bind_success_has_meta_and_no_value() -> None:
    frame = encode_success(1, META)
    assert frame == (
        b'{"id":1,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"}}'
    )


def test_unbind_success_is_bare() -> None:
    assert encode_success(4) == b'{"id":4,"type":"success"}'


def test_exec_success_embeds_the_value_as_raw_json_and_carries_code() -> None:
    frame = orjson.loads(encode_success(2, META, encode_value({"a": [1, "x"]}), 200))
    assert frame["value"] == {"a": [1, "x"]}
    assert list(frame) == ["id", "type", "value", "meta", "code"]


def test_exec_success_with_null_value_keeps_value_key() -> None:
    frame = orjson.loads(encode_success(2, META, encode_value(None), 200))
    assert "value" in frame
    assert frame["value"] is None


def test_notify_carries_value_and_meta_and_null_on_delete() -> None:
    frame = orjson.loads(encode_notify(1, b"null", META))
    assert frame == {"id": 1, "type": "notify", "value": None, "meta": orjson.loads(META)}
    assert orjson.loads(encode_notify(1, b'"on"', META))["value"] == "on"


def test_error_frame_key_order() -> None:
    frame = encode_error(6, ErrorCode.BAD_REQUEST, "could not find function nope", 500)
    assert (
        frame
        == b'{"id":6,"type":"error","msg":"could not find function nope","error_code":1,"code":500}'
    )


def test_debug_frame_shape() -> None:
    meta = encode_meta("sys-1", "mod-x", 1, "debug")
    frame = orjson.loads(encode_debug(5, "mod-x", "debug", "status updated", meta))
    assert list(frame) == ["id", "type", "msg", "meta", "mod", "level"]
    assert frame["mod"] == "mod-x"


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("Display", ("Display", 1)),
        ("Display_3", ("Display", 3)),
        ("My_Display", ("My_Display", 1)),
        ("My_Display_12", ("My_Display", 12)),
        ("_TRIGGER_", ("_TRIGGER_", 1)),
        ("Display_", ("Display_", 1)),
    ],
)
def test_slug_splits_on_last_underscore(slug: str, expected: tuple[str, int]) -> None:
    assert parse_module_slug(slug) == expected


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (ErrorCode.MODULE_NOT_FOUND, 404),
        (ErrorCode.SYSTEM_NOT_FOUND, 404),
        (ErrorCode.PARSE_ERROR, 400),
        (ErrorCode.BAD_REQUEST, 400),
        (ErrorCode.UNKNOWN_COMMAND, 400),
        (ErrorCode.ACCESS_DENIED, 401),
        (ErrorCode.REQUEST_FAILED, 409),
        (ErrorCode.UNEXPECTED_FAILURE, 409),
    ],
)
def test_http_status_mapping(code: ErrorCode, status: int) -> None:
    assert http_status_for(code, 409) == status


def test_failure_envelope_has_every_key() -> None:
    status, body = failure_envelope(ErrorCode.ACCESS_DENIED, "no", "sys-1", "Display", 2)
    assert status == 401
    assert orjson.loads(body) == {
        "error": "access denied",
        "sys_id": "sys-1",
        "module_name": "Display",
        "index": 2,
        "message": "no",
        "backtrace": None,
    }
    assert failure_envelope(ErrorCode.REQUEST_FAILED, "x", "s", "m", 1)[0] == 500


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frames_announce_their_length_in_the_shortest_form(size: int) -> None:
    from protocol import text_frame_header

    header = text_frame_header(size)
    assert header[0] == 0x81  # FIN + text, unmasked
    if size <= 125:
        assert header[1:] == bytes([size])
    elif size <= 0xFFFF:
        assert header[1] == 126 and int.from_bytes(header[2:], "big") == size
    else:
        assert header[1] == 127 and int.from_bytes(header[2:], "big") == size


def test_several_payloads_become_consecutive_frames() -> None:
    from protocol import text_frames

    payloads = [b"a", b"x" * 300, b""]
    data = text_frames(payloads)
    found = []
    while data:
        size, start = data[1], 2
        if size == 126:
            size, start = int.from_bytes(data[2:4], "big"), 4
        found.append(data[start : start + size])
        data = data[start + size :]
    assert found == payloads


def test_exec_success_is_the_same_with_every_part_present() -> None:
    frame = encode_success(7, META, b'{"a":1}', 409)
    assert frame == (b'{"id":7,"type":"success","value":{"a":1},"meta":' + META + b',"code":409}')
    assert orjson.loads(encode_success(-3, META, b"null", 200))["id"] == -3


def test_meta_is_encoded_once_per_address() -> None:
    # not `is META`: other tests may have pushed that entry out of the bounded cache
    first = encode_meta("sys-1", "Display", 1, "power")
    assert first == META
    assert encode_meta("sys-1", "Display", 1, "power") is first
    assert orjson.loads(encode_meta("sys-2", "Display", 2, "power")) == {
        "sys": "sys-2",
        "mod": "Display",
        "index": 2,
        "name": "power",
    }


def test_the_short_header_table_is_the_header_of_each_short_size() -> None:
    from protocol import text_frame_header, text_frames
    from protocol.frames import SHORT_TEXT_HEADERS

    assert len(SHORT_TEXT_HEADERS) == 126
    for size, header in enumerate(SHORT_TEXT_HEADERS):
        assert header == bytes([0x81, size])
    payloads = [b"y" * size for size in (0, 125, 126, 127, 65535, 65536)]
    assert text_frames(payloads) == b"".join(text_frame_header(len(p)) + p for p in payloads)
