"""Every command against the emulator, through the runtime's WebSocket API."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from drivers.lineworks.calendar import LineWorksCalendar
from fixtures.emulator_base import RunningEmulator
from runtime import Driver
from runtime.interface import interface_of
from runtime.testing import ExecError
from tests.lineworks.helpers import (
    DAY,
    EMMA,
    FACILITIES,
    HARUTO,
    HARUTO_DEFAULT,
    PRODUCT_GROUP,
    ROADMAP,
    SALES_ORGUNIT,
    SUPPORT_KEY,
    SYS,
    USER_KEY,
    YUI,
    lineworks_runtime,
    request_log,
)

TOKYO = ZoneInfo("Asia/Tokyo")
SUPPORT_COMMANDS = ["create_calendar", "update_calendar", "get_default_calendar",
                    "list_calendars", "list_events", "create_event", "delete_event"]


def tokyo(day_offset: int, clock: str) -> int:
    """Unix seconds of ``clock`` (HH:MM) on today + ``day_offset`` in Tokyo (the seed's zone)."""
    today = datetime.now(TOKYO).date() + timedelta(days=day_offset)
    hour, minute = map(int, clock.split(":"))
    return int(datetime(today.year, today.month, today.day, hour, minute,
                        tzinfo=TOKYO).timestamp())


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {event["id"]: event for event in events}


async def test_create_and_update_calendar(emulator: RunningEmulator) -> None:
    members = [{"id": YUI, "type": "USER", "role": "CALENDAR_EVENT_READ_WRITE"},
               {"id": PRODUCT_GROUP, "type": "GROUP", "role": "EVENT_READ_WRITE"},
               {"id": SALES_ORGUNIT, "type": "ORGUNIT", "role": "EVENT_READ_FREE_BUSY"}]
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        created = await client.exec(SYS, "Calendar", "create_calendar", {
            "calendar_name": "Launch", "members": members, "description": "memo",
            "is_public": True})
        assert list(created) == ["calendarId", "calendarName", "members", "description",
                                 "isPublic", "calendarEmail", "type"]
        assert created["calendarName"] == "Launch" and created["members"] == members
        assert created["isPublic"] is True and created["description"] == "memo"
        assert created["calendarEmail"].startswith(created["calendarId"] + "@")
        calendar_id = created["calendarId"]
        listed = await client.exec(SYS, "Calendar", "list_calendars", [EMMA])
        assert calendar_id in [c["id"] for c in listed], "org unit members see the calendar"
        updated = await client.exec(SYS, "Calendar", "update_calendar",
                                    {"calendar_id": calendar_id, "calendar_name": "Launch 2"})
        assert updated == {**created, "calendarName": "Launch 2"}
        minimal = await client.exec(SYS, "Calendar", "create_calendar", ["Quiet"])
        assert minimal["members"] == [] and minimal["isPublic"] is False
    bodies = [(e["method"], e["body"]) for e in await request_log(emulator, "/v1.0/calendars")]
    assert bodies == [
        ("POST", {"calendarName": "Launch", "members": members, "description": "memo",
                  "isPublic": True}),
        ("PATCH", {"calendarName": "Launch 2"}),
        ("POST", {"calendarName": "Quiet", "members": [], "isPublic": False}),
    ]


async def test_vendor_errors_carry_code_and_description(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "get_default_calendar", ["nobody@works.example"])
        assert caught.value.error_code == 3
        assert caught.value.msg == (
            "module raised: LINE WORKS GET /v1.0/users/nobody%40works.example/calendar failed: "
            "HTTP 404 NOT_FOUND: user not found: nobody@works.example (LineWorksError)")
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "create_calendar", {
                "calendar_name": "x",
                "members": [{"id": "ghost@works.example", "type": "USER", "role": "EVENT_READ"}]})
        assert "HTTP 400 INVALID_PARAMETER: members[0]: no USER with id ghost" in caught.value.msg
        with pytest.raises(ExecError, match="HTTP 404 NOT_FOUND: calendar not found"):
            await client.exec(SYS, "Calendar", "update_calendar", ["missing", "name"])


async def test_default_calendar_and_calendar_list(emulator: RunningEmulator) -> None:
    calendars = emulator.app_state.seed.calendars
    for number in range(57):  # more than one calendar-personals page (50)
        calendars[f"calendar-extra-{number:02}"] = {
            "calendarId": f"calendar-extra-{number:02}", "calendarName": f"Extra {number}",
            "members": [{"id": YUI, "type": "USER", "role": "EVENT_READ"}],
            "description": "", "isPublic": False, "calendarEmail": f"x{number}@w", "type": "GROUP"}
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        default = await client.exec(SYS, "Calendar", "get_default_calendar", [HARUTO])
        assert default == {
            "calendarId": HARUTO_DEFAULT, "calendarName": "Haruto Sato",
            "members": [{"id": "6f1d2c3b-0a4e-4f5a-9b8c-7d6e5f4a3b21", "type": "USER",
                         "role": "CALENDAR_EVENT_READ_WRITE"}],
            "description": "", "isPublic": False, "calendarEmail": HARUTO, "type": "INDIVIDUAL"}
        haruto = await client.exec(SYS, "Calendar", "list_calendars", [HARUTO])
        assert haruto == [
            {"id": HARUTO_DEFAULT, "ref": HARUTO_DEFAULT, "summary": "Haruto Sato",
             "primary": True, "can_edit": True},
            {"id": FACILITIES, "ref": FACILITIES, "summary": "Facilities", "primary": False,
             "can_edit": False},
            {"id": ROADMAP, "ref": ROADMAP, "summary": "Product roadmap", "primary": False,
             "can_edit": False},
        ]
        yui = await client.exec(SYS, "Calendar", "list_calendars", [YUI])
        assert len(yui) == 1 + 1 + 57  # default, Product roadmap (group), the extras
        assert [c["summary"] for c in yui[-2:]] == ["Extra 55", "Extra 56"]
    pages = await request_log(emulator, f"/users/{YUI}/calendar-personals")
    assert [("cursor" in e["query"], e["query"]["count"]) for e in pages] == [
        (False, "50"), (True, "50")]


async def test_list_events_returns_normalised_events(emulator: RunningEmulator) -> None:
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        events = by_id(await client.exec(SYS, "Calendar", "list_events",
                                         [HARUTO, tokyo(-3, "00:00"), tokyo(5, "00:00")]))
        shared = await client.exec(SYS, "Calendar", "list_events", {
            "calendar_id": FACILITIES, "user_id": "minjun.kim@works.example",
            "period_start": tokyo(0, "00:00"), "period_end": tokyo(7, "00:00")})
        busy = await client.exec(SYS, "Calendar", "list_events",
                                 [ROADMAP, tokyo(0, "00:00"), tokyo(20, "00:00"), EMMA])
    assert set(events) == {"ev-standup", "ev-design-review", "ev-customer-call",
                           "ev-planning-day", "ev-private-dentist"}
    review = events["ev-design-review"]
    created = review.pop("created")
    assert created == review.pop("updated") and created.endswith("Z")
    assert review == {
        "event_start": tokyo(0, "14:00"), "event_end": tokyo(0, "15:00"),
        "id": "ev-design-review", "host": HARUTO, "title": "Design review",
        "body": "Walk through the new booking flow.",
        "attendees": [
            {"name": "Yui Tanaka", "email": YUI, "response_status": "accepted",
             "resource": False},
            {"name": "Emma Wilson", "email": EMMA, "response_status": "needsAction",
             "resource": False},
            {"name": "Fuji meeting room (8F)", "email": "resource-fuji-room",
             "response_status": "accepted", "resource": True}],
        "hide_attendees": False, "location": "Fuji meeting room", "private": False,
        "all_day": False, "timezone": "Asia/Tokyo", "recurring": False, "attachments": [],
        "status": "confirmed", "creator": HARUTO, "online_meeting_phones": [],
        "visibility": "normal", "mailbox": HARUTO}
    assert events["ev-customer-call"]["online_meeting_url"] == "https://meet.works.example/j/482913"
    day = events["ev-planning-day"]
    assert day["all_day"] is True and day["event_end"] - day["event_start"] == DAY
    assert events["ev-private-dentist"]["private"] is True
    assert events["ev-private-dentist"]["visibility"] == "private"
    standup = events["ev-standup"]
    assert standup["recurring"] is True
    assert standup["recurrence"]["pattern"] == "weekly"
    assert standup["recurrence"]["days_of_week"] == ["monday", "tuesday", "wednesday",
                                                     "thursday", "friday"]
    assert [e["id"] for e in shared] == ["ev-fire-drill"]
    assert shared[0]["host"] == f"{FACILITIES}@group.works.example"
    assert shared[0]["mailbox"] == "minjun.kim@works.example"
    assert [e["id"] for e in busy] == ["ev-release-2"]
    assert "title" not in busy[0], "free/busy members see only the times"


async def test_create_list_and_delete_events(emulator: RunningEmulator) -> None:
    start = tokyo(1, "13:00")
    async with lineworks_runtime(emulator) as rt, rt.client() as client:
        created = await client.exec(SYS, "Calendar", "create_event", {
            "title": "Budget sync", "event_start": start, "event_end": start + 1800,
            "description": "Numbers", "location": "Room 2", "timezone": "Asia/Tokyo",
            "attendees": [{"name": "Yui Tanaka", "email": "Yui.Tanaka@works.example",
                           "response_status": "accepted"},
                          {"name": "Fuji room", "email": "resource-fuji-room",
                           "resource": True}],
            "user_id": HARUTO, "online_meeting_url": "https://meet.works.example/j/1"})
        assert created["title"] == "Budget sync" and created["host"] == HARUTO
        assert (created["event_start"], created["event_end"]) == (start, start + 1800)
        assert created["attendees"] == [
            {"name": "Yui Tanaka", "email": YUI, "response_status": "accepted",
             "resource": False},
            {"name": "Fuji room", "email": "resource-fuji-room", "response_status": "needsAction",
             "resource": True}]
        assert created["online_meeting_url"] == "https://meet.works.example/j/1"
        all_day = await client.exec(SYS, "Calendar", "create_event", {
            "title": "Holiday", "event_start": tokyo(2, "12:00"), "calendar_id": HARUTO})
        shared = await client.exec(SYS, "Calendar", "create_event", {
            "title": "Lift service", "event_start": start, "event_end": start + 3600,
            "user_id": HARUTO, "calendar_id": FACILITIES, "notify": True})
        listed = by_id(await client.exec(SYS, "Calendar", "list_events",
                                         [HARUTO, start - DAY, start + DAY]))
        assert created["id"] in listed and listed[created["id"]] == created
        assert await client.exec(SYS, "Calendar", "delete_event", [HARUTO, created["id"]])
        assert await client.exec(SYS, "Calendar", "delete_event",
                                 {"calendar_id": FACILITIES, "event_id": shared["id"],
                                  "user_id": HARUTO, "notify": True})
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "delete_event", [HARUTO, created["id"]])
        assert "HTTP 404 NOT_FOUND: event not found" in caught.value.msg
        with pytest.raises(ExecError) as caught:
            await client.exec(SYS, "Calendar", "create_event", {
                "title": "Not allowed", "event_start": start, "event_end": start + 60,
                "user_id": "minjun.kim@works.example", "calendar_id": FACILITIES})
        assert "HTTP 403 FORBIDDEN: role EVENT_READ" in caught.value.msg
    assert shared["host"] == f"{FACILITIES}@group.works.example"
    assert all_day["all_day"] is True and all_day["timezone"] == "UTC"
    posts = [e for e in await request_log(emulator, "/events") if e["method"] == "POST"]
    assert posts[0]["path"] == f"/v1.0/users/{HARUTO}/calendar/events"
    assert posts[0]["body"] == {"eventComponents": [{
        "summary": "Budget sync",
        "start": {"dateTime": datetime.fromtimestamp(start, TOKYO).strftime("%Y-%m-%dT%H:%M:%S"),
                  "timeZone": "Asia/Tokyo"},
        "end": {"dateTime": datetime.fromtimestamp(start + 1800, TOKYO).strftime(
            "%Y-%m-%dT%H:%M:%S"), "timeZone": "Asia/Tokyo"},
        "description": "Numbers", "location": "Room 2",
        "attendees": [{"email": "Yui.Tanaka@works.example", "displayName": "Yui Tanaka",
                       "partstat": "ACCEPTED"},
                      {"id": "resource-fuji-room", "isResource": True,
                       "displayName": "Fuji room"}],
        "videoMeeting": {"url": "https://meet.works.example/j/1"}}],
        "sendNotification": False}
    holiday = datetime.fromtimestamp(tokyo(2, "12:00"), ZoneInfo("UTC")).date()
    assert posts[1]["body"]["eventComponents"][0]["start"] == {"date": holiday.isoformat()}
    assert posts[1]["body"]["eventComponents"][0]["end"] == {
        "date": (holiday + timedelta(days=1)).isoformat()}
    assert posts[2]["path"] == f"/v1.0/users/{HARUTO}/calendars/{FACILITIES}/events"
    assert posts[2]["body"]["sendNotification"] is True
    deletes = [e for e in await request_log(emulator, "/events/") if e["method"] == "DELETE"]
    assert [e["query"] for e in deletes] == [{"sendNotification": "false"},
                                             {"sendNotification": "true"},
                                             {"sendNotification": "false"}]


async def test_security_levels(emulator: RunningEmulator) -> None:
    metadata = interface_of(LineWorksCalendar, Driver).metadata
    assert metadata["security"] == {"support": SUPPORT_COMMANDS}
    assert metadata["generic_name"] == "Calendar"
    assert metadata["descriptive_name"] == "LINE WORKS Calendar"
    assert metadata["json_schema"]["properties"]["lineworks"]
    now = int(time.time())
    async with lineworks_runtime(emulator) as rt:
        async with rt.client(api_key=USER_KEY) as user:
            for command, args in [("list_events", [HARUTO, now, now + DAY]),
                                  ("create_calendar", ["x"]),
                                  ("get_default_calendar", [HARUTO])]:
                with pytest.raises(ExecError) as caught:
                    await user.exec(SYS, "Calendar", command, args)
                assert caught.value.error_code == 2
            assert await user.exec(SYS, "Calendar", "queue_size") == 0
        async with rt.client(api_key=SUPPORT_KEY) as support:
            assert await support.exec(SYS, "Calendar", "list_events", [HARUTO, now, now + DAY])
