"""The calendar routes of the LINE WORKS API 2.0, called as its documentation describes them."""

from __future__ import annotations

from typing import Any

from tests.lineworks_emulator.client import LineWorks

HARUTO = "haruto.sato@works.example"
EMMA = "emma.wilson@works.example"
FACILITIES = "calendar-6c3d4e5f-3333-4a7b-8c1d-2e3f4a5b6c73"
ROADMAP = "calendar-7d4e5f6a-4444-4b8c-9d2e-3f4a5b6c7d84"
YUI_DEFAULT = "calendar-5b2c3d4e-2222-4f6a-9b0c-1d2e3f4a5b62"
TOKYO = "Asia/Tokyo"


def _event(summary: str, day: str, **extra: Any) -> dict[str, Any]:
    return {"summary": summary,
            "start": {"dateTime": f"{day}T10:00:00", "timeZone": TOKYO},
            "end": {"dateTime": f"{day}T11:00:00", "timeZone": TOKYO}, **extra}


async def test_calendar_create_and_patch(works: LineWorks) -> None:
    await works.login()
    created = await works.call("POST", "/v1.0/calendars", json={
        "calendarName": "Lobby", "description": "Front desk",
        "members": [{"id": HARUTO, "type": "USER", "role": "CALENDAR_EVENT_READ_WRITE"}]})
    assert created.status == 201
    calendar = created.body
    assert set(calendar) == {"calendarId", "calendarName", "members", "description",
                             "isPublic", "calendarEmail", "type"}
    patched = await works.call("PATCH", f"/v1.0/calendars/{calendar['calendarId']}",
                               json={"isPublic": True})
    assert patched.status == 200
    assert patched.body == {**calendar, "isPublic": True}


async def test_default_calendar_and_calendar_personals(works: LineWorks) -> None:
    await works.login("calendar.read")
    default = await works.call("GET", f"/v1.0/users/{HARUTO}/calendar")
    assert default.status == 200 and default.body["type"] == "INDIVIDUAL"
    listing = await works.call("GET", f"/v1.0/users/{HARUTO}/calendar-personals")
    assert listing.status == 200
    personals = listing.body["calendarPersonals"]
    assert personals[0]["calendarId"] == default.body["calendarId"]
    for personal in personals:
        one = await works.call(
            "GET", f"/v1.0/users/{HARUTO}/calendar-personals/{personal['calendarId']}")
        assert (one.status, one.body) == (200, personal)
        assert set(one.body) == {"calendarId", "calendarName", "isShowOnLNBList",
                                 "displayOrder", "resourceLocation"}
    missing = await works.call("GET", f"/v1.0/users/{HARUTO}/calendar-personals/calendar-x")
    assert (missing.status, missing.body["code"]) == (404, "NOT_FOUND")
    foreign = await works.call("GET", f"/v1.0/users/{HARUTO}/calendar-personals/{YUI_DEFAULT}")
    assert (foreign.status, foreign.body["code"]) == (403, "FORBIDDEN")
    shared = await works.call("GET", f"/v1.0/users/{EMMA}/calendar-personals/{ROADMAP}")
    assert shared.status == 200 and shared.body["calendarName"] == "Product roadmap"


async def test_event_lifecycle_in_a_shared_calendar(works: LineWorks) -> None:
    await works.login()
    events = f"/v1.0/users/{HARUTO}/calendars/{FACILITIES}/events"
    created = await works.call("POST", events, json={
        "eventComponents": [_event("Lift service", "2026-12-08", description="Level 3",
                                   location="Tower A")],
        "sendNotification": False})
    assert created.status == 201
    component = created.body["eventComponents"][0]
    event_id = component["eventId"]
    assert created.body["organizerCalendarId"] == FACILITIES
    assert component["organizer"]["email"].startswith(FACILITIES)
    listed = await works.call("GET", events, params={
        "fromDateTime": "2026-12-08T00:00:00+09:00", "untilDateTime": "2026-12-09T00:00:00+09:00"})
    assert listed.status == 200
    assert [e["eventComponents"][0]["eventId"] for e in listed.body["events"]] == [event_id]
    fetched = await works.call("GET", f"{events}/{event_id}")
    assert (fetched.status, fetched.body) == (200, created.body)

    replacement = _event("Lift service (moved)", "2026-12-09", eventId=event_id)
    replaced = await works.call("PUT", f"{events}/{event_id}", json={
        "eventComponents": [replacement], "sendNotification": False})
    assert replaced.status == 200
    now = replaced.body["eventComponents"][0]
    assert now["summary"] == "Lift service (moved)"
    assert "description" not in now and "location" not in now, "PUT replaces the whole event"
    assert now["createdTime"] == component["createdTime"]
    assert now["organizer"] == component["organizer"]
    assert now["sequence"] == component["sequence"] + 1
    assert (await works.call("GET", f"{events}/{event_id}")).body == replaced.body

    mismatched = await works.call("PUT", f"{events}/{event_id}", json={
        "eventComponents": [{**replacement, "eventId": "other"}]})
    assert (mismatched.status, mismatched.body["code"]) == (400, "INVALID_PARAMETER")
    anonymous = await works.call("PUT", f"{events}/{event_id}", json={
        "eventComponents": [_event("No id", "2026-12-09")]})
    assert anonymous.status == 400 and "eventId is required" in anonymous.body["description"]
    unknown = await works.call("PUT", f"{events}/nope", json={
        "eventComponents": [{**replacement, "eventId": "nope"}]})
    assert (unknown.status, unknown.body["code"]) == (404, "NOT_FOUND")

    deleted = await works.call("DELETE", f"{events}/{event_id}",
                               params={"sendNotification": "false"})
    assert (deleted.status, deleted.body) == (204, None)
    gone = await works.call("GET", f"{events}/{event_id}")
    assert (gone.status, gone.body["code"]) == (404, "NOT_FOUND")


async def test_put_needs_write_access(works: LineWorks) -> None:
    await works.login()
    events = f"/v1.0/users/{EMMA}/calendars/{ROADMAP}/events"
    answer = await works.call("PUT", f"{events}/ev-release-2", json={
        "eventComponents": [_event("Mine now", "2026-12-09", eventId="ev-release-2")]})
    assert (answer.status, answer.body["code"]) == (403, "FORBIDDEN")
    await works.login("calendar.read")
    answer = await works.call("PUT", f"/v1.0/users/{HARUTO}/calendar/events/ev-standup", json={
        "eventComponents": [_event("Read only", "2026-12-09", eventId="ev-standup")]})
    assert (answer.status, answer.body["code"]) == (403, "FORBIDDEN")
