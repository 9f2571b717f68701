"""Recurring events through the Graph API: RFC 5545 counts and wall time across DST."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graph_emulator.helpers import Graph, address

SERVICE = address("placeos.service")
EVENTS = f"/v1.0/users/{SERVICE}/calendar/events"


def _series(subject: str, start: str, zone: str, pattern: dict[str, Any],
            rng: dict[str, Any]) -> dict[str, Any]:
    day, clock = start.split("T")
    hour = int(clock[:2])
    return {
        "subject": subject,
        "start": {"dateTime": start, "timeZone": zone},
        "end": {"dateTime": f"{day}T{hour + 1:02d}{clock[2:]}", "timeZone": zone},
        "recurrence": {"pattern": {"interval": 1, **pattern},
                       "range": {"startDate": day, **rng}},
    }


async def _occurrences(graph: Graph, subject: str, start: str, end: str,
                       zone: str | None = None) -> list[dict[str, Any]]:
    headers = {"Prefer": f'outlook.timezone="{zone}"'} if zone else {}
    status, body = await graph.get(f"/v1.0/users/{SERVICE}/calendarView", params={
        "startDateTime": start, "endDateTime": end, "$top": "100"}, headers=headers)
    assert status == 200, body
    return [e for e in body["value"] if e["subject"] == subject]


@pytest.mark.parametrize(("pattern", "count", "days"), [
    ({"type": "weekly", "daysOfWeek": ["monday", "wednesday", "friday"]}, 4,
     ["2026-12-07", "2026-12-09", "2026-12-11", "2026-12-14"]),
    ({"type": "relativeMonthly", "daysOfWeek": ["monday"], "index": "first"}, 3,
     ["2026-12-07", "2027-01-04", "2027-02-01"]),
    ({"type": "weekly", "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"]},
     5, ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10", "2026-12-11"]),
])
async def test_numbered_series_from_monday_2026_12_07(graph: Graph, pattern: dict[str, Any],
                                                      count: int, days: list[str]) -> None:
    body = _series("Counted", "2026-12-07T10:00:00", "Tokyo Standard Time", pattern,
                   {"type": "numbered", "numberOfOccurrences": count})
    status, master, _ = await graph.call("POST", EVENTS, json=body)
    assert status == 201, master
    found = await _occurrences(graph, "Counted", "2026-12-01T00:00:00Z", "2027-03-01T00:00:00Z",
                               zone="Tokyo Standard Time")
    assert [e["start"]["dateTime"] for e in found] == [f"{d}T10:00:00.0000000" for d in days]
    assert {e["seriesMasterId"] for e in found} == {master["id"]}
    status, last, _ = await graph.call("GET", f"{EVENTS}/{found[-1]['id']}")
    assert (status, last["type"]) == (200, "occurrence")


async def test_series_keeps_local_time_across_dst_change(graph: Graph) -> None:
    body = _series("Stand-up", "2026-10-29T09:00:00", "Eastern Standard Time",
                   {"type": "daily"}, {"type": "endDate", "endDate": "2026-11-03"})
    assert (await graph.call("POST", EVENTS, json=body))[0] == 201
    utc = await _occurrences(graph, "Stand-up", "2026-10-28T00:00:00Z", "2026-11-10T00:00:00Z")
    assert [e["start"]["dateTime"][5:16] for e in utc] == [
        "10-29T13:00", "10-30T13:00", "10-31T13:00", "11-01T14:00", "11-02T14:00", "11-03T14:00"]
    local = await _occurrences(graph, "Stand-up", "2026-10-28T00:00:00Z",
                               "2026-11-10T00:00:00Z", zone="America/New_York")
    assert {e["start"]["dateTime"][11:16] for e in local} == {"09:00"}


async def test_invalid_recurrence_is_refused(graph: Graph) -> None:
    for pattern, rng in (({"type": "weekly", "daysOfWeek": ["someday"]}, {"type": "noEnd"}),
                         ({"type": "daily"}, {"type": "numbered", "numberOfOccurrences": 0}),
                         ({"type": "absoluteMonthly", "dayOfMonth": 40}, {"type": "noEnd"})):
        body = _series("Broken", "2026-12-07T10:00:00", "UTC", pattern, rng)
        status, error, _ = await graph.call("POST", EVENTS, json=body)
        assert (status, error["error"]["code"]) == (400, "ErrorInvalidRequest"), error
