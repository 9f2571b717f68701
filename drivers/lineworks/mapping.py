"""LINE WORKS events and calendars <-> the shared normalised calendar models.

Reading (``event_from_lineworks``): ``summary`` -> title, ``description`` -> body,
``organizer.email`` -> host and creator, ``start``/``end`` -> Unix seconds (``date`` = all-day,
end exclusive), ``attendees`` with ``partstat`` -> response status, ``visibility`` PRIVATE ->
private, ``recurrence`` RRULE -> Recurrence, ``videoMeeting.url`` -> online meeting URL.
Writing (``event_component``): the reverse, as one element of ``eventComponents``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from drivers.calendar.models import Attendee, Calendar, Event
from drivers.lineworks.errors import LineWorksValidationError
from drivers.lineworks.recurrence import recurrence_from_lines
from drivers.lineworks.timerange import (
    local_date,
    local_wall_time,
    next_day,
    parse_moment,
    parse_timestamp,
    resolve_zone,
    zone_or_utc,
)
from drivers.lineworks.validation import check_event_component

__all__ = [
    "attendee_from_lineworks",
    "calendar_from_personal",
    "event_component",
    "event_from_lineworks",
]

PARTSTAT_TO_RESPONSE = {
    "NEEDS-ACTION": "needsAction",
    "ACCEPTED": "accepted",
    "TENTATIVE": "tentative",
    "DECLINED": "declined",
}
RESPONSE_TO_PARTSTAT = {value: key for key, value in PARTSTAT_TO_RESPONSE.items()}
PARTSTAT_TO_EVENT_STATUS = {"ACCEPTED": "confirmed", "TENTATIVE": "tentative",
                            "DECLINED": "cancelled"}


def _address(value: str) -> str:
    return value.lower() if "@" in value else value


def attendee_from_lineworks(attendee: dict[str, Any]) -> Attendee | None:
    """A normalised attendee; a resource without an email is reported by its resource id."""
    is_resource = bool(attendee.get("isResource"))
    address = attendee.get("email") or (attendee.get("id") if is_resource else None)
    if not address:
        return None
    address = _address(str(address))
    partstat = attendee.get("partstat")
    return Attendee(
        name=str(attendee.get("displayName") or address),
        email=address,
        response_status=PARTSTAT_TO_RESPONSE.get(partstat, "needsAction") if partstat else None,
        resource=is_resource,
    )


def _owner_status(component: dict[str, Any], owner: str | None) -> str | None:
    if not owner:
        return None
    owner_key = owner.casefold()
    organizer = (component.get("organizer") or {}).get("email")
    if isinstance(organizer, str) and organizer.casefold() == owner_key:
        return "confirmed"
    for attendee in component.get("attendees") or []:
        if str(attendee.get("email") or "").casefold() == owner_key:
            return PARTSTAT_TO_EVENT_STATUS.get(attendee.get("partstat"))
    return None


def event_from_lineworks(component: dict[str, Any], *, mailbox: str | None = None) -> Event:
    """One ``eventComponents`` element as a normalised Event read from ``mailbox``."""
    start, all_day = parse_moment(component.get("start"))
    end, _ = parse_moment(component.get("end"))
    if start is None:
        start = datetime.now(UTC)
    zone_name = (component.get("start") or {}).get("timeZone") or "UTC"
    organizer = (component.get("organizer") or {}).get("email") or None
    attendees = [mapped for mapped in
                 (attendee_from_lineworks(a) for a in component.get("attendees") or [])
                 if mapped is not None]
    rules = component.get("recurrence") or []
    private = component.get("visibility") == "PRIVATE"
    return Event(
        event_start=int(start.timestamp()),
        event_end=None if end is None else int(end.timestamp()),
        id=component.get("eventId"),
        recurring_event_id=component.get("recurringEventId"),
        host=organizer,
        title=component.get("summary"),
        body=component.get("description"),
        attendees=attendees,
        location=component.get("location"),
        private=private,
        all_day=all_day,
        timezone=zone_name,
        recurring=any(isinstance(r, str) and r.upper().startswith("RRULE:") for r in rules),
        created=parse_timestamp(component.get("createdTime")),
        updated=parse_timestamp(component.get("updatedTime")),
        recurrence=recurrence_from_lines(rules, start, zone_or_utc(zone_name)),
        status=_owner_status(component, mailbox),
        creator=organizer,
        online_meeting_url=(component.get("videoMeeting") or {}).get("url") or None,
        visibility="private" if private else "normal",
        mailbox=mailbox,
    )


def _attendee_out(index: int, attendee: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(attendee, str):
        attendee = {"email": attendee.strip()}
    if not isinstance(attendee, dict):
        raise LineWorksValidationError(f"attendees[{index}] must be an email or an object")
    email = attendee.get("email")
    if not isinstance(email, str) or not email.strip():
        raise LineWorksValidationError(f"attendees[{index}].email is required")
    name = attendee.get("name")
    if attendee.get("resource"):
        out: dict[str, Any] = {"id": email, "isResource": True}
    else:
        out = {"email": email}
    if name:
        out["displayName"] = str(name)
    response = attendee.get("response_status")
    if response:
        out["partstat"] = RESPONSE_TO_PARTSTAT.get(str(response), "NEEDS-ACTION")
    return out


def event_component(
    *,
    title: str,
    event_start: int,
    event_end: int | None,
    description: str = "",
    attendees: Sequence[dict[str, Any] | str] | str = (),
    location: str | None = None,
    timezone: str | None = None,
    online_meeting_url: str | None = None,
) -> dict[str, Any]:
    """The LINE WORKS Event for a new event; no end means an all-day event of one day.

    Attendees are emails or ``{name, email, response_status?, resource?}`` objects.
    """
    zone, zone_name = resolve_zone(timezone)
    if isinstance(attendees, str):
        attendees = [attendees]
    if event_end is None:
        day = local_date(event_start, zone)
        start: dict[str, Any] = {"date": day.isoformat()}
        end: dict[str, Any] = {"date": next_day(day).isoformat()}
    else:
        if event_end <= event_start:
            raise LineWorksValidationError(
                f"event_end must be after event_start (got {event_start} .. {event_end})")
        start = {"dateTime": local_wall_time(event_start, zone), "timeZone": zone_name}
        end = {"dateTime": local_wall_time(event_end, zone), "timeZone": zone_name}
    component: dict[str, Any] = {"summary": title, "start": start, "end": end}
    if description:
        component["description"] = description
    if location:
        component["location"] = location
    if attendees:
        component["attendees"] = [_attendee_out(i, a) for i, a in enumerate(attendees)]
    if online_meeting_url:
        component["videoMeeting"] = {"url": online_meeting_url}
    check_event_component(component)
    return component


def calendar_from_personal(personal: dict[str, Any], *, default_calendar_id: str | None
                           ) -> Calendar:
    """A calendar-personals entry as a normalised Calendar (``id`` = LINE WORKS calendarId).

    ``primary`` marks the user's default calendar. calendar-personals does not report the
    user's role, so ``can_edit`` is only known (true) for the default calendar.
    """
    calendar_id = str(personal.get("calendarId"))
    primary = calendar_id == default_calendar_id
    return Calendar(id=calendar_id, ref=calendar_id, summary=personal.get("calendarName"),
                    primary=primary, can_edit=primary)
