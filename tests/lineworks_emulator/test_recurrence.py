"""A recurring event is listed for a period exactly when one of its RFC 5545 occurrences
falls in it (COUNT / UNTIL / EXDATE honoured, wall time kept across DST)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.lineworks_emulator.client import LineWorks

EVENTS = "/v1.0/users/haruto.sato@works.example/calendar/events"


async def _create(works: LineWorks, start: str, zone: str, recurrence: list[str]) -> str:
    day, clock = start.split("T")
    end = f"{day}T{int(clock[:2]) + 1:02d}{clock[2:]}"
    answer = await works.call("POST", EVENTS, json={"eventComponents": [{
        "summary": "Series", "recurrence": recurrence,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": end, "timeZone": zone}}]})
    assert answer.status == 201, answer.body
    return str(answer.body["eventComponents"][0]["eventId"])


async def _listed(works: LineWorks, event_id: str, since: str, until: str) -> bool:
    answer = await works.call("GET", EVENTS, params={"fromDateTime": since,
                                                     "untilDateTime": until})
    assert answer.status == 200, answer.body
    ids = [e["eventComponents"][0]["eventId"] for e in answer.body["events"]]
    return event_id in ids


@pytest.mark.parametrize(("rule", "last_day", "day_after"), [
    ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=4", "2026-12-14", "2026-12-15"),
    ("RRULE:FREQ=MONTHLY;BYDAY=1MO;COUNT=3", "2027-02-01", "2027-02-02"),
    ("RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5", "2026-12-11", "2026-12-12"),
])
async def test_series_from_monday_ends_where_rfc5545_says(works: LineWorks, rule: str,
                                                          last_day: str, day_after: str) -> None:
    await works.login()
    event_id = await _create(works, "2026-12-07T10:00:00", "Asia/Tokyo", [rule])
    assert await _listed(works, event_id, f"{last_day}T00:00:00+09:00",
                         f"{day_after}T00:00:00+09:00")
    month_later = date.fromisoformat(day_after) + timedelta(days=31)
    assert not await _listed(works, event_id, f"{day_after}T00:00:00+09:00",
                             f"{month_later.isoformat()}T00:00:00+09:00")


async def test_series_keeps_wall_time_across_dst_and_honours_exdate(works: LineWorks) -> None:
    await works.login()
    event_id = await _create(works, "2026-10-30T09:00:00", "America/New_York", [
        "RRULE:FREQ=DAILY;UNTIL=20261104T235959", "EXDATE;TZID=America/New_York:20261103T090000"])
    windows: list[tuple[str, str, bool]] = [
        ("2026-10-30T13:30:00Z", "2026-10-30T14:00:00Z", True),    # 09:30 EDT: in the meeting
        ("2026-11-02T13:00:00Z", "2026-11-02T13:59:59Z", False),   # 08:00 EST: not yet
        ("2026-11-02T14:00:00Z", "2026-11-02T14:30:00Z", True),    # 09:00 EST
        ("2026-11-03T12:00:00Z", "2026-11-03T18:00:00Z", False),   # excluded day
        ("2026-11-04T14:30:00Z", "2026-11-04T15:30:00Z", True),    # last one
        ("2026-11-05T00:00:00Z", "2026-12-05T00:00:00Z", False),   # after UNTIL
    ]
    found = [await _listed(works, event_id, since, until) for since, until, _ in windows]
    assert found == [expected for _, _, expected in windows]


@pytest.mark.parametrize("recurrence", [
    ["RRULE:FREQ=FORTNIGHTLY"], ["RRULE:FREQ=DAILY;BYDAY=XY"], ["EXDATE:20261208T010000Z"],
    ["VEVENT:whatever"], [42],
])
async def test_invalid_recurrence_is_refused(works: LineWorks, recurrence: list[Any]) -> None:
    await works.login()
    answer = await works.call("POST", EVENTS, json={"eventComponents": [{
        "summary": "Broken", "recurrence": recurrence,
        "start": {"dateTime": "2026-12-07T10:00:00", "timeZone": "Asia/Tokyo"}}]})
    assert (answer.status, answer.body["code"]) == (400, "INVALID_PARAMETER")
    assert "recurrence" in answer.body["description"]
