"""An oversize frame's reply id is read from a bounded prefix; the rest is never decoded."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import MAX_FRAME_BYTES, ErrorCode, ParseFailure, parse_request
from protocol.requests import ID_PREFIX_BYTES, INT64_MAX, INT64_MIN

HEAD = {"cmd": "exec", "sys": "sys-1", "mod": "Display", "name": "power"}
BIG = "x" * (MAX_FRAME_BYTES + 1)


def _failure(frame: bytes | str) -> ParseFailure:
    failure = parse_request(frame)
    assert isinstance(failure, ParseFailure)
    assert failure.code is ErrorCode.BAD_REQUEST and "exceeds" in failure.reason
    return failure


@pytest.mark.parametrize("as_text", [False, True])
def test_id_at_the_start_is_read(as_text: bool) -> None:
    frame = orjson.dumps({"id": 41, **HEAD, "args": [BIG]})
    assert _failure(frame.decode() if as_text else frame).id == 41


def test_id_at_the_start_is_read_though_the_rest_is_not_json() -> None:
    """Proof that the tail is not decoded: a whole-frame decode would fail and answer 0."""
    frame = orjson.dumps({"id": 42, **HEAD})[:-1] + b',"args":["' + BIG.encode() + b"\xff\xfe"
    assert _failure(frame).id == 42


def test_id_after_the_prefix_is_not_looked_for() -> None:
    frame = orjson.dumps({**HEAD, "args": ["y" * ID_PREFIX_BYTES, BIG], "id": 43})
    assert frame.index(b'"id"') > ID_PREFIX_BYTES
    assert _failure(frame).id == 0


def test_id_whose_digits_the_prefix_cuts_is_no_id() -> None:
    """Never a wrong id: `1234` cut after `12` is not answered as 12."""
    for cut in range(1, 5):
        pad = " " * (ID_PREFIX_BYTES - len('{"id":') - cut)
        frame = pad + orjson.dumps({"id": 1234, **HEAD, "args": [BIG]}).decode()
        assert _failure(frame).id == 0
    pad = " " * (ID_PREFIX_BYTES - len('{"id":1234,'))
    assert _failure(pad + orjson.dumps({"id": 1234, **HEAD, "args": [BIG]}).decode()).id == 1234


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (b'{"id":"41",', 0),  # today's rules: a string id is no id
        (b'{"id":41.0,', 0),
        (b'{"id":true,', 0),
        (b'{"id":%d,' % (INT64_MAX + 1), 0),
        (b'{"id":%d,' % INT64_MIN, INT64_MIN),
        (b'{"id":{"n":1},', 0),
        (b'{"nested":{"id":7},"id":8,', 8),
        (b'{"nested":{"id":7},', 0),
        (b'{"id":5,"id":6,', 6),  # the last wins, as in a decoded object
        (b'{"id":5,"id":[1],', 0),
        (b'[{"id":5},', 0),
        (b'\xff{"id":5,', 0),
    ],
)
def test_todays_rules_for_unreadable_ids_hold_in_the_prefix(start: bytes, expected: int) -> None:
    frame = start + b'"args":["' + BIG.encode() + b'"]}'
    assert _failure(frame).id == expected


@settings(max_examples=60, deadline=None)
@given(
    request_id=st.integers(INT64_MIN, INT64_MAX),
    pad=st.integers(0, ID_PREFIX_BYTES),
    keys=st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("id", "args")),
                         st.integers(INT64_MIN, INT64_MAX) | st.text(max_size=20), max_size=4),
)
def test_the_answer_is_the_frame_id_or_0(request_id: int, pad: int, keys: dict[str, object]
                                         ) -> None:
    body = orjson.dumps({**keys, "id": request_id, "args": [BIG]})
    frame = b" " * pad + body
    end_of_id = pad + body.index(b'"args"')
    assert _failure(frame).id == (request_id if end_of_id <= ID_PREFIX_BYTES else 0)
