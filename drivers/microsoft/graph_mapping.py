"""Microsoft Graph JSON -> the normalised calendar models (``drivers.calendar.models``).

The rules follow PlaceOS's ``place_calendar`` Office 365 normaliser, so
output field values match the original driver's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from drivers.calendar.models import Attendee, Calendar, Event, Group, Member, Recurrence, User

from .timezones import iana_name, zone

__all__ = [
    "USER_FIELDS",
    "map_attendee",
    "map_calendar",
    "map_event",
    "map_group",
    "map_member",
    "map_recurrence",
    "map_user",
    "parse_date_time_time_zone",
    "parse_instant",
]

USER_FIELDS = (
    "id",
    "userPrincipalName",
    "surname",
    "preferredLanguage",
    "officeLocation",
    "mobilePhone",
    "mail",
    "jobTitle",
    "givenName",
    "displayName",
    "businessPhones",
    "accountEnabled",
    "mailNickname",
)
_USER_FIELD_SET = frozenset(USER_FIELDS)

_ATTENDEE_RESPONSE = {
    "none": "needsAction",
    "organizer": "accepted",
    "tentativelyaccepted": "tentative",
    "accepted": "accepted",
    "declined": "declined",
    "notresponded": "needsAction",
}
_EVENT_STATUS = {
    "accepted": "confirmed",
    "organizer": "confirmed",
    "tentativelyaccepted": "tentative",
    "declined": "cancelled",
}
_PATTERN = {"absolutemonthly": "month_day", "relativemonthly": "monthly"}
_INSTANT = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_instant(value: str | None) -> datetime | None:
    """Parse a Graph timestamp (``2017-04-15T03:00:50.7579581Z``); no offset means UTC."""
    if not value:
        return None
    match = _INSTANT.match(value.strip())
    if match is None:
        return None
    day, hour, minute, second, offset = match.groups()
    text = f"{day}T{hour}:{minute}:{second or '00'}"
    if offset and offset != "Z":
        text += offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
        return datetime.fromisoformat(text)
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def parse_date_time_time_zone(value: Any) -> datetime | None:
    """A Graph ``dateTimeTimeZone`` (``{"dateTime": ..., "timeZone": ...}``) as an aware time.

    Read to the minute (seconds and fractions are ignored, as the original driver does) and
    placed in ``timeZone`` (Windows names translated; unknown names mean UTC).
    """
    if not isinstance(value, dict) or not value.get("dateTime"):
        return None
    text = str(value["dateTime"])[:16]
    try:
        wall = datetime.strptime(text, "%Y-%m-%dT%H:%M")
    except ValueError:
        return None
    return wall.replace(tzinfo=zone(value.get("timeZone")))


def map_attendee(graph: dict[str, Any]) -> Attendee | None:
    """One Graph attendee; ``None`` for an attendee without an email address."""
    address_info = graph.get("emailAddress") or {}
    address = address_info.get("address")
    if not address:
        return None
    email = str(address).lower()
    status = graph.get("status")
    response_status = None
    if isinstance(status, dict):
        response = str(status.get("response") or "none").lower()
        response_status = _ATTENDEE_RESPONSE.get(response, "needsAction")
    return Attendee(
        name=address_info.get("name") or email,
        email=email,
        response_status=response_status,
        resource=graph.get("type") == "resource",
    )


def map_recurrence(graph: Any) -> Recurrence | None:
    """A Graph ``patternedRecurrence``; ``None`` unless it has both a pattern and a range."""
    if not isinstance(graph, dict):
        return None
    pattern, range_ = graph.get("pattern"), graph.get("range")
    if not isinstance(pattern, dict) or not isinstance(range_, dict):
        return None
    tz_name = range_.get("recurrenceTimeZone")
    kind = str(pattern.get("type") or "").lower()
    return Recurrence(
        range_start=_midnight_epoch(range_.get("startDate"), tz_name),
        range_end=_midnight_epoch(range_.get("endDate"), tz_name),
        interval=int(pattern.get("interval") or 1),
        pattern=_PATTERN.get(kind, kind),
        days_of_week=[str(day).lower() for day in pattern.get("daysOfWeek") or []],
    )


def map_event(graph: dict[str, Any], mailbox: str | None = None) -> Event:
    """One Graph event (from ``calendarView``, ``events`` or a create response)."""
    start = parse_date_time_time_zone(graph.get("start")) or datetime.now(UTC)
    end = parse_date_time_time_zone(graph.get("end"))
    organizer = ((graph.get("organizer") or {}).get("emailAddress") or {}).get("address")
    sensitivity = str(graph.get("sensitivity") or "normal").lower()
    is_private = sensitivity in ("private", "confidential")
    recurrence = map_recurrence(graph.get("recurrence"))
    attendees = [a for a in map(map_attendee, graph.get("attendees") or []) if a is not None]
    timezone = iana_name(graph.get("originalStartTimeZone")
                         or (graph.get("start") or {}).get("timeZone"))
    raw_meeting = graph.get("onlineMeeting")
    meeting: dict[str, Any] = raw_meeting if isinstance(raw_meeting, dict) else {}
    return Event(
        event_start=int(start.timestamp()),
        event_end=int(end.timestamp()) if end is not None else None,
        id=graph.get("id"),
        recurring_event_id=graph.get("seriesMasterId"),
        host=organizer,
        title=graph.get("subject"),
        body=(graph.get("body") or {}).get("content"),
        attendees=attendees,
        hide_attendees=bool(graph.get("hideAttendees")),
        location=_location(graph),
        private=is_private,
        all_day=bool(graph.get("isAllDay")),
        timezone=timezone,
        recurring=recurrence is not None,
        created=parse_instant(graph.get("createdDateTime")),
        updated=parse_instant(graph.get("lastModifiedDateTime")),
        recurrence=recurrence,
        status=_event_status(graph),
        creator=organizer,
        ical_uid=graph.get("iCalUId"),
        online_meeting_provider=graph.get("onlineMeetingProvider"),
        online_meeting_phones=_meeting_phones(meeting),
        online_meeting_url=meeting.get("joinUrl") or graph.get("onlineMeetingUrl"),
        online_meeting_id=meeting.get("conferenceId"),
        visibility=sensitivity,
        mailbox=mailbox,
    )


def map_user(graph: dict[str, Any], next_page: str | None = None) -> User:
    """A Graph user (or a manager object read with the user model)."""
    return User(
        id=str(graph.get("id", "")),
        name=graph.get("displayName"),
        email=graph.get("mail") or graph.get("userPrincipalName"),
        phone=_user_phone(graph),
        title=graph.get("jobTitle"),
        username=graph.get("userPrincipalName"),
        office_location=graph.get("officeLocation"),
        suspended=not graph.get("accountEnabled", False),
        unmapped=_unmapped(graph),
        next_page=next_page,
    )


def map_member(graph: dict[str, Any], next_page: str | None = None) -> Member:
    """A Graph group member (a user)."""
    return Member(
        id=str(graph.get("id", "")),
        name=graph.get("displayName"),
        email=graph.get("mail") or graph.get("userPrincipalName"),
        phone=graph.get("mobilePhone") or None,
        username=graph.get("userPrincipalName"),
        suspended=not graph.get("accountEnabled", False),
        unmapped=_unmapped(graph),
        next_page=next_page,
    )


def map_group(graph: dict[str, Any]) -> Group:
    """A Graph group."""
    return Group(
        id=str(graph.get("id", "")),
        name=graph.get("displayName"),
        email=graph.get("mail") or None,
        description=graph.get("description") or None,
    )


def map_calendar(graph: dict[str, Any], mailbox: str | None = None) -> Calendar:
    """A Graph calendar of ``mailbox``."""
    owner = (graph.get("owner") or {}).get("address")
    return Calendar(
        id=owner or (mailbox.lower() if mailbox else None) or str(graph.get("id", "")),
        ref=graph.get("id"),
        summary=graph.get("name"),
        primary=bool(graph.get("isDefaultCalendar")),
        can_edit=bool(graph.get("canEdit")),
    )


def _location(graph: dict[str, Any]) -> str | None:
    location = graph.get("location")
    if isinstance(location, dict) and location.get("displayName") is not None:
        return str(location["displayName"])
    for item in graph.get("locations") or []:
        if isinstance(item, dict) and item.get("displayName") is not None:
            return str(item["displayName"])
    return None


def _event_status(graph: dict[str, Any]) -> str | None:
    if graph.get("isCancelled"):
        return "cancelled"
    response = ((graph.get("responseStatus") or {}).get("response") or "").lower()
    return _EVENT_STATUS.get(response)


def _meeting_phones(meeting: dict[str, Any]) -> list[str]:
    numbers: list[Any] = [meeting.get("quickDial"), *(meeting.get("tollFreeNumbers") or []),
                          meeting.get("tollNumber")]
    return [str(number) for number in numbers if number]


def _user_phone(graph: dict[str, Any]) -> str | None:
    mobile = graph.get("mobilePhone")
    if isinstance(mobile, str) and mobile.strip():
        return mobile
    phones = graph.get("businessPhones") or []
    return str(phones[0]) if phones else None


def _unmapped(graph: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in graph.items() if key not in _USER_FIELD_SET}


def _midnight_epoch(date: Any, tz_name: str | None) -> int:
    """Unix seconds of ``YYYY-MM-DD`` 00:00 in ``tz_name`` (UTC if unknown)."""
    try:
        day = datetime.strptime(str(date)[:10], "%Y-%m-%d")
    except ValueError:
        return 0
    try:
        return int(day.replace(tzinfo=zone(tz_name)).timestamp())
    except (OverflowError, ValueError):
        return int(day.replace(tzinfo=UTC).timestamp())
