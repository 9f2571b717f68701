"""Recurring series through dateutil's RFC 5545 implementation, as both emulators expand them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fixtures.graph_emulator.recurrence import rrule_line, series_of
from fixtures.rfc5545 import Series

TOKYO = ZoneInfo("Asia/Tokyo")
SYDNEY = ZoneInfo("Australia/Sydney")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)


@pytest.mark.parametrize(("rule", "last"), [
    ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=4", date(2026, 12, 14)),
    ("RRULE:FREQ=MONTHLY;BYDAY=1MO;COUNT=3", date(2027, 2, 1)),
    ("RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5", date(2026, 12, 11)),
])
def test_rfc5545_counts_from_a_monday(rule: str, last: date) -> None:
    series = Series([rule], MONDAY, timedelta(hours=1))
    final = series.last_start()
    assert final is not None and final.date() == last
    assert final.timetz() == MONDAY.timetz()


def test_weekly_series_keeps_its_wall_time_across_dst_start() -> None:
    first = datetime(2026, 9, 28, 9, 0, tzinfo=SYDNEY)      # AEST, DST starts 2026-10-04
    series = Series(["RRULE:FREQ=WEEKLY;COUNT=3"], first, timedelta(hours=1))
    starts = series.starts_between(first, first + timedelta(days=30))
    assert [s.strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2026-09-28 09:00", "2026-10-05 09:00", "2026-10-12 09:00"]
    assert [s.astimezone(UTC).hour for s in starts] == [23, 22, 22]


def test_daily_series_across_dst_end_in_new_york() -> None:
    first = datetime(2026, 10, 30, 9, 0, tzinfo=NEW_YORK)   # EDT, DST ends 2026-11-01
    series = Series(["RRULE:FREQ=DAILY;UNTIL=20261102T235959"], first, timedelta(minutes=30))
    starts = series.starts_between(first, first + timedelta(days=10))
    assert [s.astimezone(UTC).strftime("%d %H:%M") for s in starts] == [
        "30 13:00", "31 13:00", "01 14:00", "02 14:00"]


def test_until_forms_and_exdates_are_read_in_the_series_zone() -> None:
    first = datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)
    day = timedelta(days=1)
    cases = {
        "RRULE:FREQ=DAILY;UNTIL=20261209": 3,                # a date: through that day
        "RRULE:FREQ=DAILY;UNTIL=20261209T100000": 3,         # local wall time
        "RRULE:FREQ=DAILY;UNTIL=20261209T005959Z": 2,        # UTC: 09:59:59 in Tokyo
    }
    for rule, count in cases.items():
        assert len(Series([rule], first).starts_between(first, first + 10 * day)) == count, rule
    for exdate in ("EXDATE:20261208T010000Z", "EXDATE;TZID=Asia/Tokyo:20261208T100000",
                   "EXDATE:20261208T100000", "EXDATE;VALUE=DATE:20261208"):
        series = Series(["RRULE:FREQ=DAILY;COUNT=3", exdate], first)
        assert [s.day for s in series.starts_between(first, first + 10 * day)] == [7, 9], exdate


def test_rdates_in_any_form_add_occurrences() -> None:
    first = datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)
    for rdate in ("RDATE:20261209T100000", "RDATE;TZID=Europe/London:20261209T010000",
                  "RDATE:20261209T010000Z", "RDATE;VALUE=DATE:20261209"):
        series = Series(["RRULE:FREQ=WEEKLY;COUNT=2", rdate], first)
        starts = series.starts_between(first, first + timedelta(days=30))
        assert [s.strftime("%d %H:%M") for s in starts] == ["07 10:00", "09 10:00",
                                                            "14 10:00"], rdate


def test_overlap_and_unbounded_series() -> None:
    first = datetime(2026, 12, 7, 10, 0, tzinfo=TOKYO)
    series = Series(["RRULE:FREQ=WEEKLY;BYDAY=MO"], first, timedelta(hours=2))
    assert series.last_start() is None and not series.bounded
    window = (datetime(2027, 3, 1, 11, 0, tzinfo=TOKYO), datetime(2027, 3, 1, 11, 30, tzinfo=TOKYO))
    assert [s.date() for s in series.overlapping(*window)] == [date(2027, 3, 1)]
    later = (window[0] + timedelta(hours=1), window[1] + timedelta(hours=1))
    assert series.overlapping(*later) == []
    assert [s.day for s in series.on_day(date(2027, 3, 8))] == [8]


@pytest.mark.parametrize("lines", [
    ["RRULE:FREQ=SOMETIMES"], ["RRULE:FREQ=DAILY;BYDAY=XX"], ["EXDATE:20261208T010000Z"],
    ["DTSTART:20261207T100000", "RRULE:FREQ=DAILY"], ["RRULE FREQ=DAILY"],
    ["RRULE:FREQ=DAILY;COUNT=x"], ["RRULE:FREQ=DAILY", "RDATE;VALUE=PERIOD:20261209T100000/PT1H"],
    ["RRULE:FREQ=DAILY", "EXDATE;TZID=Mars/Base:20261208T100000"],
    ["RRULE:FREQ=DAILY", "EXDATE:2026-12-08"],
])
def test_invalid_recurrence_is_refused(lines: list[str]) -> None:
    with pytest.raises(ValueError):
        Series(lines, MONDAY)


def _graph(pattern: dict[str, Any], rng: dict[str, Any]) -> dict[str, Any]:
    return {"pattern": pattern, "range": {"startDate": "2026-12-07", **rng}}


@pytest.mark.parametrize(("recurrence", "days"), [
    (_graph({"type": "weekly", "interval": 1,
             "daysOfWeek": ["monday", "wednesday", "friday"]},
            {"type": "numbered", "numberOfOccurrences": 4}),
     ["2026-12-07", "2026-12-09", "2026-12-11", "2026-12-14"]),
    (_graph({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"],
             "index": "first"}, {"type": "numbered", "numberOfOccurrences": 3}),
     ["2026-12-07", "2027-01-04", "2027-02-01"]),
    (_graph({"type": "weekly", "interval": 1,
             "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"]},
            {"type": "numbered", "numberOfOccurrences": 5}),
     ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"]),
    (_graph({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
            {"type": "endDate", "endDate": "2027-03-31"}),
     ["2026-12-31", "2027-01-31", "2027-02-28", "2027-03-31"]),
    (_graph({"type": "relativeMonthly", "interval": 2, "index": "last",
             "daysOfWeek": ["friday"]}, {"type": "endDate", "endDate": "2027-04-30"}),
     ["2026-12-25", "2027-02-26", "2027-04-30"]),
    (_graph({"type": "daily", "interval": 3}, {"type": "endDate", "endDate": "2026-12-13"}),
     ["2026-12-07", "2026-12-10", "2026-12-13"]),
    (_graph({"type": "absoluteYearly", "interval": 1, "month": 2, "dayOfMonth": 29},
            {"type": "numbered", "numberOfOccurrences": 2}),
     ["2027-02-28", "2028-02-29"]),
    (_graph({"type": "weekly", "interval": 2, "daysOfWeek": ["sunday", "monday"],
             "firstDayOfWeek": "monday"}, {"type": "numbered", "numberOfOccurrences": 4}),
     ["2026-12-07", "2026-12-13", "2026-12-21", "2026-12-27"]),
])
def test_graph_patterns_as_outlook_expands_them(recurrence: dict[str, Any],
                                                days: list[str]) -> None:
    series = series_of(recurrence, MONDAY, timedelta(hours=1))
    starts = series.starts_between(MONDAY, MONDAY + timedelta(days=800))
    assert [s.date().isoformat() for s in starts] == days


@pytest.mark.parametrize(("pattern", "rng"), [
    ({"type": "monthlyish"}, {"type": "noEnd"}),
    ({"type": "weekly", "daysOfWeek": ["funday"]}, {"type": "noEnd"}),
    ({"type": "daily", "interval": 0}, {"type": "noEnd"}),
    ({"type": "absoluteMonthly", "dayOfMonth": 32}, {"type": "noEnd"}),
    ({"type": "relativeYearly", "month": 13, "daysOfWeek": ["monday"]}, {"type": "noEnd"}),
    ({"type": "daily"}, {"type": "numbered", "numberOfOccurrences": 0}),
    ({"type": "daily"}, {"type": "endDate", "endDate": "2026-12-01"}),
])
def test_graph_patterns_graph_refuses(pattern: dict[str, Any], rng: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        rrule_line(_graph(pattern, rng))
