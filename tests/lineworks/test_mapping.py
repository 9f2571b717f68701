"""LINE WORKS event / calendar objects <-> the shared normalised models."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from drivers.lineworks.errors import LineWorksValidationError
from drivers.lineworks.mapping import (
    calendar_from_personal,
    event_component,
    event_from_lineworks,
)
from drivers.lineworks.recurrence import NO_END, recurrence_from_lines

TOKYO = ZoneInfo("Asia/Tokyo")


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_timed_event_with_attendees_and_owner_status() -> None:
    event = event_from_lineworks({
        "eventId": "e1", "summary": "Review", "description": "agenda",
        "start": {"dateTime": "2024-03-01T10:00:00", "timeZone": "Asia/Tokyo"},
        "end": {"dateTime": "2024-03-01T11:30:00", "timeZone": "Asia/Tokyo"},
        "organizer": {"email": "boss@works.example"},
        "attendees": [
            {"email": "Me@Works.example", "partstat": "DECLINED"},
            {"displayName": "no address"},
            {"email": "x@works.example"},
        ],
        "createdTime": {"dateTime": "2024-02-01T09:00:00.250", "timeZone": "Asia/Tokyo"},
    }, mailbox="me@works.example")
    assert event.event_start == ts("2024-03-01T10:00:00+09:00")
    assert event.event_end == ts("2024-03-01T11:30:00+09:00")
    assert event.timezone == "Asia/Tokyo" and event.all_day is False
    assert event.status == "cancelled", "the mailbox owner declined"
    assert [a.to_json() for a in event.attendees] == [
        {"name": "me@works.example", "email": "me@works.example",
         "response_status": "declined", "resource": False},
        {"name": "x@works.example", "email": "x@works.example", "resource": False}]
    assert event.to_json()["created"] == "2024-02-01T00:00:00Z"
    assert "updated" not in event.to_json() and "recurrence" not in event.to_json()


def test_all_day_offset_and_unknown_zone_values() -> None:
    all_day = event_from_lineworks({"eventId": "d", "summary": "Holiday",
                                    "start": {"date": "2024-05-03"},
                                    "end": {"date": "2024-05-06"}})
    assert all_day.all_day is True and all_day.timezone == "UTC"
    assert all_day.event_end - all_day.event_start == 3 * 86400
    offset = event_from_lineworks({"eventId": "o", "summary": "s",
                                   "start": {"dateTime": "2024-05-03T10:00:00+02:00",
                                             "timeZone": "Nowhere/City"}})
    assert offset.event_start == ts("2024-05-03T08:00:00+00:00") and offset.event_end is None
    unknown_zone = event_from_lineworks({"summary": "s", "start": {
        "dateTime": "2024-05-03T10:00:00", "timeZone": "Nowhere/City"}})
    assert unknown_zone.event_start == ts("2024-05-03T10:00:00+00:00")
    organizer = event_from_lineworks({"summary": "s", "visibility": "PRIVATE",
                                      "start": {"date": "2024-01-01"},
                                      "organizer": {"email": "me@w"}}, mailbox="ME@w")
    assert organizer.status == "confirmed" and organizer.private is True


@pytest.mark.parametrize(("rule", "expected"), [
    ("RRULE:FREQ=DAILY;COUNT=3", ("daily", 1, [], "2024-03-03")),
    ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20240430T145959Z",
     ("weekly", 2, ["monday", "wednesday"], "2024-04-30")),
    ("RRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=4", ("weekly", 1, ["friday"], "2024-03-22")),
    ("RRULE:FREQ=MONTHLY;BYDAY=2TU;UNTIL=20241231", ("monthly", 1, ["tuesday"], "2024-12-31")),
    ("RRULE:FREQ=MONTHLY;BYMONTHDAY=1;COUNT=13", ("month_day", 1, [], "2025-03-01")),
    ("RRULE:FREQ=YEARLY;COUNT=2", ("absoluteyearly", 1, [], "2025-03-01")),
])
def test_recurrence_rules(rule: str, expected: tuple[str, int, list[str], str]) -> None:
    first = datetime(2024, 3, 1, 9, 0, tzinfo=TOKYO)
    recurrence = recurrence_from_lines(["EXDATE:20240304T090000", rule], first)
    assert recurrence is not None
    pattern, interval, days, last = expected
    assert (recurrence.pattern, recurrence.interval, recurrence.days_of_week) == (
        pattern, interval, days)
    assert recurrence.range_start == ts("2024-03-01T00:00:00+09:00")
    assert recurrence.range_end == ts(f"{last}T00:00:00+09:00")


def test_recurrence_without_end_or_rule() -> None:
    first = datetime(2024, 3, 1, tzinfo=UTC)
    endless = recurrence_from_lines(["RRULE:FREQ=DAILY"], first)
    assert endless is not None and endless.range_end == NO_END
    assert recurrence_from_lines(["EXDATE:20240301"], first) is None
    assert recurrence_from_lines(["RRULE:FREQ=SECONDLY"], first) is None


def test_event_component_for_create() -> None:
    start = ts("2024-01-01T15:30:00+00:00")
    timed = event_component(title="t", event_start=start, event_end=start + 3600,
                            timezone="Asia/Tokyo")
    assert timed == {"summary": "t",
                     "start": {"dateTime": "2024-01-02T00:30:00", "timeZone": "Asia/Tokyo"},
                     "end": {"dateTime": "2024-01-02T01:30:00", "timeZone": "Asia/Tokyo"}}
    all_day = event_component(title="t", event_start=start, event_end=None,
                              timezone="Asia/Tokyo")
    assert all_day["start"] == {"date": "2024-01-02"} and all_day["end"] == {"date": "2024-01-03"}
    utc = event_component(title="t", event_start=start, event_end=start + 60)
    assert utc["start"] == {"dateTime": "2024-01-01T15:30:00", "timeZone": "UTC"}
    plain = event_component(title="t", event_start=start, event_end=None,
                            attendees="a@works.example")
    assert plain["attendees"] == [{"email": "a@works.example"}]
    listed = event_component(title="t", event_start=start, event_end=None,
                             attendees=["b@works.example", {"email": "c@works.example"}])
    assert listed["attendees"] == [{"email": "b@works.example"}, {"email": "c@works.example"}]
    with pytest.raises(LineWorksValidationError, match=r"attendees\[0\].email is required"):
        event_component(title="t", event_start=start, event_end=None, attendees=[{"name": "x"}])


def test_exception_instance_and_calendar_mapping() -> None:
    moved = event_from_lineworks({"eventId": "a", "recurringEventId": "r1", "summary": "A moved",
                                  "start": {"date": "2024-01-08"}}, mailbox="m@w")
    assert (moved.id, moved.recurring_event_id, moved.mailbox) == ("a", "r1", "m@w")
    assert moved.recurring is False
    personal = {"calendarId": "c1", "calendarName": "Mine", "isShowOnLNBList": True}
    assert calendar_from_personal(personal, default_calendar_id="c1").to_json() == {
        "id": "c1", "ref": "c1", "summary": "Mine", "primary": True, "can_edit": True}
    assert calendar_from_personal(personal, default_calendar_id="c2").primary is False
