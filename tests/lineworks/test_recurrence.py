"""LINE WORKS recurrence as RFC 5545 defines it (expanded by dateutil.rrule in the event's zone):
where a COUNT series ends, also across daylight-saving changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from drivers.lineworks.mapping import event_from_lineworks
from drivers.lineworks.recurrence import last_occurrence, recurrence_from_lines

TOKYO = ZoneInfo("Asia/Tokyo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
#: Monday 2026-12-07, 09:00 in Tokyo.
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=TOKYO)


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


@pytest.mark.parametrize(("rule", "last_day", "pattern", "days"), [
    ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=4", "2026-12-14", "weekly",
     ["monday", "wednesday", "friday"]),
    ("RRULE:FREQ=MONTHLY;BYDAY=1MO;COUNT=3", "2027-02-01", "monthly", ["monday"]),
    ("RRULE:FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=5", "2026-12-11", "daily",
     ["monday", "tuesday", "wednesday", "thursday", "friday"]),
])
def test_count_series_end_where_rfc_5545_says(rule: str, last_day: str, pattern: str,
                                              days: list[str]) -> None:
    recurrence = recurrence_from_lines([rule], MONDAY)
    assert recurrence is not None
    assert (recurrence.pattern, recurrence.days_of_week) == (pattern, days)
    assert recurrence.range_start == ts("2026-12-07T00:00:00+09:00")
    assert recurrence.range_end == ts(f"{last_day}T00:00:00+09:00")
    last = last_occurrence(rule, MONDAY)
    assert last is not None and last.isoformat() == f"{last_day}T09:00:00+09:00"


def test_a_weekly_series_keeps_its_wall_clock_time_across_the_spring_change() -> None:
    first = datetime(2027, 3, 21, 9, 0, tzinfo=BERLIN)  # CET; the clocks go forward on 03-28
    last = last_occurrence("RRULE:FREQ=WEEKLY;COUNT=3", first)
    assert last is not None and last.isoformat() == "2027-04-04T09:00:00+02:00"
    recurrence = recurrence_from_lines(["RRULE:FREQ=WEEKLY;COUNT=3"], first)
    assert recurrence is not None
    assert recurrence.range_start == ts("2027-03-21T00:00:00+01:00")
    assert recurrence.range_end == ts("2027-04-04T00:00:00+02:00")


def test_a_daily_series_just_after_midnight_crosses_the_autumn_change_on_the_right_days(
) -> None:
    first = datetime(2026, 10, 31, 0, 30, tzinfo=NEW_YORK)  # EDT; back to EST on 11-01
    rule = "RRULE:FREQ=DAILY;COUNT=3"
    last = last_occurrence(rule, first)
    assert last is not None and last.isoformat() == "2026-11-02T00:30:00-05:00"
    recurrence = recurrence_from_lines([rule], first)
    assert recurrence is not None
    assert recurrence.range_end == ts("2026-11-02T00:00:00-05:00")


def test_the_event_zone_not_its_utc_offset_decides_the_last_day() -> None:
    """23:30 in Berlin, given with the winter offset: counted in a fixed +01:00 the fourth
    occurrence would fall on 03-30 00:30 Berlin time; in the event's zone it is 03-29 23:30."""
    event = event_from_lineworks({
        "eventId": "late", "summary": "late call",
        "start": {"dateTime": "2027-03-26T23:30:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2027-03-27T00:00:00+01:00", "timeZone": "Europe/Berlin"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=4"],
    })
    assert event.recurring and event.recurrence is not None
    assert event.recurrence.range_start == ts("2027-03-26T00:00:00+01:00")
    assert event.recurrence.range_end == ts("2027-03-29T00:00:00+02:00")


def test_until_in_utc_is_read_in_the_event_zone() -> None:
    rule = "RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20261220T150000Z"  # Monday 00:00 in Tokyo
    recurrence = recurrence_from_lines([rule], MONDAY)
    assert recurrence is not None
    assert recurrence.range_end == ts("2026-12-21T00:00:00+09:00")
    last = last_occurrence(rule, MONDAY)
    assert last is not None and last.isoformat() == "2026-12-14T09:00:00+09:00"
