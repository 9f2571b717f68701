"""Normalised calendar objects shared by every calendar driver.

These mirror PlaceOS's ``PlaceCalendar`` models so that a driver's output has the same field
names, field order and JSON rules whatever the vendor behind it:

* fields are serialised in declaration order;
* a field whose value is ``None`` is left out of the JSON (``to_json()``, and the runtime's
  ``model_dump(mode="json", exclude_none=True)`` of a returned model, both do this);
* ``event_start``, ``event_end``, ``range_start`` and ``range_end`` are integer Unix seconds;
* ``created`` and ``updated`` are RFC 3339 strings in UTC without fractional seconds
  (``"2020-08-31T04:20:56Z"``);
* list fields (``attendees``, ``attachments``, ``online_meeting_phones``, ``days_of_week``)
  are always present, empty when there is nothing to report.

A vendor driver builds these from its own API objects (``drivers/microsoft/graph_mapping.py``
for Microsoft Graph) and returns them, or their ``to_json()``, from its commands.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

__all__ = [
    "Attachment",
    "Attendee",
    "Calendar",
    "CalendarModel",
    "Event",
    "Group",
    "Member",
    "Recurrence",
    "User",
    "format_rfc3339",
]


def format_rfc3339(value: datetime) -> str:
    """Format a time as RFC 3339 in UTC without a fraction, e.g. ``2022-12-18T23:58:18Z``.

    A naive datetime is taken to be UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CalendarModel(BaseModel):
    """Base of the normalised models: declaration order is JSON order, ``None`` is omitted."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict PlaceOS clients receive (``None`` fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)


class Attendee(CalendarModel):
    """A person or resource invited to an event.

    ``response_status`` is one of ``needsAction``, ``accepted``, ``tentative``, ``declined``.
    ``resource`` is true for rooms and equipment. ``organizer`` is set only by vendors that
    mark the organiser inside the attendee list (Microsoft Graph never does).
    """

    name: str
    email: str
    response_status: str | None = None
    resource: bool | None = None
    organizer: bool | None = None


class Recurrence(CalendarModel):
    """The repeat rule of a series.

    ``pattern`` is ``daily``, ``weekly``, ``monthly`` (relative, e.g. "second Tuesday"),
    ``month_day`` (absolute day of month), ``absoluteyearly`` or ``relativeyearly``.
    ``days_of_week`` holds lower-case English day names.
    """

    range_start: int
    range_end: int
    interval: int
    pattern: str
    days_of_week: list[str] = []


class Attachment(CalendarModel):
    """A file attached to an event or message; ``content_bytes`` is base64."""

    id: str | None = None
    name: str
    content_type: str | None = None
    content_bytes: str
    size: int | None = None


class Event(CalendarModel):
    """A calendar event (a single event, an occurrence of a series, or a series master).

    ``timezone`` is the IANA name of the zone the event is presented in. ``recurring`` is true
    when ``recurrence`` describes the series; occurrences returned by a calendar view usually
    carry only ``recurring_event_id``. ``status`` is ``confirmed``, ``tentative`` or
    ``cancelled`` (absent when the mailbox owner has not responded). ``visibility`` is
    ``normal``, ``personal``, ``public``, ``private`` or ``confidential``. ``mailbox`` is the
    mailbox the event was read from or written to.
    """

    event_start: int
    event_end: int | None = None
    id: str | None = None
    recurring_event_id: str | None = None
    host: str | None = None
    title: str | None = None
    body: str | None = None
    attendees: list[Attendee] = []
    hide_attendees: bool = False
    location: str | None = None
    private: bool = False
    all_day: bool = False
    timezone: str | None = None
    recurring: bool = False
    created: datetime | None = None
    updated: datetime | None = None
    attachments: list[Attachment] = []
    recurrence: Recurrence | None = None
    status: str | None = None
    creator: str | None = None
    ical_uid: str | None = None
    online_meeting_provider: str | None = None
    online_meeting_phones: list[str] = []
    online_meeting_url: str | None = None
    online_meeting_sip: str | None = None
    online_meeting_pin: str | None = None
    online_meeting_id: str | None = None
    extended_properties: dict[str, Any] | None = None
    visibility: str | None = None
    mailbox: str | None = None

    @field_validator("created", "updated")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(microsecond=0)

    @field_serializer("created", "updated")
    def _rfc3339(self, value: datetime | None) -> str | None:
        return None if value is None else format_rfc3339(value)


class User(CalendarModel):
    """A directory user.

    ``suspended`` is true when the account is disabled. ``unmapped`` carries vendor fields that
    have no normalised counterpart. ``next_page`` is set on the first element of a list when
    the vendor has more results to page through.
    """

    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    department: str | None = None
    title: str | None = None
    photo: str | None = None
    username: str | None = None
    office_location: str | None = None
    suspended: bool | None = None
    unmapped: dict[str, Any] | None = None
    next_page: str | None = None


class Member(CalendarModel):
    """A member of a group (same conventions as ``User``)."""

    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    username: str | None = None
    suspended: bool | None = None
    unmapped: dict[str, Any] | None = None
    next_page: str | None = None


class Group(CalendarModel):
    """A directory group."""

    id: str
    name: str | None = None
    email: str | None = None
    description: str | None = None


class Calendar(CalendarModel):
    """A calendar a user can see.

    ``id`` is the owner's mailbox address (what the event commands take as ``calendar_id``);
    ``ref`` is the vendor's own calendar id.
    """

    id: str
    ref: str | None = None
    summary: str | None = None
    primary: bool = False
    can_edit: bool = False
