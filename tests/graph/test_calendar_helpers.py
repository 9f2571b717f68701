"""Shared calendar helpers: model JSON rules, QR codes, templates, time-zone names."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from drivers.calendar.models import Attendee, Calendar, Event, Group, Recurrence, User
from drivers.calendar.qr import png_qrcode, qr_matrix, svg_qrcode
from drivers.calendar.templates import build_template, find_template, template_selector
from drivers.microsoft.timezones import WINDOWS_TO_IANA, iana_name

#: The example output of `generate_svg_qrcode("Test")` in PlaceOS's driver documentation.
SEED_SVG = Path(__file__).with_name("seed_examples") / "qr_test.svg"


def test_models_omit_none_keep_order_and_format_times() -> None:
    event = Event(
        event_start=1671408000, event_end=1671410700, id="AAk", title="Catch-up",
        attendees=[Attendee(name="Jim", email="jim@x.example", response_status="accepted",
                            resource=False)],
        created=datetime(2022, 12, 18, 23, 58, 18, 912345, tzinfo=UTC),
        updated=datetime(2022, 12, 19, 11, 8, 8, tzinfo=timezone(timedelta(hours=11))),
        recurrence=Recurrence(range_start=1, range_end=2, interval=1, pattern="weekly"),
    )
    data = event.to_json()
    assert list(data)[:4] == ["event_start", "event_end", "id", "title"]
    assert data["created"] == "2022-12-18T23:58:18Z"
    assert data["updated"] == "2022-12-19T00:08:08Z"  # converted to UTC, no fraction
    assert data["attendees"] == [{"name": "Jim", "email": "jim@x.example",
                                  "response_status": "accepted", "resource": False}]
    assert data["recurrence"]["days_of_week"] == []
    assert "host" not in data and data["attachments"] == [] and data["private"] is False
    assert isinstance(data["event_start"], int)
    assert event.model_dump(mode="json", exclude_none=True) == data  # what the runtime sends


def test_models_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError):
        User(id="1", nickname="x")  # type: ignore[call-arg]
    assert Group(id="g", name="G").to_json() == {"id": "g", "name": "G"}
    assert Calendar(id="a@x.example").to_json() == {"id": "a@x.example", "primary": False,
                                                   "can_edit": False}


def test_svg_matches_the_original_library_layout() -> None:
    svg = svg_qrcode("Test")
    lines = svg.split("\n")
    assert lines[0] == '<?xml version="1.0" standalone="yes"?>'
    assert lines[1] == (
        '<svg version="1.1" xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ev="http://www.w3.org/2001/xml-events" '
        'width="231" height="231" shape-rendering="crispEdges">')
    assert lines[2] == '<rect width="231" height="231" x="0" y="0" style="fill:#fff"/>'
    assert lines[-1] == "</svg>"
    assert len(lines) == 3 + 21 + 1  # one line per module row
    matrix = qr_matrix("Test")
    cells = {(int(x) // 11, int(y) // 11)
             for x, y in re.findall(r'width="11" height="11" x="(\d+)" y="(\d+)"', svg)}
    assert cells == {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark}


def test_svg_head_is_identical_to_the_seed_example() -> None:
    seed_svg = SEED_SVG.read_text().rstrip("\n")
    ours = svg_qrcode("Test")  # the seed's example encodes "Test" (same size: version 1)
    assert ours.split("\n")[:3] == seed_svg.split("\n")[:3]
    assert ours.count("\n") == seed_svg.count("\n")
    # the finder patterns (fixed by the QR standard) sit on the same pixels
    finder = re.compile(r'x="(\d+)" y="(\d+)"')
    seed_cells = {(int(x), int(y)) for x, y in finder.findall(seed_svg)}
    our_cells = {(int(x), int(y)) for x, y in finder.findall(ours)}
    corner = {(x * 11, y * 11) for x in range(7) for y in range(7)}
    assert seed_cells & corner == our_cells & corner


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        chunks[kind] = chunks.get(kind, b"") + data[position + 8:position + 8 + length]
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[i * (width + 1) + 1:(i + 1) * (width + 1)] for i in range(height)]
    return width, height, rows


def test_png_is_base64_of_a_size_square_with_the_code_centred() -> None:
    encoded = png_qrcode("Test", 100)
    assert "\n" not in encoded and not encoded.startswith("data:")
    width, height, rows = decode_png(base64.b64decode(encoded))
    assert (width, height) == (100, 100)
    # 21 modules + 6 border -> 3 px modules, code 63 px, margin (100 - 63) // 2 = 18 px
    assert rows[17] == b"\xff" * 100
    assert rows[18][18:39] == b"\x00" * 21  # top edge of the top-left finder: 7 modules
    assert rows[18][:18] == b"\xff" * 18


def test_png_canvas_grows_when_the_code_does_not_fit() -> None:
    width, height, _ = decode_png(base64.b64decode(png_qrcode("Test", 10)))
    assert (width, height) == (21, 21)


def test_build_template_replaces_in_argument_order() -> None:
    assert build_template(None, {"a": 1}) is None
    text = build_template("%{name} at %{time} %{missing} %{flag} %{none}",
                          {"name": "Ann %{time}", "time": 9.5, "flag": True, "none": None})
    assert text == "Ann 9.5 at 9.5 %{missing} true "


def test_template_selector_accepts_both_forms() -> None:
    assert template_selector(["visitor", "checkin"]) == ("visitor", "checkin")
    assert template_selector("visitor.checkin") == ("visitor", "checkin")
    with pytest.raises(ValueError):
        template_selector("visitor")
    store = {"visitor": {"checkin": {"subject": "s"}}}
    assert find_template(store, "visitor", "checkin") == {"subject": "s"}
    assert find_template(store, "visitor", "checkout") is None
    assert find_template(None, "visitor", "checkin") is None


def test_windows_zone_names_map_to_iana() -> None:
    assert iana_name("AUS Eastern Standard Time") == "Australia/Sydney"
    assert iana_name("pacific standard time") == "America/Los_Angeles"
    assert iana_name("Europe/Paris") == "Europe/Paris"
    assert iana_name("tzone://Microsoft/Custom") == "UTC"
    assert iana_name(None) == "UTC"
    assert iana_name("UTC") == "UTC"
    assert len(WINDOWS_TO_IANA) >= 135
