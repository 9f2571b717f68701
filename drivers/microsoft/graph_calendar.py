"""Calendar and mail operations over Graph: events, calendars, sendMail.

A ``calendar_id`` here is a mailbox (email / UPN); requests address that mailbox's default
calendar, as the original driver does for app-only clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from drivers.calendar.models import Calendar, Event

from .errors import GraphError
from .graph_client import GraphClient
from .graph_mapping import map_calendar, map_event
from .graph_payloads import AttendeeInput, event_body, mail_body, resolve_zone
from .graph_request import path

__all__ = [
    "MAX_EVENTS",
    "create_event",
    "decline_event",
    "delete_event",
    "list_calendars",
    "list_events",
    "send_mail",
]

#: Upper bound on the events one ``list_events`` collects (the original asked for 10000).
MAX_EVENTS = 10_000
EVENT_PAGE_SIZE = 1000


def _graph_instant(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


async def list_events(
    client: GraphClient,
    calendar_id: str,
    period_start: int,
    period_end: int,
    *,
    time_zone: str | None = None,
    include_cancelled: bool = False,
) -> list[Event]:
    """Events of ``calendar_id``'s default calendar overlapping the period.

    Cancelled events (cancelled by the organiser, or declined by the mailbox) are left out
    unless ``include_cancelled``. With ``time_zone`` the events are presented in that zone
    (their ``timezone``), and all-day events span local midnights of that zone.
    """
    zone = resolve_zone(time_zone) if time_zone else None
    params = {
        "startDateTime": _graph_instant(period_start),
        "endDateTime": _graph_instant(period_end),
        "$top": EVENT_PAGE_SIZE,
    }
    url = path("users", calendar_id, "calendar", "calendarView")
    items = await client.get_all(url, params=params, limit=MAX_EVENTS)
    events = []
    for item in items:
        if zone is not None:
            item = _in_zone(item, str(zone.key))
        event = map_event(item, mailbox=calendar_id)
        if zone is not None:
            event.timezone = str(zone.key)
        if include_cancelled or event.status != "cancelled":
            events.append(event)
    return events


def _in_zone(item: dict[str, Any], zone_name: str) -> dict[str, Any]:
    """All-day events are floating dates: read their midnights in ``zone_name``."""
    if not item.get("isAllDay"):
        return item
    adjusted = dict(item)
    for key in ("start", "end"):
        value = item.get(key)
        if isinstance(value, dict):
            adjusted[key] = {**value, "timeZone": zone_name}
    return adjusted


async def create_event(
    client: GraphClient,
    *,
    calendar_id: str,
    title: str,
    event_start: int,
    event_end: int | None,
    description: str,
    attendees: Sequence[AttendeeInput],
    location: str | None,
    timezone: str | None,
    online_meeting_provider: str | None,
) -> Event:
    """Create an event in ``calendar_id``'s default calendar and return it as Graph stored it."""
    body = event_body(
        title=title,
        event_start=event_start,
        event_end=event_end,
        description=description,
        attendees=attendees,
        location=location,
        timezone=timezone,
        organizer=calendar_id,
        online_meeting_provider=online_meeting_provider,
    )
    url = path("users", calendar_id, "calendar", "events")
    response = await client.request("POST", url, body=body)
    return map_event(response.body or {}, mailbox=calendar_id)


async def delete_event(client: GraphClient, calendar_id: str, event_id: str) -> bool:
    """Delete an event (Graph notifies attendees when the mailbox organised it)."""
    await client.request("DELETE", path("users", calendar_id, "calendar", "events", event_id))
    return True


async def decline_event(
    client: GraphClient, calendar_id: str, event_id: str, *, notify: bool, comment: str | None
) -> bool:
    """Decline an event; when Graph refuses (the mailbox organised it), cancel it instead."""
    base = path("users", calendar_id, "calendar", "events", event_id)
    try:
        await client.request("POST", base + "/decline",
                             body={"sendResponse": notify, "comment": comment})
        return True
    except GraphError as decline_error:
        cancel_body = {"comment": comment} if comment is not None else None
        try:
            await client.request("POST", base + "/cancel", body=cancel_body)
        except GraphError as cancel_error:
            raise cancel_error from decline_error
    return True


async def list_calendars(client: GraphClient, user_id: str) -> list[Calendar]:
    """The calendars of a mailbox."""
    mailbox = user_id.lower()
    items = await client.get_all(path("users", mailbox, "calendars"), limit=MAX_EVENTS)
    return [map_calendar(item, mailbox=mailbox) for item in items]


async def send_mail(
    client: GraphClient,
    *,
    sender: str,
    to: list[str],
    subject: str,
    message_plaintext: str | None,
    message_html: str | None,
    attachments: Sequence[Mapping[str, Any]],
    resource_attachments: Sequence[Mapping[str, Any]],
    cc: list[str],
    bcc: list[str],
) -> bool:
    """Send a message from ``sender``'s mailbox."""
    body = mail_body(to=to, subject=subject, message_plaintext=message_plaintext,
                     message_html=message_html, attachments=attachments,
                     resource_attachments=resource_attachments, cc=cc, bcc=bcc)
    await client.request("POST", path("users", sender, "sendMail"), body=body)
    return True
