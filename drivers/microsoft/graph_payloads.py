"""Command argument types, and the Graph request bodies and filters built from them.

The shapes follow the original PlaceOS driver's requests, with the deliberate
improvements: attendee names are sent, an all-day event without an end lasts one day, and
every OData string value is quote-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from typing_extensions import TypedDict

from .graph_request import odata_string
from .timezones import iana_name

__all__ = [
    "AttendeeArg",
    "AttendeeInput",
    "MailAttachment",
    "Recipients",
    "ResourceAttachment",
    "event_body",
    "mail_body",
    "one_or_many",
    "parse_attendees",
    "recipient_list",
    "resolve_zone",
    "user_search_filter",
]


class MailAttachment(TypedDict):
    """A file attached to a message: ``content`` is base64."""

    file_name: str
    content: str


class ResourceAttachment(TypedDict):
    """An inline file referenced from HTML as ``cid:<content_id>``."""

    file_name: str
    content: str
    content_id: str


class AttendeeArg(TypedDict):
    """An attendee of ``create_event``."""

    email: str
    name: NotRequired[str | None]
    response_status: NotRequired[str | None]
    resource: NotRequired[bool | None]
    organizer: NotRequired[bool | None]


Recipients = str | list[str]

_WRITE_RESPONSE = {
    "needsAction": "notResponded",
    "accepted": "accepted",
    "tentative": "tentativelyAccepted",
    "declined": "declined",
}


@dataclass(frozen=True)
class AttendeeInput:
    """An attendee as a caller passes it to ``create_event``."""

    email: str
    name: str | None = None
    response_status: str | None = None
    resource: bool = False


def parse_attendees(value: Any) -> list[AttendeeInput]:
    """Attendees given as one email, a list of emails, or attendee objects (any mix)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str | Mapping) else list(value)
    attendees = []
    for item in items:
        if isinstance(item, str):
            if item.strip():
                attendees.append(AttendeeInput(email=item.strip()))
            continue
        if not isinstance(item, Mapping):
            raise ValueError(f"an attendee must be an email or an object, got {item!r}")
        email = str(item.get("email") or "").strip()
        if not email:
            raise ValueError(f"attendee without an email: {dict(item)!r}")
        attendees.append(AttendeeInput(
            email=email,
            name=str(item["name"]) if item.get("name") else None,
            response_status=item.get("response_status"),
            resource=bool(item.get("resource")),
        ))
    return attendees


def resolve_zone(name: str | None) -> ZoneInfo:
    """The zone for an IANA (or Windows) name; UTC for ``None``; ``ValueError`` if unknown."""
    if not name:
        return ZoneInfo("UTC")
    mapped = iana_name(name, default="")
    if not mapped:
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(mapped)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _graph_time(moment: datetime, zone_name: str) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M"), "timeZone": zone_name}


def event_body(
    *,
    title: str,
    event_start: int,
    event_end: int | None,
    description: str,
    attendees: Sequence[AttendeeInput],
    location: str | None,
    timezone: str | None,
    organizer: str,
    online_meeting_provider: str | None,
) -> dict[str, Any]:
    """The ``POST /users/{mailbox}/calendar/events`` body for ``create_event``."""
    zone = resolve_zone(timezone)
    zone_name = str(zone.key) if timezone else "UTC"
    start = datetime.fromtimestamp(event_start, UTC).astimezone(zone)
    all_day = event_end is None
    if all_day:
        start = start.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=zone)
    else:
        assert event_end is not None
        end = datetime.fromtimestamp(event_end, UTC).astimezone(zone)
    body: dict[str, Any] = {
        "start": _graph_time(start, zone_name),
        "end": _graph_time(end, zone_name),
        "showAs": "busy",
        "responseRequested": True,
        "isAllDay": all_day,
    }
    if online_meeting_provider:
        body["onlineMeetingProvider"] = online_meeting_provider
        body["isOnlineMeeting"] = True
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    graph_attendees = []
    for attendee in attendees:
        entry: dict[str, Any] = {
            "type": "resource" if attendee.resource else "required",
            "emailAddress": {"address": attendee.email, "name": attendee.name or attendee.email},
        }
        if attendee.response_status:
            response = _WRITE_RESPONSE.get(attendee.response_status, "notResponded")
            entry["status"] = {"response": response, "time": now}
        graph_attendees.append(entry)
    body["subject"] = title or ""
    body["attendees"] = graph_attendees
    body["sensitivity"] = "normal"
    body["body"] = {"content": description, "contentType": "HTML"}
    body["organizer"] = {"emailAddress": {"address": organizer, "name": organizer}}
    if location:
        place = {"displayName": location, "locationType": "default"}
        body["location"] = place
        body["locations"] = [place]
    else:
        rooms = [
            {"displayName": a.name or a.email, "locationEmailAddress": a.email,
             "locationType": "conferenceRoom"}
            for a in attendees if a.resource
        ]
        if rooms:
            body["location"] = rooms[0]
        body["locations"] = rooms
    body["hideAttendees"] = False
    return body


def one_or_many(value: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
                ) -> list[Mapping[str, Any]]:
    """One object, or a list of them, as a list."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def recipient_list(value: str | Sequence[str] | None) -> list[str]:
    """A recipient argument (one address or several) as a list without blanks."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


def _recipients(addresses: list[str]) -> list[dict[str, Any]]:
    return [{"emailAddress": {"address": a, "name": a}} for a in addresses]


def mail_body(
    *,
    to: list[str],
    subject: str,
    message_plaintext: str | None,
    message_html: str | None,
    attachments: Sequence[Mapping[str, Any]],
    resource_attachments: Sequence[Mapping[str, Any]],
    cc: list[str],
    bcc: list[str],
) -> dict[str, Any]:
    """The ``POST /users/{sender}/sendMail`` body: HTML when given, else plain text."""
    if message_html and message_html.strip():
        content = {"contentType": "HTML", "content": message_html}
    else:
        content = {"contentType": "Text", "content": message_plaintext or ""}
    message: dict[str, Any] = {"subject": subject, "body": content}
    for key, addresses in (("toRecipients", to), ("ccRecipients", cc), ("bccRecipients", bcc)):
        if addresses:
            message[key] = _recipients(addresses)
    files = [
        {"@odata.type": "#microsoft.graph.fileAttachment", "name": item["file_name"],
         "contentBytes": item["content"]}
        for item in attachments
    ]
    files += [
        {"@odata.type": "#microsoft.graph.fileAttachment", "name": item["file_name"],
         "contentBytes": item["content"], "contentId": item["content_id"]}
        for item in resource_attachments
    ]
    message["attachments"] = files
    return {"message": message}


def user_search_filter(query: str | None) -> str:
    """The ``$filter`` of ``list_users``: enabled accounts whose names or mail start with
    every word of ``query``."""
    words = [word for word in (query or "").split() if word]
    if not words:
        return "accountEnabled eq true"
    clauses = []
    for word in words:
        value = odata_string(word)
        clauses.append(
            f"(startswith(displayName,{value}) or startswith(givenName,{value}) or "
            f"startswith(surname,{value}) or startswith(mail,{value}))"
        )
    return "(accountEnabled eq true) and " + " and ".join(clauses)
