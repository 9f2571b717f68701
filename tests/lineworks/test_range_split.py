"""Periods longer than 31 days are listed in windows of at most 31 days, merged without repeats."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from drivers.lineworks.errors import LineWorksValidationError
from drivers.lineworks.timerange import MAX_LIST_RANGE, format_query_time, split_range
from fixtures.emulator_base import RunningEmulator
from tests.lineworks.helpers import DAY, HARUTO, SYS, control, lineworks_runtime, request_log
from tests.lineworks.test_commands import tokyo


def test_split_range_windows() -> None:
    assert split_range(0, 10) == [(0, 10)]
    assert split_range(0, MAX_LIST_RANGE) == [(0, MAX_LIST_RANGE)]
    assert split_range(0, 70 * DAY) == [(0, 31 * DAY), (31 * DAY, 62 * DAY), (62 * DAY, 70 * DAY)]
    with pytest.raises(LineWorksValidationError, match="period_end must be after period_start"):
        split_range(5, 5)
    assert format_query_time(1_700_000_000) == "2023-11-14T22:13:20+00:00"


async def test_long_range_is_split_and_merged(emulator: RunningEmulator) -> None:
    start, end = tokyo(-40, "00:00"), tokyo(50, "00:00")
    boundary = start + 31 * DAY
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        spanning = await client.exec(SYS, "Calendar", "create_event", {
            "title": "Across the window edge", "event_start": boundary - 3600,
            "event_end": boundary + 3600, "user_id": HARUTO})
        await control(emulator, "DELETE", "requests")
        events = await client.exec(SYS, "Calendar", "list_events", [HARUTO, start, end])
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids)), "an event seen by two windows is listed once"
    assert {"ev-retro-past", "ev-design-review", "ev-offsite", spanning["id"]} <= set(ids)
    windows = [(datetime.fromisoformat(e["query"]["fromDateTime"]),
                datetime.fromisoformat(e["query"]["untilDateTime"]))
               for e in await request_log(emulator, "/calendar/events")]
    assert len(windows) == 3
    windows.sort()
    assert int(windows[0][0].timestamp()) == start and int(windows[-1][1].timestamp()) == end
    for (_, until), (following, _) in itertools.pairwise(windows):
        assert until == following, "windows are contiguous"
    assert all((until - since).total_seconds() <= 31 * DAY for since, until in windows)
    assert all(entry["status"] == 200
               for entry in await request_log(emulator, "/calendar/events"))
