"""Calendars and events: calendarView expansion, time formats, create/delete/decline/cancel."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.graph_emulator.helpers import Graph, address

SERVICE = address("placeos.service")


def _window(start: date, days: int) -> dict[str, str]:
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    end = begin + timedelta(days=days)
    return {"startDateTime": begin.strftime("%Y-%m-%dT%H:%M:%S-00:00"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%S-00:00")}


def _today() -> date:
    return datetime.now(UTC).date()


async def _view(graph: Graph, mailbox: str, start: date, days: int,
                **extra: str) -> list[dict[str, Any]]:
    status, body = await graph.get(f"/v1.0/users/{mailbox}/calendar/calendarView",
                                   params={**_window(start, days), "$top": "100", **extra})
    assert status == 200, body
    assert "@odata.nextLink" not in body
    events: list[dict[str, Any]] = body["value"]
    return events


async def _create(graph: Graph, mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
    status, created, headers = await graph.call("POST", f"/v1.0/users/{mailbox}/calendar/events",
                                                json=body)
    assert status == 201, created
    assert "Location" in headers
    return created  # type: ignore[no-any-return]


def _meeting(subject: str, day: date, hour: int, attendees: list[str],
             **extra: Any) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, hour, 0)
    return {
        "subject": subject,
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M"), "timeZone": "UTC"},
        "end": {"dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                "timeZone": "UTC"},
        "attendees": [{"type": "resource" if a.startswith("room.") else "required",
                       "emailAddress": {"address": a}} for a in attendees],
        **extra,
    }


async def test_calendar_view_requires_a_window(graph: Graph) -> None:
    status, body = await graph.get(f"/v1.0/users/{SERVICE}/calendar/calendarView")
    assert status == 400
    assert body["error"]["code"] == "ErrorInvalidParameter"
    assert "StartDateTime and EndDateTime" in body["error"]["message"]


async def test_seeded_events_around_today(graph: Graph) -> None:
    events = await _view(graph, SERVICE, _today(), 1)
    subjects = {e["subject"] for e in events}
    assert {"Desk hot-seat review", "Visitor policy draft"} <= subjects
    teams = next(e for e in events if e["subject"] == "Visitor policy draft")
    assert teams["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/")
    assert teams["onlineMeetingProvider"] == "teamsForBusiness"
    assert teams["isOrganizer"] is False
    week = await _view(graph, address("maya.patel"), _today(), 7)
    assert any(e["isCancelled"] for e in week)
    assert any(e["isAllDay"] for e in week)
    assert any(e["sensitivity"] == "normal" for e in week)


async def test_calendar_view_pages_by_ten_with_skip(graph: Graph) -> None:
    room = address("room.syd.1101")
    params = _window(_today() - timedelta(days=21), 35)
    status, first = await graph.get(f"/v1.0/users/{room}/calendar/calendarView", params=params)
    assert len(first["value"]) == 10
    assert "$skip=10" in first["@odata.nextLink"]
    status, second = await graph.get(first["@odata.nextLink"])
    assert status == 200
    assert not {e["id"] for e in first["value"]} & {e["id"] for e in second["value"]}


async def test_recurring_series_expands_into_occurrences(graph: Graph) -> None:
    monday = _today() + timedelta(days=7 - _today().weekday())
    body = _meeting("Weekly planning", monday, 9, [address("elena.rossi")], recurrence={
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "thursday"]},
        "range": {"type": "numbered", "startDate": monday.isoformat(),
                  "numberOfOccurrences": 5}})
    master = await _create(graph, SERVICE, body)
    assert master["type"] == "seriesMaster"
    events = [e for e in await _view(graph, SERVICE, monday, 28)
              if e["subject"] == "Weekly planning"]
    assert [e["start"]["dateTime"][:10] for e in events] == [
        (monday + timedelta(days=d)).isoformat() for d in (0, 3, 7, 10, 14)]
    first = events[0]
    assert first["type"] == "occurrence"
    assert first["seriesMasterId"] == master["id"]
    assert first["recurrence"] is None
    assert first["start"] == {"dateTime": f"{monday.isoformat()}T09:00:00.0000000",
                              "timeZone": "UTC"}
    status, _, _ = await graph.call("DELETE",
                                    f"/v1.0/users/{SERVICE}/calendar/events/{events[1]['id']}")
    assert status == 204
    again = [e for e in await _view(graph, SERVICE, monday, 28)
             if e["subject"] == "Weekly planning"]
    assert [e["id"] for e in again] == [e["id"] for e in events if e is not events[1]]
    attendee = [e for e in await _view(graph, address("elena.rossi"), monday, 28)
                if e["subject"] == "Weekly planning"]
    assert len(attendee) == 4


async def test_prefer_outlook_timezone(graph: Graph) -> None:
    day = _today() + timedelta(days=20)
    await _create(graph, SERVICE, _meeting("Zoned", day, 9, []))
    status, body, headers = await graph.call(
        "GET", f"/v1.0/users/{SERVICE}/calendar/calendarView", params=_window(day, 1),
        headers={"Prefer": 'outlook.timezone="Australia/Sydney", IdType="ImmutableId"'})
    assert status == 200
    event = next(e for e in body["value"] if e["subject"] == "Zoned")
    assert event["start"]["timeZone"] == "Australia/Sydney"
    assert event["start"]["dateTime"].endswith(":00:00.0000000")
    assert event["start"]["dateTime"][11:13] in ("19", "20")
    assert headers["Preference-Applied"] == 'outlook.timezone="Australia/Sydney"'
    status, body = await graph.get(f"/v1.0/users/{SERVICE}/calendar/calendarView",
                                   params=_window(day, 1),
                                   headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})
    event = next(e for e in body["value"] if e["subject"] == "Zoned")
    assert event["start"]["timeZone"] == "Pacific Standard Time"
    assert event["start"]["dateTime"][11:13] in ("01", "02")


async def test_create_teams_meeting_with_room(graph: Graph) -> None:
    day = _today() + timedelta(days=30)
    room = address("room.mel.302")
    created = await _create(graph, SERVICE, _meeting(
        "Board prep", day, 3, [address("maya.patel"), room],
        isOnlineMeeting=True, onlineMeetingProvider="teamsForBusiness",
        body={"contentType": "HTML", "content": "<p>Agenda</p>"}))
    assert created["isOnlineMeeting"] is True
    assert created["onlineMeeting"]["joinUrl"].startswith("https://teams.microsoft.com/l/")
    assert created["organizer"]["emailAddress"]["address"] == SERVICE
    statuses = {a["emailAddress"]["address"]: a["status"]
                for a in created["attendees"]}
    never = {"response": "none", "time": "0001-01-01T00:00:00Z"}
    assert statuses == {address("maya.patel"): never, room: never}, "rooms reply after create"
    status, fetched = await graph.get(f"/v1.0/users/{SERVICE}/events/{created['id']}")
    assert status == 200
    replies = {a["emailAddress"]["address"]: a["status"]["response"]
               for a in fetched["attendees"]}
    assert replies == {address("maya.patel"): "none", room: "accepted"}
    room_name = graph.state.find_mailbox_owner(room)["displayName"]  # type: ignore[index]
    assert created["location"]["displayName"] == room_name
    assert created["location"]["locationType"] == "conferenceRoom"
    room_view = await _view(graph, room, day, 1)
    assert [e["subject"] for e in room_view] == ["Board prep"]
    clash = await _create(graph, address("liam.oconnor"), _meeting("Clash", day, 3, [room]))
    assert clash["attendees"][0]["status"]["response"] == "none"
    status, fetched = await graph.get(
        f"/v1.0/users/{address('liam.oconnor')}/events/{clash['id']}")
    assert fetched["attendees"][0]["status"]["response"] == "declined"


async def test_create_validation(graph: Graph) -> None:
    path = f"/v1.0/users/{SERVICE}/calendar/events"
    day = _today() + timedelta(days=3)
    backwards = _meeting("Backwards", day, 9, [])
    backwards["end"], backwards["start"] = backwards["start"], backwards["end"]
    status, body, _ = await graph.call("POST", path, json=backwards)
    assert (status, body["error"]["code"]) == (400, "ErrorInvalidRequest")
    status, body, _ = await graph.call("POST", path, json={**_meeting("X", day, 9, []),
                                                           "colour": "red"})
    assert (status, body["error"]["code"]) == (400, "RequestBodyRead")
    zoned = _meeting("Bad zone", day, 9, [])
    zoned["start"]["timeZone"] = "Mars/Olympus"
    status, body, _ = await graph.call("POST", path, json=zoned)
    assert (status, body["error"]["code"]) == (400, "TimeZoneNotSupportedException")
    all_day = {**_meeting("Half day", day, 9, []), "isAllDay": True}
    status, body, _ = await graph.call("POST", path, json=all_day)
    assert status == 400


async def test_all_day_event_round_trip(graph: Graph) -> None:
    day = _today() + timedelta(days=12)
    created = await _create(graph, SERVICE, {
        "subject": "Away", "isAllDay": True, "showAs": "oof",
        "start": {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{(day + timedelta(days=1)).isoformat()}T00:00:00",
                "timeZone": "UTC"}})
    assert created["isAllDay"] is True
    view = await _view(graph, SERVICE, day, 1)
    assert [(e["subject"], e["start"]["dateTime"]) for e in view] == [
        ("Away", f"{day.isoformat()}T00:00:00.0000000")]


async def test_organizer_delete_cancels_for_attendees(graph: Graph) -> None:
    day = _today() + timedelta(days=15)
    created = await _create(graph, SERVICE, _meeting("Doomed", day, 5, [address("noah.schmidt")]))
    status, _, _ = await graph.call("DELETE",
                                    f"/v1.0/users/{SERVICE}/calendar/events/{created['id']}")
    assert status == 204
    assert await _view(graph, SERVICE, day, 1) == []
    attendee = await _view(graph, address("noah.schmidt"), day, 1)
    assert [(e["subject"], e["isCancelled"]) for e in attendee] == [("Canceled: Doomed", True)]
    status, body, _ = await graph.call(
        "DELETE", f"/v1.0/users/{SERVICE}/calendar/events/{created['id']}")
    assert (status, body["error"]["code"]) == (404, "ErrorItemNotFound")


async def test_decline_and_cancel(graph: Graph) -> None:
    day = _today() + timedelta(days=16)
    organizer = address("maya.patel")
    created = await _create(graph, organizer, _meeting("Invite", day, 2, [SERVICE]))
    copy = (await _view(graph, SERVICE, day, 1))[0]
    decline = f"/v1.0/users/{SERVICE}/calendar/events/{copy['id']}/decline"
    status, body, _ = await graph.call("POST", decline,
                                       json={"sendResponse": True, "comment": None})
    assert status == 202 and body is None
    assert await _view(graph, SERVICE, day, 1) == []
    organizer_copy = (await _view(graph, organizer, day, 1))[0]
    assert organizer_copy["attendees"][0]["status"]["response"] == "declined"
    own = f"/v1.0/users/{organizer}/calendar/events/{created['id']}"
    status, body, _ = await graph.call("POST", f"{own}/decline", json={"sendResponse": False})
    assert (status, body["error"]["code"]) == (400, "ErrorCalendarIsOrganizerForDecline")
    status, _, _ = await graph.call("POST", f"{own}/cancel")
    assert status == 202
    assert await _view(graph, organizer, day, 1) == []


async def test_unknown_mailbox_and_calendars(graph: Graph) -> None:
    status, body = await graph.get("/v1.0/users/ghost@emulated.example/calendars")
    assert (status, body["error"]["code"]) == (404, "ErrorInvalidUser")
    status, body = await graph.get(f"/v1.0/users/{address('felix.wagner')}/calendars")
    assert (status, body["error"]["code"]) == (404, "MailboxNotEnabledForRESTAPI")
    status, body = await graph.get(f"/v1.0/users/{address('amelia.hartley')}/calendars")
    names = [(c["name"], c["isDefaultCalendar"], c["canEdit"]) for c in body["value"]]
    assert names == [("Calendar", True, True), ("Birthdays", False, False),
                     ("Australia holidays", False, False)]
    assert body["value"][0]["owner"]["address"] == address("amelia.hartley")


async def test_send_mail(graph: Graph) -> None:
    sender = address("noreply")
    message = {"message": {
        "subject": "Visitor arrived", "body": {"contentType": "Text", "content": "Hi"},
        "toRecipients": [{"emailAddress": {"address": "guest@northwind.example"}}],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt",
                         "contentBytes": "aGVsbG8="}]}}
    status, body, _ = await graph.call("POST", f"/v1.0/users/{sender}/sendMail", json=message)
    assert (status, body) == (202, None)
    sent = graph.state.sent_mail[-1]
    assert sent["sender"] == sender
    assert sent["attachments"][0]["size"] == 5
    message["message"]["toRecipients"] = []
    status, body, _ = await graph.call("POST", f"/v1.0/users/{sender}/sendMail", json=message)
    assert (status, body["error"]["code"]) == (400, "ErrorInvalidRecipients")
    message["message"]["toRecipients"] = [{"emailAddress": {"address": "a@northwind.example"}}]
    status, _, _ = await graph.call("POST", f"/v1.0/users/{sender}/sendMail", json={
        "Message": message["message"], "SaveToSentItems": False})
    assert status == 202, "parameter names are case-insensitive"
    assert graph.state.sent_mail[-1]["saveToSentItems"] is False
    for bad in ({**message, "urgent": True}, {**message, "saveToSentItems": "no"}):
        status, body, _ = await graph.call("POST", f"/v1.0/users/{sender}/sendMail", json=bad)
        assert (status, body["error"]["code"]) == (400, "BadRequest")
